using Portal.Web.Routing;

namespace Portal.Tests.Web.Routing;

/// <summary>The routing decision as a table: every way in, and every malformed attempt.</summary>
public class RequestRouterTests
{
    private const string Id = "i1a2b3c4d5e6f7g8h9j0";

    public static TheoryData<string?, string, string, string?, string?, string> Cases => new()
    {
        // domain, host, path, id header, port header, expected
        // Native protocol
        { "example.com", "api.example.com", "/v2/sandboxes", null, null, "local /v2/sandboxes NativeHost example.com" },
        { "example.com", "api.example.com:443", "/sandboxes?limit=1", null, null, "local /sandboxes?limit=1 NativeHost example.com" },
        { "example.com", $"49983-{Id}.example.com", "/health", null, null, $"sandbox {Id} 49983 /health NativeHost example.com" },
        { "example.com", $"49999-{Id}.EXAMPLE.com", "/execute", null, null, $"sandbox {Id} 49999 /execute NativeHost example.com" },
        // the host wins over crafted headers naming another sandbox
        { "example.com", $"49983-{Id}.example.com", "/health", "othersandbox", "22", $"sandbox {Id} 49983 /health NativeHost example.com" },
        // Domain with a port: host:port must match it
        { "your.domain.com:8080", "api.your.domain.com:8080", "/sandboxes", null, null, "local /sandboxes NativeHost your.domain.com:8080" },
        { "your.domain.com:8080", $"49983-{Id}.your.domain.com:8080", "/files?path=a", null, null, $"sandbox {Id} 49983 /files?path=a NativeHost your.domain.com:8080" },
        { "your.domain.com:8080", "api.your.domain.com:9090", "/sandboxes", null, null, "reject 421" },
        // No domain configured: taken from the host
        { null, "api.sbx.test:7788", "/sandboxes", null, null, "local /sandboxes NativeHost sbx.test:7788" },
        { null, $"8080-{Id}.sbx.test", "/", null, null, $"sandbox {Id} 8080 / NativeHost sbx.test" },
        { null, "portal.internal", "/sandboxes", null, null, "local /sandboxes Plain portal.internal" },
        // Private protocol
        { "example.com", "example.com", "/kruise/api/v2/sandboxes", null, null, "local /v2/sandboxes PrivatePath example.com" },
        { "example.com", "example.com", "/kruise/api", null, null, "local / PrivatePath example.com" },
        { "example.com", "example.com", $"/kruise/{Id}/49983/process.Process/Start", null, null, $"sandbox {Id} 49983 /process.Process/Start PrivatePath example.com" },
        { "example.com", "example.com", $"/kruise/{Id}/49983", null, null, $"sandbox {Id} 49983 / PrivatePath example.com" },
        { "example.com", "example.com", $"/kruise/{Id}/49983?x=1", null, null, $"sandbox {Id} 49983 /?x=1 PrivatePath example.com" },
        { "sandbox-manager.sandbox-system.svc.cluster.local", "sandbox-manager.sandbox-system.svc.cluster.local", $"/kruise/{Id}/49999/execute", null, null, $"sandbox {Id} 49999 /execute PrivatePath sandbox-manager.sandbox-system.svc.cluster.local" },
        // Header routing (localhost, IP literal, bare domain, sandbox.D)
        { "localhost", "localhost", "/health", Id, "49983", $"sandbox {Id} 49983 /health Headers localhost" },
        { "example.com", "127.0.0.1:7788", "/files?path=x", Id, "49983", $"sandbox {Id} 49983 /files?path=x Headers example.com" },
        { "example.com", "sandbox.example.com", "/health", Id, "49999", $"sandbox {Id} 49999 /health Headers example.com" },
        { null, "[::1]:7788", "/health", Id, "49983", $"sandbox {Id} 49983 /health Headers [::1]:7788" },
        // The portal itself
        { "example.com", "example.com", "/", null, null, "local / Plain example.com" },
        { "example.com", "127.0.0.1", "/sandboxes", null, null, "local /sandboxes Plain example.com" },
        { null, "localhost:7788", "/health", null, null, "local /health Plain localhost:7788" },

        // Malformed native hosts
        { "example.com", "49983-.example.com", "/", null, null, "reject 400" },
        { "example.com", $"abc-{Id}.example.com", "/", null, null, "reject 400" },
        { "example.com", $"0-{Id}.example.com", "/", null, null, "reject 400" },
        { "example.com", $"65536-{Id}.example.com", "/", null, null, "reject 400" },
        { "example.com", $"049983-{Id}.example.com", "/", null, null, "reject 400" },
        { "example.com", "49983-Abc.example.com", "/", null, null, "reject 400" },
        { "example.com", "49983-a-b.example.com", "/", null, null, "reject 400" },
        { "example.com", $"49983-{Id}.evil.example.com", "/", null, null, "reject 400" },
        { "example.com", "foo.example.com", "/", null, null, "reject 400" },
        // Hosts under another domain never reach a sandbox
        { "example.com", $"49983-{Id}.example.org", "/", null, null, "reject 421" },
        { "example.com", "example.com.evil.org", "/", Id, "49983", "reject 421" },
        { "example.com", "evilexample.com", "/kruise/api/sandboxes", null, null, "reject 421" },
        // Malformed private paths
        { "example.com", "example.com", "/kruise/", null, null, "reject 400" },
        { "example.com", "example.com", $"/kruise/{Id}/notaport/", null, null, "reject 400" },
        { "example.com", "example.com", $"/kruise/{Id}/", null, null, "reject 400" },
        { "example.com", "example.com", $"/kruise/{Id}/99999/", null, null, "reject 400" },
        { "example.com", "example.com", "/kruise/ABC/49983/", null, null, "reject 400" },
        { "example.com", "example.com", "/kruise/a-b/49983/", null, null, "reject 400" },
        { "example.com", "example.com", "/kruise/a.b/49983/", null, null, "reject 400" },
        // Dot segments and encoded slashes: no climbing out of a sandbox prefix
        { "example.com", "example.com", $"/kruise/{Id}/49983/../../other/49983/health", null, null, "reject 400" },
        { "example.com", "example.com", $"/kruise/{Id}/49983/%2e%2e/x", null, null, "reject 400" },
        { "example.com", "example.com", $"/kruise/{Id}%2F49983/health", null, null, "reject 400" },
        { "example.com", $"49983-{Id}.example.com", "/a/./b", null, null, "reject 400" },
        // A template name's encoded slash (the SDKs' namespace%2Fname) is allowed only into the portal's own API
        { "example.com", "example.com", "/templates/team%2Fsnap%3Adefault", null, null, "local /templates/team%2Fsnap%3Adefault Plain example.com" },
        { "example.com", "example.com", "/kruise/api/templates/team%2Fsnap", null, null, "local /templates/team%2Fsnap PrivatePath example.com" },
        { "example.com", "example.com", "/templates/team%2Fsnap", Id, "49983", "reject 400" },
        { "example.com", $"49983-{Id}.example.com", "/templates/a%2Fb", null, null, "reject 400" },
        { "example.com", "example.com", "/templates/../sandboxes%2Fx", null, null, "reject 400" },
        { "example.com", "example.com", "/sandboxes/a%2Fb", null, null, "reject 400" },
        { "example.com", "example.com", "relative", null, null, "reject 400" },
        // Crafted headers
        { "example.com", "example.com", "/health", "../etc", "49983", "reject 400" },
        { "example.com", "example.com", "/health", "ABC", "49983", "reject 400" },
        { "example.com", "example.com", "/health", "a.b", "49983", "reject 400" },
        { "example.com", "example.com", "/health", Id, "0", "reject 400" },
        { "example.com", "example.com", "/health", Id, "65536", "reject 400" },
        { "example.com", "example.com", "/health", Id, "80 ", "reject 400" },
        { "example.com", "example.com", "/health", Id, null, "reject 400" },
        { "example.com", "example.com", "/health", null, "49983", "reject 400" },
        { "example.com", "", "/health", null, null, "reject 400" },
        // envd's /init and the runtime's tunnel are the runtime's alone, however they are spelled
        { "example.com", $"49983-{Id}.example.com", "/init", null, null, "reject 403" },
        { "example.com", "example.com", $"/kruise/{Id}/49983/init", null, null, "reject 403" },
        { "example.com", "example.com", "/init", Id, "49983", "reject 403" },
        { "example.com", $"49983-{Id}.example.com", "/INIT", null, null, "reject 403" },
        { "example.com", $"49983-{Id}.example.com", "/init/", null, null, "reject 403" },
        { "example.com", $"49983-{Id}.example.com", "//init", null, null, "reject 403" },
        { "example.com", $"49983-{Id}.example.com", "/%69nit", null, null, "reject 403" },
        { "example.com", $"49983-{Id}.example.com", "/init?accessToken=x", null, null, "reject 403" },
        { "example.com", "example.com", $"/kruise/{Id}/49983//%49NIT/", null, null, "reject 403" },
        { "example.com", $"49983-{Id}.example.com", "/_portal/tunnel/22", null, null, "reject 403" },
        { "example.com", "example.com", "/%5Fportal/tunnel/22", Id, "49983", "reject 403" },
        // ... only on envd's port, and only that route
        { "example.com", $"8080-{Id}.example.com", "/init", null, null, $"sandbox {Id} 8080 /init NativeHost example.com" },
        { "example.com", $"49983-{Id}.example.com", "/init/x", null, null, $"sandbox {Id} 49983 /init/x NativeHost example.com" },
        { "example.com", $"49983-{Id}.example.com", "/initial", null, null, $"sandbox {Id} 49983 /initial NativeHost example.com" },
    };

