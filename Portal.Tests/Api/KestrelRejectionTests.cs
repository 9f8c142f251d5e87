using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using Portal.Web.Apis;
using static Portal.Tests.Api.Http;

namespace Portal.Tests.Api;

/// <summary>
/// Requests Kestrel refuses before any middleware runs still get the E2B error body, with the
/// fast path on and off, first on a connection or after a good request on the same one.
/// </summary>
public class KestrelRejectionTests
{
    public static TheoryData<string, int> Refused => new()
    {
        { "GET /" + new string('a', 20_000) + " HTTP/1.1\r\nHost: localhost\r\n\r\n", 414 },
        { "GET /health HTTP/1.1\r\nHost: localhost\r\nX-Big: " + new string('a', 40_000) + "\r\n\r\n", 431 },
        { "GET /sandboxes/%00x HTTP/1.1\r\nHost: localhost\r\n\r\n", 400 },
        { "GET /health HTTP/1.1\r\nHost: localhost\r\nNo colon here\r\n\r\n", 400 },
        { "GARBAGE\r\n\r\n", 400 },
        { "GET /health HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", 400 },
    };

    [Theory]
    [MemberData(nameof(Refused))]
    public async Task Refusals_CarryTheErrorBody(string request, int status)
    {
        foreach (var fastPath in new[] { true, false })
        {
            await using var host = await PortalHost.StartAsync(config: new Dictionary<string, string?> { ["Portal:Proxy:FastPath"] = fastPath.ToString() });
            var (head, body) = await ExchangeAsync(host, Encoding.ASCII.GetBytes(request));
            Assert.StartsWith($"HTTP/1.1 {status} ", head);
            Assert.Contains("Content-Type: application/json", head);
            var json = JsonNode.Parse(body)!;
            Assert.Equal(status, (int)json["code"]!);
            // With the fast path on, its strict parser may refuse the head first, with its own words.
            if (fastPath) Assert.False(string.IsNullOrWhiteSpace((string?)json["message"]));
            else Assert.Equal(KestrelRejections.Message(status), (string)json["message"]!);
        }
    }

    [Fact]
    public async Task RefusalAfterAGoodRequest_OnTheSameConnection_CarriesTheErrorBody()
    {
        foreach (var fastPath in new[] { true, false })
        {
            await using var host = await PortalHost.StartAsync(config: new Dictionary<string, string?> { ["Portal:Proxy:FastPath"] = fastPath.ToString() });
            var bytes = Encoding.ASCII.GetBytes("GET /health HTTP/1.1\r\nHost: localhost\r\n\r\nGET /%00 HTTP/1.1\r\nHost: localhost\r\n\r\n");
            var all = await ReadAllAsync(host, bytes);
            var second = all.IndexOf("HTTP/1.1 400 ", StringComparison.Ordinal);
            Assert.StartsWith("HTTP/1.1 200 ", all);
            Assert.Contains("{\"status\":\"ok\"}", all[..second]);
            Assert.True(second > 0, all);
            Assert.EndsWith($"{{\"code\":400,\"message\":\"{KestrelRejections.Message(400)}\"}}", all);
        }
    }

    [Fact]
    public async Task AnswersOfTheApplication_PassUnchanged()
    {
        // An empty 4xx written by the application (here a sandbox behind the proxy) is not Kestrel's own.
        await using var backend = await BackendServer.StartAsync();
        foreach (var fastPath in new[] { true, false })
        {
            await using var host = await PortalHost.StartAsync(config: new Dictionary<string, string?> { ["Portal:Proxy:FastPath"] = fastPath.ToString() });
            host.Runtime.Backends[Portal.Core.Runtime.SandboxPorts.Envd] = backend.Port;
            var id = (string)(await host.Admin.CreateSandboxAsync())["sandboxID"]!;
            var all = await ReadAllAsync(host, Encoding.ASCII.GetBytes($"GET /empty404 HTTP/1.1\r\nHost: localhost\r\nE2b-Sandbox-Id: {id}\r\nE2b-Sandbox-Port: 49983\r\nConnection: close\r\n\r\n"));
            Assert.StartsWith("HTTP/1.1 404 ", all);
            Assert.DoesNotContain("\"code\"", all);
        }
    }

    [Fact]
    public async Task OnHttpsEndpoints_RefusalsCarryTheErrorBodyToo()
    {
        var dir = Directory.CreateTempSubdirectory("portal-tls-").FullName;
        try
        {
            var files = Portal.Web.Tls.CertificateGenerator.Generate("sbx.test", dir);
            await using var host = await PortalHost.StartAsync(config: new Dictionary<string, string?>
            {
                ["urls"] = "https://127.0.0.1:0",
                ["Portal:Tls:CertificatePath"] = files.Cert,
                ["Portal:Tls:KeyPath"] = files.Key,
            });
            Assert.Equal("https", host.BaseAddress.Scheme);
            using var tcp = new TcpClient();
            await tcp.ConnectAsync(host.BaseAddress.Host, host.BaseAddress.Port, Ct);
            await using var ssl = new System.Net.Security.SslStream(tcp.GetStream(), false, (_, _, _, _) => true);
            await ssl.AuthenticateAsClientAsync(new System.Net.Security.SslClientAuthenticationOptions { TargetHost = "api.sbx.test" }, Ct);
            // A good request first (the API answers through TLS as before), then a refused one.
            await ssl.WriteAsync(Encoding.ASCII.GetBytes("GET /health HTTP/1.1\r\nHost: api.sbx.test\r\n\r\nGET /" + new string('a', 20_000) + " HTTP/1.1\r\nHost: api.sbx.test\r\n\r\n"), Ct);
            var received = new MemoryStream();
            var buffer = new byte[8192];
            int n;
            try { while ((n = await ssl.ReadAsync(buffer, Ct)) > 0) received.Write(buffer, 0, n); }
            catch (IOException) { }
            var all = Encoding.ASCII.GetString(received.ToArray());
            Assert.StartsWith("HTTP/1.1 200 ", all);
            Assert.Contains("HTTP/1.1 414 ", all);
            Assert.EndsWith($"{{\"code\":414,\"message\":\"{KestrelRejections.Message(414)}\"}}", all);
        }
        finally { Directory.Delete(dir, true); }
    }

    private static async Task<(string Head, string Body)> ExchangeAsync(PortalHost host, byte[] request)
    {
        var all = await ReadAllAsync(host, request);
        var end = all.IndexOf("\r\n\r\n", StringComparison.Ordinal);
        Assert.True(end > 0, all);
        return (all[..end], all[(end + 4)..]);
    }

    /// <summary>Sends the bytes and reads until the portal closes the connection (every refusal closes it).</summary>
    private static async Task<string> ReadAllAsync(PortalHost host, byte[] request)
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(host.BaseAddress.Host, host.BaseAddress.Port, Ct);
        var stream = tcp.GetStream();
        try { await stream.WriteAsync(request, Ct); }
        catch (IOException) { } // the portal may refuse and close before it read everything
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(20));
        var received = new MemoryStream();
        var buffer = new byte[8192];
        try
        {
            int n;
            while ((n = await stream.ReadAsync(buffer, timeout.Token)) > 0) received.Write(buffer, 0, n);
        }
        catch (IOException) { } // reset after the answer: what arrived is what counts
        return Encoding.ASCII.GetString(received.ToArray());
    }
}
