using Microsoft.Extensions.Time.Testing;
using Portal.Core.Runtime;
using Portal.Core.Sandboxes;
using static Portal.Tests.Api.Http;

namespace Portal.Tests.Api;

/// <summary>
/// E2B's pause modes and autoResume at the API and the proxy: <c>pause {memory:false}</c> and
/// <c>autoPauseMemory:false</c> reach the runtime as a filesystem pause; <c>autoResume</c> (or
/// <c>lifecycle.autoResume</c>) lets traffic that passes the way in's access rules wake a paused
/// sandbox, once however many requests arrive, and nothing else wakes it.
/// </summary>
public sealed class PauseModesApiTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static HttpRequestMessage Routed(string url, string sandboxId, int port, string? token = null, string? trafficToken = null)
    {
        var req = new HttpRequestMessage(HttpMethod.Get, url);
        req.Headers.Add("E2b-Sandbox-Id", sandboxId);
        req.Headers.Add("E2b-Sandbox-Port", port.ToString());
        if (token is not null) req.Headers.Add("X-Access-Token", token);
        if (trafficToken is not null) req.Headers.Add("e2b-traffic-access-token", trafficToken);
        return req;
    }

    [Fact]
    public async Task Pause_MemoryFalse_IsAFilesystemPause_DefaultKeepsMemory_BadValueRefused()
    {
        await using var host = await PortalHost.StartAsync();
        var a = (string)(await host.Admin.CreateSandboxAsync())["sandboxID"]!;
        var b = (string)(await host.Admin.CreateSandboxAsync())["sandboxID"]!;
        AssertError(await host.Admin.PostJsonAsync($"/sandboxes/{a}/pause", """{"memory":"no"}"""), 400, "memory");
        Assert.Equal(204, (await host.Admin.PostJsonAsync($"/sandboxes/{a}/pause", """{"memory":false}""")).Status);
        Assert.Equal(204, (await host.Admin.PostJsonAsync($"/sandboxes/{b}/pause", "{}")).Status);
        Assert.Equal(SandboxPauseMode.Filesystem, host.Runtime.PauseModes[a]);
        Assert.Equal(SandboxPauseMode.Memory, host.Runtime.PauseModes[b]);
        AssertError(await host.Admin.PostJsonAsync($"/sandboxes/{a}/pause", """{"memory":false}"""), 409);
        Assert.Equal(201, (await host.Admin.PostJsonAsync($"/v2/sandboxes/{a}/connect", "{}")).Status);
    }

    [Fact]
    public async Task Deadline_WithAutoPauseMemoryFalse_PausesToDisk()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var host = await PortalHost.StartAsync(clock: clock);
        using var changes = host.FollowChanges();
        var id = (string)(await host.Admin.CreateSandboxAsync("""{"templateID":"base","timeout":1,"autoPause":true,"autoPauseMemory":false}"""))["sandboxID"]!;
        clock.Advance(TimeSpan.FromSeconds(2));
        await changes.NextAsync(id, c => c.Cause == SandboxChangeCause.Paused);
        Assert.Equal(SandboxPauseMode.Filesystem, host.Runtime.PauseModes[id]);
    }

    [Theory]
    [InlineData("""{"templateID":"base","autoPause":true,"autoResume":{"enabled":true}}""", "pause", true)]
    [InlineData("""{"templateID":"base","lifecycle":{"onTimeout":"pause","autoResume":true}}""", "pause", true)]
    [InlineData("""{"templateID":"base","lifecycle":{"onTimeout":"kill"}}""", "kill", false)]
    [InlineData("""{"templateID":"base"}""", "kill", false)]
    public async Task Create_LifecycleIsEchoedInTheDetail(string body, string onTimeout, bool autoResume)
    {
        await using var host = await PortalHost.StartAsync();
        var id = (string)(await host.Admin.CreateSandboxAsync(body))["sandboxID"]!;
        var (_, info) = await host.Admin.GetJsonAsync($"/sandboxes/{id}");
        Assert.Equal(onTimeout, (string)info!["lifecycle"]!["onTimeout"]!);
        Assert.Equal(autoResume, (bool)info["lifecycle"]!["autoResume"]!);
    }

    [Theory]
    [InlineData("""{"templateID":"base","lifecycle":{"onTimeout":"later"}}""", "lifecycle.onTimeout")]
    [InlineData("""{"templateID":"base","autoPause":false,"lifecycle":{"onTimeout":"pause"}}""", "disagree")]
    [InlineData("""{"templateID":"base","autoResume":{"enabled":false},"lifecycle":{"onTimeout":"pause","autoResume":true}}""", "disagree")]
    [InlineData("""{"templateID":"base","autoResume":true}""", "autoResume")]
    public async Task Create_BadLifecycle_IsRefused(string body, string message)
    {
        await using var host = await PortalHost.StartAsync();
        AssertError(await host.Admin.PostJsonAsync("/v2/sandboxes", body), 400, message);
        Assert.Equal(0, host.Runtime.Count);
    }

    [Fact]
    public async Task AutoResume_TrafficWithTheAccessToken_ResumesOnce_AndIsServed()
    {
        await using var backend = await BackendServer.StartAsync();
        await using var host = await PortalHost.StartAsync();
        host.Runtime.Backends[SandboxPorts.Envd] = backend.Port;
        var created = await host.Admin.CreateSandboxAsync("""{"templateID":"base","autoPause":true,"autoResume":{"enabled":true}}""");
        var id = (string)created["sandboxID"]!;
        var token = (string)created["envdAccessToken"]!;
        Assert.Equal(204, (await host.Admin.PostJsonAsync($"/sandboxes/{id}/pause", """{"memory":false}""")).Status);

        // Without envd's token (what envd itself would refuse on a running sandbox): nothing wakes.
        using (var res = await host.Client(null).SendAsync(Routed("/echo", id, SandboxPorts.Envd), Ct)) Assert.Equal(502, (int)res.StatusCode);
        using (var res = await host.Client(null).SendAsync(Routed("/echo", id, SandboxPorts.Envd, token: "wrong"), Ct)) Assert.Equal(502, (int)res.StatusCode);
        Assert.Equal(0, host.Runtime.Resumes);
        Assert.Equal(SandboxState.Paused, host.Runtime.StateOf(id));

        var answers = await Task.WhenAll(Enumerable.Range(0, 20).Select(async _ =>
        {
            using var res = await host.Client(null).SendAsync(Routed("/echo", id, SandboxPorts.Envd, token: token), Ct);
            return (int)res.StatusCode;
        }));
        Assert.All(answers, s => Assert.Equal(200, s));
        Assert.Equal(1, host.Runtime.Resumes);
        Assert.Equal(SandboxState.Running, host.Runtime.StateOf(id));
        var (_, info) = await host.Admin.GetJsonAsync($"/sandboxes/{id}");
        Assert.Equal("running", (string)info!["state"]!);
    }

    [Fact]
    public async Task PausedWithoutAutoResume_OrWithoutTheTrafficToken_IsNotWoken()
    {
        await using var backend = await BackendServer.StartAsync();
        await using var host = await PortalHost.StartAsync();
        host.Runtime.Backends[8000] = backend.Port;
        var plain = (string)(await host.Admin.CreateSandboxAsync())["sandboxID"]!;
        var secured = await host.Admin.CreateSandboxAsync("""{"templateID":"base","autoPause":true,"autoResume":{"enabled":true},"network":{"allowPublicTraffic":false}}""");
        var securedId = (string)secured["sandboxID"]!;
        var trafficToken = (string)secured["trafficAccessToken"]!;
        foreach (var id in new[] { plain, securedId })
            Assert.Equal(204, (await host.Admin.PostJsonAsync($"/sandboxes/{id}/pause")).Status);

        var flood = await Task.WhenAll(Enumerable.Range(0, 50).Select(async i =>
        {
            using var res = await host.Client(null).SendAsync(Routed("/echo", i % 2 == 0 ? plain : securedId, 8000, trafficToken: i % 4 == 1 ? "wrong" : null), Ct);
            return (int)res.StatusCode;
        }));
        Assert.All(flood, s => Assert.Equal(502, s));
        Assert.Equal(0, host.Runtime.Resumes);

        using var ok = await host.Client(null).SendAsync(Routed("/echo", securedId, 8000, trafficToken: trafficToken), Ct);
        Assert.Equal(200, (int)ok.StatusCode);
        Assert.Equal(1, host.Runtime.Resumes);
        Assert.Equal(SandboxState.Paused, host.Runtime.StateOf(plain));
    }
}