    private const string Svc = "sandbox-manager.sandbox-system.svc.cluster.local";

    /// <summary>Portal:Routing:ExtraHosts (comma-separated here): more names for the portal itself, never native hosts.</summary>
    public static TheoryData<string?, string, string, string, string?, string?, string> ExtraHostCases => new()
    {
        // domain, extra hosts, host, path, id header, port header, expected
        // The in-cluster service name next to a public domain: private protocol, API, header routing
        { "sbx.example.com", Svc, $"{Svc}:7788", "/kruise/api/v2/sandboxes", null, null, $"local /v2/sandboxes PrivatePath {Svc}:7788" },
        { "sbx.example.com", Svc, $"{Svc}:7788", $"/kruise/{Id}/49983/process.Process/Start", null, null, $"sandbox {Id} 49983 /process.Process/Start PrivatePath {Svc}:7788" },
        { "sbx.example.com", Svc, Svc, "/health", Id, "49999", $"sandbox {Id} 49999 /health Headers {Svc}" },
        { "sbx.example.com", Svc, $"{Svc.ToUpperInvariant()}:7788", "/v2/sandboxes", null, null, $"local /v2/sandboxes Plain {Svc}:7788" },
        { "sbx.example.com", $"{Svc}, sandbox-manager", "sandbox-manager:7788", "/sandboxes", null, null, "local /sandboxes Plain sandbox-manager:7788" },
        // The domain's own hosts are unaffected
        { "sbx.example.com", Svc, $"49983-{Id}.sbx.example.com", "/health", null, null, $"sandbox {Id} 49983 /health NativeHost sbx.example.com" },
        { "sbx.example.com", Svc, "api.sbx.example.com", "/sandboxes", null, null, "local /sandboxes NativeHost sbx.example.com" },
        // Never native: names under an extra host are not the portal's
        { "sbx.example.com", Svc, $"49983-{Id}.{Svc}", "/health", null, null, "reject 421" },
        { "sbx.example.com", Svc, $"api.{Svc}", "/sandboxes", null, null, "reject 421" },
        { "sbx.example.com", Svc, "other.sandbox-system.svc.cluster.local", "/kruise/api/sandboxes", null, null, "reject 421" },
        { "sbx.example.com", Svc, $"x{Svc}", "/", null, null, "reject 421" },
        // An extra host with a port: the Host must carry that port
        { "sbx.example.com", $"{Svc}:7788", $"{Svc}:7788", "/sandboxes", null, null, $"local /sandboxes Plain {Svc}:7788" },
        { "sbx.example.com", $"{Svc}:7788", $"{Svc}:80", "/sandboxes", null, null, "reject 421" },
        { "sbx.example.com", $"{Svc}:7788", Svc, "/sandboxes", null, null, "reject 421" },
        // Still checked like every request: malformed paths and headers
        { "sbx.example.com", Svc, Svc, $"/kruise/{Id}/49983/../x", null, null, "reject 400" },
        { "sbx.example.com", Svc, Svc, "/health", "ABC", "49983", "reject 400" },
        // Without E2B_DOMAIN the service name (a label with '-') is the portal's host, not a malformed native host
        { null, Svc, $"{Svc}:7788", "/kruise/api/sandboxes", null, null, $"local /sandboxes PrivatePath {Svc}:7788" },
        { null, "", $"{Svc}:7788", "/kruise/api/sandboxes", null, null, "reject 400" },
    };

