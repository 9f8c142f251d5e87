using System.Text;
using Portal.Core.Webhooks;

namespace Portal.Tests.Webhooks;

public class WebhookSignatureTests
{
    [Fact]
    public void E2bTestVector()
    {
        // E2B's published example: a plain SHA-256 over secret + body, URL-safe base64 without padding.
        const string body = """{"version":"v2","id":"0568572b-a2ac-4e5f-85fa-fae90905f556","type":"sandbox.lifecycle.created"}""";
        Assert.Equal("ndXwWOc-xmXmUe2h_v5f7qUHMEucr5BuHaqiBvG2HjE", WebhookSignature.Compute("whsec-test", Encoding.UTF8.GetBytes(body)));
    }

    [Fact]
    public void NotAnHmac_AndOverTheRawBytes()
    {
        var body = Encoding.UTF8.GetBytes("""{"a":"é"}""");
        var sig = WebhookSignature.Compute("secret-1", body);
        Assert.DoesNotContain('=', sig);
        Assert.DoesNotContain('+', sig);
        Assert.DoesNotContain('/', sig);
        var hmac = Convert.ToBase64String(System.Security.Cryptography.HMACSHA256.HashData(Encoding.UTF8.GetBytes("secret-1"), body));
        Assert.NotEqual(hmac.TrimEnd('=').Replace('+', '-').Replace('/', '_'), sig);
        Assert.NotEqual(sig, WebhookSignature.Compute("secret-2", body));
    }
}
