using Microsoft.Extensions.DependencyInjection;
using System.Text.Json.Nodes;
using Portal.Core.Runtime;
using static Portal.Tests.Api.Http;

namespace Portal.Tests.Api;

/// <summary>The RequestRouter wired into the portal: every way in reaches the same endpoints and sandboxes.</summary>
public class WaysInTests
{
    private static async Task<(PortalHost Host, BackendServer Backend)> StartAsync(string? domain)
    {
        var backend = await BackendServer.StartAsync();
        var host = await PortalHost.StartAsync(config: domain is null ? null : new Dictionary<string, string?> { ["Portal:Domain"] = domain });
        host.Runtime.Backends[SandboxPorts.Envd] = backend.Port;
        return (host, backend);
    }

    private static async Task<(int Status, JsonNode? Body)> GetAsync(HttpClient c, string url, string? hostHeader = null, string? key = null)
    {
        using var req = new HttpRequestMessage(HttpMethod.Get, url);
        if (hostHeader is not null) req.Headers.Host = hostHeader;
        if (key is not null) req.Headers.Add("X-API-Key", key);
        using var res = await c.SendAsync(req, Ct);
        var text = await res.Content.ReadAsStringAsync(Ct);
        return ((int)res.StatusCode, text.Length == 0 ? null : JsonNode.Parse(text));
    }

    [Fact]
    public async Task NativeHosts_ReachTheApiAndTheSandbox()
    {
        var (host, backend) = await StartAsync("sbx.test");
        await using var _ = host; await using var __ = backend;
        var created = await host.Admin.CreateSandboxAsync();
        var id = (string)created["sandboxID"]!;
        Assert.Equal("sbx.test", (string?)created["domain"]);
        var c = host.Client(null);

        var api = await GetAsync(c, $"/sandboxes/{id}", "api.sbx.test", PortalHost.AdminKey);
        Assert.Equal(200, api.Status);
        Assert.Equal("sbx.test", (string?)api.Body!["domain"]);

        var sbx = await GetAsync(c, "/echo?a=1", $"49983-{id}.sbx.test");
        Assert.Equal(200, sbx.Status);
        Assert.Equal("/echo", (string)sbx.Body!["path"]!);
        Assert.Equal("?a=1", (string)sbx.Body!["query"]!);

        var bad = await GetAsync(c, "/echo", $"notaport-{id}.sbx.test");
        AssertError(bad, 400);
        var misdirected = await GetAsync(c, "/health", "other.example");
        AssertError(misdirected, 421);
    }

    [Fact]
    public async Task PrivatePaths_StripThePrefix()
    {
        var (host, backend) = await StartAsync(null);
        await using var _ = host; await using var __ = backend;
        var created = await host.Admin.CreateSandboxAsync();
        var id = (string)created["sandboxID"]!;
        // No E2B_DOMAIN: the domain is the one the request came in under.
        Assert.Equal($"127.0.0.1:{host.BaseAddress.Port}", (string?)created["domain"]);
        var c = host.Client(null);

        var api = await GetAsync(c, $"/kruise/api/sandboxes/{id}", key: PortalHost.AdminKey);
        Assert.Equal(200, api.Status);
        var sbx = await GetAsync(c, $"/kruise/{id}/49983/echo?x=y%20z");
        Assert.Equal(200, sbx.Status);
        Assert.Equal("/echo", (string)sbx.Body!["path"]!);
        Assert.Equal("?x=y%20z", (string)sbx.Body!["query"]!);

        AssertError(await GetAsync(c, $"/kruise/{id}/0/echo"), 400);
        AssertError(await GetAsync(c, "/kruise/Bad-Id/49983/echo"), 400);
        AssertError(await GetAsync(c, $"/kruise/{id}/49983/%2e%2e/x"), 400);
    }