    [Theory]
    [MemberData(nameof(ExtraHostCases))]
    public void Decide_ExtraHosts_FollowTheTable(string? domain, string extraHosts, string host, string path, string? idHeader, string? portHeader, string expected)
    {
        var extra = extraHosts.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var decision = new RequestRouter(domain, extra).Decide(host, path, idHeader, portHeader);
        Assert.Equal(expected, Describe(decision));
    }

    [Theory]
    [InlineData("sandbox-manager.sandbox-system.svc.cluster.local", true)]
    [InlineData("sandbox-manager:7788", true)]
    [InlineData("http://sandbox-manager", false)]
    [InlineData("sandbox-manager/kruise", false)]
    [InlineData("*.svc.cluster.local", false)]
    [InlineData("a b", false)]
    [InlineData("host:99999", false)]
    [InlineData("", false)]
    public void IsHostName_AcceptsHostsWithAnOptionalPort(string value, bool expected) =>
        Assert.Equal(expected, RequestRouter.IsHostName(value));

    [Theory]
    [MemberData(nameof(Cases))]
    public void Decide_FollowsTheTable(string? domain, string host, string path, string? idHeader, string? portHeader, string expected)
    {
        var decision = new RequestRouter(domain).Decide(host, path, idHeader, portHeader);
        Assert.Equal(expected, Describe(decision));
    }

    [Fact]
    public void Rejections_CarryAMessage()
    {
        var decision = Assert.IsType<RouteDecision.Reject>(new RequestRouter("example.com").Decide("example.com", "/kruise/x/notaport/", null, null));
        Assert.Contains("notaport", decision.Message);
    }

    private static string Describe(RouteDecision d) => d switch
    {
        RouteDecision.Local l => $"local {l.Path} {l.Via} {l.Domain}",
        RouteDecision.Sandbox s => $"sandbox {s.SandboxId} {s.Port} {s.Path} {s.Via} {s.Domain}",
        RouteDecision.Reject r => $"reject {r.Status}",
        _ => "?",
    };
}
