using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;

namespace Portal.Core.Webhooks;

/// <summary>
/// E2B's webhook signature (version <c>v1</c>): URL-safe base64 without padding of
/// SHA-256(secret + body), a plain hash over the secret's UTF-8 bytes followed by the raw body
/// bytes as sent. It is not an HMAC; receivers written for E2B check exactly this.
/// </summary>
public static class WebhookSignature
{
    public const string Version = "v1";

    public static string Compute(string secret, ReadOnlySpan<byte> body)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hash.AppendData(Encoding.UTF8.GetBytes(secret));
        hash.AppendData(body);
        return Base64Url.EncodeToString(hash.GetHashAndReset());
    }
}