    [Fact]
    public async Task ExtraHost_ReachesTheApiAndTheSandbox_WhileOtherHostsGet421()
    {
        const string svc = "sandbox-manager.sandbox-system.svc.cluster.local";
        var backend = await BackendServer.StartAsync();
        var host = await PortalHost.StartAsync(config: new Dictionary<string, string?>
        {
            ["Portal:Domain"] = "sbx.example.com",
            ["Portal:Routing:ExtraHosts:0"] = svc,
        });
        host.Runtime.Backends[SandboxPorts.Envd] = backend.Port;
        await using var _ = host; await using var __ = backend;
        var id = (string)(await host.Admin.CreateSandboxAsync())["sandboxID"]!;
        var c = host.Client(null);

        var api = await GetAsync(c, $"/kruise/api/sandboxes/{id}", $"{svc}:7788", PortalHost.AdminKey);
        Assert.Equal(200, api.Status);
        var echo = await GetAsync(c, $"/kruise/{id}/49983/echo?q=1", $"{svc}:7788");
        Assert.Equal(200, echo.Status);
        Assert.Equal("/echo", (string?)echo.Body!["path"]);
        Assert.Equal(421, (await GetAsync(c, "/kruise/api/sandboxes", "other.sandbox-system.svc.cluster.local", PortalHost.AdminKey)).Status);
        Assert.Equal(421, (await GetAsync(c, "/health", $"49983-{id}.{svc}")).Status);
    }

    [Fact]
    public async Task MalformedExtraHost_StopsStartup_NamingTheKey()
    {
        var e = await Assert.ThrowsAnyAsync<Exception>(() => PortalHost.StartAsync(config: new Dictionary<string, string?>
        {
            ["Portal:Domain"] = "sbx.example.com",
            ["Portal:Routing:ExtraHosts:0"] = "http://sandbox-manager:7788",
        }));
        var text = e is Microsoft.Extensions.Options.OptionsValidationException ov ? string.Join("\n", ov.Failures) : e.ToString();
        Assert.Contains("Portal:Routing:ExtraHosts:0", text);
        Assert.Contains("http://sandbox-manager:7788", text);
    }
}

