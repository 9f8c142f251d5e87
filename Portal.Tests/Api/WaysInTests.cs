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
}