/// <summary>Portal:Tls wired into the portal: https:// URLs serve the certificate, /portal/config describes it.</summary>
public sealed class PortalTlsTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("portal-tls-wired-").FullName;

    [Fact]
    public async Task HttpsUrl_ServesTheCertificate_ForNativeHosts()
    {
        var files = Portal.Web.Tls.CertificateGenerator.Generate("sbx.test", _dir);
        var backend = await BackendServer.StartAsync();
        await using var __ = backend;
        await using var host = await PortalHost.StartAsync(config: new Dictionary<string, string?>
        {
            ["urls"] = "http://127.0.0.1:0;https://127.0.0.1:0",
            ["Portal:Domain"] = "sbx.test",
            ["Portal:Tls:CertificatePath"] = files.Cert,
            ["Portal:Tls:KeyPath"] = files.Key,
        });
        host.Runtime.Backends[SandboxPorts.Envd] = backend.Port;
        var https = host.Services.GetRequiredService<Microsoft.AspNetCore.Hosting.Server.IServer>()
            .Features.Get<Microsoft.AspNetCore.Hosting.Server.Features.IServerAddressesFeature>()!.Addresses
            .Select(a => new Uri(a)).Single(u => u.Scheme == "https");

        using var ca = System.Security.Cryptography.X509Certificates.X509Certificate2.CreateFromPem(File.ReadAllText(files.CaCert));
        using var handler = new SocketsHttpHandler
        {
            // *.sbx.test → the portal's loopback port, for this client only.
            ConnectCallback = async (_, ct) =>
            {
                var socket = new System.Net.Sockets.Socket(System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
                await socket.ConnectAsync(System.Net.IPAddress.Loopback, https.Port, ct);
                return new System.Net.Sockets.NetworkStream(socket, ownsSocket: true);
            },
            SslOptions = new System.Net.Security.SslClientAuthenticationOptions
            {
                RemoteCertificateValidationCallback = (_, cert, _, errors) =>
                {
                    if ((errors & System.Net.Security.SslPolicyErrors.RemoteCertificateNameMismatch) != 0 || cert is null) return false;
                    using var chain = new System.Security.Cryptography.X509Certificates.X509Chain();
                    chain.ChainPolicy.TrustMode = System.Security.Cryptography.X509Certificates.X509ChainTrustMode.CustomRootTrust;
                    chain.ChainPolicy.CustomTrustStore.Add(ca);
                    chain.ChainPolicy.RevocationMode = System.Security.Cryptography.X509Certificates.X509RevocationMode.NoCheck;
                    return chain.Build(new System.Security.Cryptography.X509Certificates.X509Certificate2(cert));
                },
            },
        };
        using var client = new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(30) };
        client.DefaultRequestHeaders.Add("X-API-Key", PortalHost.AdminKey);

        var config = JsonNode.Parse(await client.GetStringAsync($"https://api.sbx.test:{https.Port}/portal/config", Ct))!;
        Assert.Equal("sbx.test", (string?)config["domain"]);
        Assert.True((bool)config["tls"]!["enabled"]!);
        Assert.True((bool)config["tls"]!["certificate"]!["supportsNative"]!);
        Assert.Contains("native and private protocols", (string)config["tls"]!["certificate"]!["summary"]!);

        using var create = await client.PostAsync($"https://api.sbx.test:{https.Port}/v2/sandboxes", Json("""{"templateID":"base"}"""), Ct);
        Assert.Equal(201, (int)create.StatusCode);
        var id = (string)JsonNode.Parse(await create.Content.ReadAsStringAsync(Ct))!["sandboxID"]!;
        var echo = JsonNode.Parse(await client.GetStringAsync($"https://49983-{id}.sbx.test:{https.Port}/echo?q=1", Ct))!;
        Assert.Equal("/echo", (string)echo["path"]!);

        // HTTP/2 (ALPN h2, as browsers negotiate) through the same forwarder: no HTTP/1-only
        // headers leak into the h2 response, bodies without Content-Length go upstream chunked.
        using var h2Get = new HttpRequestMessage(HttpMethod.Get, $"https://49983-{id}.sbx.test:{https.Port}/echo?q=2")
        { Version = System.Net.HttpVersion.Version20, VersionPolicy = HttpVersionPolicy.RequestVersionExact };
        using var h2Echo = await client.SendAsync(h2Get, Ct);
        Assert.Equal(System.Net.HttpVersion.Version20, h2Echo.Version);
        Assert.Equal("?q=2", (string)JsonNode.Parse(await h2Echo.Content.ReadAsStringAsync(Ct))!["query"]!);
        using var h2Post = new HttpRequestMessage(HttpMethod.Post, $"https://49983-{id}.sbx.test:{https.Port}/files?path=x")
        {
            Version = System.Net.HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Content = new StreamContent(new UnsizedStream(new byte[100_000])),
        };
        using var h2Stored = await client.SendAsync(h2Post, Ct);
        Assert.Equal("stored 100000", await h2Stored.Content.ReadAsStringAsync(Ct));

        // Plain HTTP keeps working alongside; /portal/config needs a key.
        AssertError(await host.Client(null).GetJsonAsync("/portal/config"), 401);
    }

    [Fact]
    public async Task HalfConfiguredTls_StopsStartup_NamingTheKey()
    {
        var e = await Assert.ThrowsAnyAsync<Exception>(() => PortalHost.StartAsync(config: new Dictionary<string, string?>
        {
            ["Portal:Tls:CertificatePath"] = Path.Combine(_dir, "missing.pem"),
        }));
        var text = e is Microsoft.Extensions.Options.OptionsValidationException ov ? string.Join("\n", ov.Failures) : e.ToString();
        Assert.Contains("PORTAL_TLS_KEY", text);
        Assert.Contains("missing.pem", text);
    }

    public void Dispose() => Directory.Delete(_dir, true);
}

internal sealed class UnsizedStream(byte[] data) : MemoryStream(data)
{
    public override bool CanSeek => false;
    public override long Length => throw new NotSupportedException();
}
