using Portal.Core.Sandboxes;
using Microsoft.Extensions.Time.Testing;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Portal.Core.Runtime;
using static Portal.Tests.Api.Http;

namespace Portal.Tests.Api;

public class SandboxesApiTests
{
    [Fact]
    public async Task CreateV2_Answers201WithE2bFields()
    {
        await using var host = await PortalHost.StartAsync();
        var sbx = await host.Admin.CreateSandboxAsync("""{"templateID":"base","metadata":{"a":"b"},"envVars":{"FOO":"bar"}}""");
        var id = (string)sbx["sandboxID"]!;
        Assert.Matches("^[a-z0-9]{20}$", id);
        Assert.Equal("base", (string)sbx["templateID"]!);
        Assert.False(string.IsNullOrEmpty((string?)sbx["clientID"]));
        Assert.False(string.IsNullOrEmpty((string?)sbx["envdAccessToken"]));
        var version = Version.Parse((string)sbx["envdVersion"]!);
        Assert.True(version >= new Version(0, 6, 4));
        var spec = Assert.Single(host.Runtime.Specs);
        Assert.Equal("bar", spec.EnvVars["FOO"]);
        Assert.Equal((string)sbx["envdAccessToken"]!, spec.EnvdAccessToken);
    }

    [Fact]
    public async Task CreateV1_TokenOnlyWhenSecure_DefaultTimeout15s()
    {
        await using var host = await PortalHost.StartAsync();
        var (s1, open) = await host.Admin.PostJsonAsync("/sandboxes", """{"templateID":"base"}""");
        Assert.Equal(201, s1);
        Assert.Null(open!["envdAccessToken"]);
        var (s2, secure) = await host.Admin.PostJsonAsync("/sandboxes", """{"templateID":"base","secure":true,"timeout":300}""");
        Assert.Equal(201, s2);
        Assert.NotNull(secure!["envdAccessToken"]);

        var (_, info) = await host.Admin.GetJsonAsync($"/sandboxes/{open["sandboxID"]}");
        var life = DateTimeOffset.Parse((string)info!["endAt"]!) - DateTimeOffset.Parse((string)info["startedAt"]!);
        Assert.Equal(15, life.TotalSeconds, 1);
    }

    [Fact]
    public async Task CreateByAlias_RecordsAlias()
    {
        await using var host = await PortalHost.StartAsync();
        var sbx = await host.Admin.CreateSandboxAsync("""{"templateID":"base-alias"}""");
        Assert.Equal("base", (string)sbx["templateID"]!);
        Assert.Equal("base-alias", (string)sbx["alias"]!);
    }

    [Fact]
    public async Task Info_ReturnsDetail_AndDefaultV2Timeout300s()
    {
        await using var host = await PortalHost.StartAsync();
        var sbx = await host.Admin.CreateSandboxAsync("""{"templateID":"base","metadata":{"k":"v"}}""");
        var (status, info) = await host.Admin.GetJsonAsync($"/sandboxes/{sbx["sandboxID"]}");
        Assert.Equal(200, status);
        Assert.Equal("running", (string)info!["state"]!);
        Assert.Equal("v", (string)info["metadata"]!["k"]!);
        foreach (var f in new[] { "sandboxID", "templateID", "clientID", "startedAt", "endAt", "envdVersion", "cpuCount", "memoryMB", "diskSizeMB", "envdAccessToken" })
            Assert.NotNull(info[f]);
        Assert.Matches(@"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", (string)info["startedAt"]!);
        var life = DateTimeOffset.Parse((string)info["endAt"]!) - DateTimeOffset.Parse((string)info["startedAt"]!);
        Assert.Equal(300, life.TotalSeconds, 1);
        Assert.Equal("kill", (string)info["lifecycle"]!["onTimeout"]!);
    }

    [Fact]
    public async Task Kill_Answers204_ThenInfoAndKillAnswer404()
    {
        await using var host = await PortalHost.StartAsync();
        var id = (string)(await host.Admin.CreateSandboxAsync())["sandboxID"]!;
        Assert.Equal(204, (await host.Admin.DeleteJsonAsync($"/sandboxes/{id}")).Status);
        Assert.False(host.Runtime.Exists(id));
        AssertError(await host.Admin.DeleteJsonAsync($"/sandboxes/{id}"), 404, id);
        AssertError(await host.Admin.GetJsonAsync($"/sandboxes/{id}"), 404);
        AssertError(await host.Admin.PostJsonAsync($"/v2/sandboxes/{id}/connect"), 404);
        var (_, list) = await host.Admin.GetJsonAsync("/v2/sandboxes");
        Assert.Empty(list!.AsArray());
    }

    [Fact]
    public async Task Connect_Running_Answers200_ExtendsButNeverShortens()
    {
        await using var host = await PortalHost.StartAsync();
        var id = (string)(await host.Admin.CreateSandboxAsync("""{"templateID":"base","timeout":600}"""))["sandboxID"]!;
        var end0 = await EndAt(host, id);

        var (s1, c1) = await host.Admin.PostJsonAsync($"/v2/sandboxes/{id}/connect", """{"timeout":10}""");
        Assert.Equal(200, s1);
        Assert.Equal(id, (string)c1!["sandboxID"]!);
        Assert.NotNull(c1["envdAccessToken"]);
        Assert.Equal(end0, await EndAt(host, id));

        var (s2, _) = await host.Admin.PostJsonAsync($"/sandboxes/{id}/connect", """{"timeout":3600}""");
        Assert.Equal(200, s2);
        Assert.True(await EndAt(host, id) > end0.AddSeconds(2000));
    }

    [Fact]
    public async Task Pause_Then409_ConnectResumes201_ResumeOnRunning409()
    {
        await using var host = await PortalHost.StartAsync();
        var id = (string)(await host.Admin.CreateSandboxAsync())["sandboxID"]!;
        Assert.Equal(204, (await host.Admin.PostJsonAsync($"/sandboxes/{id}/pause")).Status);
        Assert.Equal(SandboxState.Paused, host.Runtime.StateOf(id));
        AssertError(await host.Admin.PostJsonAsync($"/sandboxes/{id}/pause"), 409, "already paused");

        var (_, info) = await host.Admin.GetJsonAsync($"/sandboxes/{id}");
        Assert.Equal("paused", (string)info!["state"]!);

        var (s, c) = await host.Admin.PostJsonAsync($"/v2/sandboxes/{id}/connect", "{}");
        Assert.Equal(201, s);
        Assert.Equal(id, (string)c!["sandboxID"]!);
        Assert.Equal(SandboxState.Running, host.Runtime.StateOf(id));
        AssertError(await host.Admin.PostJsonAsync($"/sandboxes/{id}/resume", "{}"), 409, "already running");

        Assert.Equal(204, (await host.Admin.PostJsonAsync($"/sandboxes/{id}/pause", """{"memory":true}""")).Status);
        var (rs, r) = await host.Admin.PostJsonAsync($"/sandboxes/{id}/resume", """{"timeout":60}""");
        Assert.Equal(201, rs);
        Assert.Equal(id, (string)r!["sandboxID"]!);
    }

    [Fact]
    public async Task KillWorksOnPausedSandbox()
    {
        await using var host = await PortalHost.StartAsync();
        var id = (string)(await host.Admin.CreateSandboxAsync())["sandboxID"]!;
        await host.Admin.PostJsonAsync($"/sandboxes/{id}/pause");
        Assert.Equal(204, (await host.Admin.DeleteJsonAsync($"/sandboxes/{id}")).Status);
        Assert.False(host.Runtime.Exists(id));
    }

    [Fact]
    public async Task Timeout_SetsEndExactly_MayShorten()
    {
        await using var host = await PortalHost.StartAsync();
        var id = (string)(await host.Admin.CreateSandboxAsync("""{"templateID":"base","timeout":3600}"""))["sandboxID"]!;
        var before = DateTimeOffset.UtcNow;
        Assert.Equal(204, (await host.Admin.PostJsonAsync($"/sandboxes/{id}/timeout", """{"timeout":30}""")).Status);
        var end = await EndAt(host, id);
        Assert.InRange((end - before).TotalSeconds, 29, 32);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-10)]
    public async Task Timeout_ZeroOrLess_EndsTheSandboxNow(int seconds)
    {
        // E2B's API takes 0 (and treats less as 0): the sandbox's end is now.
        await using var host = await PortalHost.StartAsync();
        var id = (string)(await host.Admin.CreateSandboxAsync("""{"templateID":"base","timeout":3600}"""))["sandboxID"]!;
        using var changes = host.FollowChanges();
        Assert.Equal(204, (await host.Admin.PostJsonAsync($"/sandboxes/{id}/timeout", $$"""{"timeout":{{seconds}}}""")).Status);
        await changes.NextAsync(id, c => c.IsDelete);
        AssertError(await host.Admin.GetJsonAsync($"/sandboxes/{id}"), 404);
        Assert.False(host.Runtime.Exists(id));
    }

    [Fact]
    public async Task Refresh_ExtendsOnly()
    {
        await using var host = await PortalHost.StartAsync();
        var id = (string)(await host.Admin.CreateSandboxAsync("""{"templateID":"base","timeout":600}"""))["sandboxID"]!;
        var end0 = await EndAt(host, id);
        Assert.Equal(204, (await host.Admin.PostJsonAsync($"/sandboxes/{id}/refreshes", """{"duration":20}""")).Status);
        Assert.Equal(end0, await EndAt(host, id));
        Assert.Equal(204, (await host.Admin.PostJsonAsync($"/sandboxes/{id}/refreshes", """{"duration":3600}""")).Status);
        Assert.True(await EndAt(host, id) > end0);
        AssertError(await host.Admin.PostJsonAsync($"/sandboxes/{id}/refreshes", """{"duration":7200}"""), 400, "duration");
    }

    [Fact]
    public async Task Deadline_KillsSandbox_OnTheInjectedClock()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var host = await PortalHost.StartAsync(clock: clock);
        using var changes = host.FollowChanges();
        var soon = (string)(await host.Admin.CreateSandboxAsync("""{"templateID":"base","timeout":10}"""))["sandboxID"]!;
        var later = (string)(await host.Admin.CreateSandboxAsync("""{"templateID":"base","timeout":3600}"""))["sandboxID"]!;

        // One pass of the reaper ends the expired sandbox and looks at (and keeps) the other.
        clock.Advance(TimeSpan.FromSeconds(11));
        await changes.NextAsync(soon, c => c.IsDelete);
        Assert.False(host.Runtime.Exists(soon));
        Assert.True(host.Runtime.Exists(later));
        var (_, logs) = await host.Admin.GetJsonAsync($"/v2/sandboxes/{soon}/logs");
        Assert.Contains(logs!["logs"]!.AsArray(), l => ((string?)l?["message"] ?? "").Contains("timeout was reached"));

        clock.Advance(TimeSpan.FromSeconds(3600));
        await changes.NextAsync(later, c => c.IsDelete);
        Assert.False(host.Runtime.Exists(later));
    }

    [Fact]
    public async Task Deadline_WithAutoPause_PausesInstead()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var host = await PortalHost.StartAsync(clock: clock);
        using var changes = host.FollowChanges();
        var id = (string)(await host.Admin.CreateSandboxAsync("""{"templateID":"base","timeout":1,"autoPause":true}"""))["sandboxID"]!;
        clock.Advance(TimeSpan.FromSeconds(2));
        await changes.NextAsync(id, c => c.Cause == SandboxChangeCause.Paused);
        Assert.Equal(SandboxState.Paused, host.Runtime.StateOf(id));
        var (_, info) = await host.Admin.GetJsonAsync($"/sandboxes/{id}");
        Assert.Equal("paused", (string)info!["state"]!);
        Assert.Equal("pause", (string)info["lifecycle"]!["onTimeout"]!);
        Assert.Equal(201, (await host.Admin.PostJsonAsync($"/v2/sandboxes/{id}/connect", """{"timeout":60}""")).Status);
    }

    [Fact]
    public async Task SandboxThatDies_IsMarkedKilled()
    {
        await using var host = await PortalHost.StartAsync();
        var id = (string)(await host.Admin.CreateSandboxAsync())["sandboxID"]!;
        using var changes = host.FollowChanges();
        await host.Runtime.SimulateDeathAsync(id);
        await changes.NextAsync(id, c => c.IsDelete);
        AssertError(await host.Admin.GetJsonAsync($"/sandboxes/{id}"), 404);
        var (_, logs) = await host.Admin.GetJsonAsync($"/sandboxes/{id}/logs");
        Assert.Contains(logs!["logEntries"]!.AsArray(), l => ((string)l!["message"]!).Contains("out of memory"));
    }

    [Fact]
    public async Task ListV1_RunningOnly_WithMetadataFilter()
    {
        await using var host = await PortalHost.StartAsync();
        var a = (string)(await host.Admin.CreateSandboxAsync("""{"templateID":"base","metadata":{"who":"a b=c"}}"""))["sandboxID"]!;
        var b = (string)(await host.Admin.CreateSandboxAsync("""{"templateID":"base","metadata":{"who":"b"}}"""))["sandboxID"]!;
        var p = (string)(await host.Admin.CreateSandboxAsync("""{"templateID":"base","metadata":{"who":"a b=c"}}"""))["sandboxID"]!;
        await host.Admin.PostJsonAsync($"/sandboxes/{p}/pause");

        var (_, all) = await host.Admin.GetJsonAsync("/sandboxes");
        Assert.Equal(new[] { a, b }.Order(), all!.AsArray().Select(x => (string)x!["sandboxID"]!).Order());
        var (_, filtered) = await host.Admin.GetJsonAsync("/sandboxes?metadata=" + TripleEncode(("who", "a b=c")));
        Assert.Equal(a, (string)Assert.Single(filtered!.AsArray())!["sandboxID"]!);
    }

    [Fact]
    public async Task ListV2_Filters_State_Template_StartedAfter_Metadata()
    {
        await using var host = await PortalHost.StartAsync();
        var a = (string)(await host.Admin.CreateSandboxAsync("""{"templateID":"base","metadata":{"env":"x y","n":"1"}}"""))["sandboxID"]!;
        var b = (string)(await host.Admin.CreateSandboxAsync("""{"templateID":"code-interpreter-v1","metadata":{"env":"x y","n":"2"}}"""))["sandboxID"]!;
        await host.Admin.PostJsonAsync($"/sandboxes/{b}/pause");

        async Task<string[]> Ids(string query) =>
            (await host.Admin.GetJsonAsync("/v2/sandboxes" + query)).Body!.AsArray().Select(x => (string)x!["sandboxID"]!).Order().ToArray();

        Assert.Equal(new[] { a, b }.Order(), await Ids(""));
        Assert.Equal([a], await Ids("?state=running"));
        Assert.Equal([b], await Ids("?state=paused"));
        Assert.Equal(new[] { a, b }.Order(), await Ids("?state=running,paused"));
        Assert.Equal([b], await Ids("?template=code-interpreter-v1"));
        Assert.Equal(new[] { a, b }.Order(), await Ids("?metadata=" + TripleEncode(("env", "x y"))));
        Assert.Equal([b], await Ids("?metadata=" + TripleEncode(("env", "x y"), ("n", "2"))));
        Assert.Empty(await Ids("?metadata=" + TripleEncode(("env", "nope"))));
        Assert.Empty(await Ids("?startedAfter=" + Uri.EscapeDataString(DateTimeOffset.UtcNow.AddMinutes(1).ToString("O"))));
        Assert.Equal(2, (await Ids("?startedAfter=2020-01-01T00:00:00Z")).Length);
        var (_, items) = await host.Admin.GetJsonAsync("/v2/sandboxes?state=paused");
        Assert.Equal("paused", (string)items!.AsArray()[0]!["state"]!);
    }

    [Fact]
    public async Task ListV2_PaginatesWithLimit1_InBothOrders()
    {
        await using var host = await PortalHost.StartAsync();
        var created = new List<string>();
        for (var i = 0; i < 4; i++)
        {
            created.Add((string)(await host.Admin.CreateSandboxAsync())["sandboxID"]!);
            await Task.Delay(5, Ct);
        }
        foreach (var order in new[] { "desc", "asc" })
        {
            var seen = new List<string>();
            string? token = null;
            for (var page = 0; page < 10; page++)
            {
                using var res = await host.Admin.GetAsync($"/v2/sandboxes?limit=1&order={order}" + (token is null ? "" : "&nextToken=" + Uri.EscapeDataString(token)), Ct);
                Assert.Equal(200, (int)res.StatusCode);
                var arr = JsonNode.Parse(await res.Content.ReadAsStringAsync(Ct))!.AsArray();
                seen.AddRange(arr.Select(x => (string)x!["sandboxID"]!));
                token = res.Headers.TryGetValues("X-Next-Token", out var v) ? v.Single() : null;
                if (token is null) break;
            }
            var expected = order == "asc" ? created : Enumerable.Reverse(created).ToList();
            Assert.Equal(expected, seen);
        }
    }

    [Fact]
    public async Task Metrics_ReturnsSampledSeries()
    {
        await using var host = await PortalHost.StartAsync();
        var id = (string)(await host.Admin.CreateSandboxAsync())["sandboxID"]!;
        var (status, body) = await host.Admin.GetJsonAsync($"/sandboxes/{id}/metrics");
        Assert.Equal(200, status);
        var m = body!.AsArray()[0]!;
        foreach (var f in new[] { "timestamp", "timestampUnix", "cpuCount", "cpuUsedPct", "memUsed", "memTotal", "memCache", "diskUsed", "diskTotal" })
            Assert.NotNull(m[f]);
        var now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        var (_, ranged) = await host.Admin.GetJsonAsync($"/sandboxes/{id}/metrics?start={now - 60}&end={now + 60}");
        Assert.NotEmpty(ranged!.AsArray());
        var (_, empty) = await host.Admin.GetJsonAsync($"/sandboxes/{id}/metrics?start=1000&end=2000");
        Assert.Empty(empty!.AsArray());
        AssertError(await host.Admin.GetJsonAsync($"/sandboxes/{id}/metrics?start=abc"), 400, "start");
        AssertError(await host.Admin.GetJsonAsync($"/sandboxes/{id}/metrics?start=200&end=100"), 400);
        var (_, many) = await host.Admin.GetJsonAsync($"/sandboxes/metrics?sandbox_ids={id},unknownsandbox");
        Assert.NotNull(many!["sandboxes"]![id]);
    }

    [Fact]
    public async Task Logs_V1AndV2_ShowLifecycle()
    {
        await using var host = await PortalHost.StartAsync();
        var id = (string)(await host.Admin.CreateSandboxAsync())["sandboxID"]!;
        await host.Admin.PostJsonAsync($"/sandboxes/{id}/pause");
        await host.Admin.DeleteJsonAsync($"/sandboxes/{id}");

        var (s1, v1) = await host.Admin.GetJsonAsync($"/sandboxes/{id}/logs");
        Assert.Equal(200, s1);
        var lines = v1!["logs"]!.AsArray().Select(l => (string)l!["line"]!).ToList();
        Assert.Contains(lines, l => l.StartsWith("created"));
        Assert.Contains(lines, l => l == "paused");
        Assert.Contains(lines, l => l.StartsWith("killed"));
        Assert.Equal(lines.Count, v1["logEntries"]!.AsArray().Count);

        var (s2, v2) = await host.Admin.GetJsonAsync($"/v2/sandboxes/{id}/logs?direction=backward&limit=1");
        Assert.Equal(200, s2);
        Assert.StartsWith("killed", (string)Assert.Single(v2!["logs"]!.AsArray())!["message"]!);
        var (_, searched) = await host.Admin.GetJsonAsync($"/v2/sandboxes/{id}/logs?search=PAUSED");
        Assert.Single(searched!["logs"]!.AsArray());
        AssertError(await host.Admin.GetJsonAsync($"/v2/sandboxes/{id}/logs?direction=sideways"), 400, "direction");
        AssertError(await host.Admin.GetJsonAsync($"/v2/sandboxes/{id}/logs?level=loud"), 400, "level");
    }

    [Fact]
    public async Task EveryRoute_AlsoUnderKruiseApi()
    {
        await using var host = await PortalHost.StartAsync();
        var (s, sbx) = await host.Admin.PostJsonAsync("/kruise/api/v2/sandboxes", """{"templateID":"base"}""");
        Assert.Equal(201, s);
        var id = (string)sbx!["sandboxID"]!;
        Assert.Equal(200, (await host.Admin.GetJsonAsync($"/kruise/api/sandboxes/{id}")).Status);
        Assert.Single((await host.Admin.GetJsonAsync("/kruise/api/v2/sandboxes")).Body!.AsArray());
        Assert.Single((await host.Admin.GetJsonAsync("/kruise/api/sandboxes")).Body!.AsArray());
        Assert.Equal(204, (await host.Admin.PostJsonAsync($"/kruise/api/sandboxes/{id}/timeout", """{"timeout":100}""")).Status);
        Assert.Equal(204, (await host.Admin.PostJsonAsync($"/kruise/api/sandboxes/{id}/pause")).Status);
        Assert.Equal(201, (await host.Admin.PostJsonAsync($"/kruise/api/v2/sandboxes/{id}/connect")).Status);
        Assert.Equal(200, (await host.Admin.GetJsonAsync($"/kruise/api/sandboxes/{id}/metrics")).Status);
        Assert.Equal(200, (await host.Admin.GetJsonAsync($"/kruise/api/v2/sandboxes/{id}/logs")).Status);
        Assert.Equal(200, (await host.Admin.GetJsonAsync("/kruise/api/teams")).Status);
        Assert.Equal(200, (await host.Admin.GetJsonAsync("/kruise/api/api-keys")).Status);
        Assert.Equal(204, (await host.Admin.DeleteJsonAsync($"/kruise/api/sandboxes/{id}")).Status);
        AssertError(await host.Client(null).GetJsonAsync("/kruise/api/v2/sandboxes"), 401);
    }

    [Fact]
    public async Task HealthAndPrometheus_NeedNoKey()
    {
        await using var host = await PortalHost.StartAsync();
        await host.Admin.CreateSandboxAsync();
        await host.Admin.PostJsonAsync("/v2/sandboxes", """{"templateID":"nope"}""");
        var anon = host.Client(null);
        Assert.Equal(200, (await anon.GetJsonAsync("/health")).Status);
        var text = await anon.GetStringAsync("/metrics", Ct);
        Assert.Contains("portal_sandboxes{state=\"running\",template=\"base\"} 1", text);
        Assert.Contains("portal_sandbox_creates_total{outcome=\"success\"} 1", text);
        Assert.Contains("portal_sandbox_creates_total{outcome=\"template_not_found\"} 1", text);
        Assert.Contains("portal_sandbox_create_duration_seconds_bucket{le=\"+Inf\"} 1", text);
        Assert.Contains("portal_sandbox_create_duration_seconds_count 1", text);
        Assert.Contains("portal_proxy_requests_total", text);
        Assert.Contains("# TYPE portal_proxy_errors_total counter", text);
        Assert.Contains("# TYPE portal_dashboard_circuits_open gauge\nportal_dashboard_circuits_open 0\n", text); // no page open
        Assert.Contains("# TYPE portal_dashboard_circuit_disconnects_total counter\nportal_dashboard_circuit_disconnects_total 0\n", text);
        Assert.Contains("# TYPE portal_dashboard_circuits_closed_total counter\nportal_dashboard_circuits_closed_total 0\n", text);
        // The runtime's own figures, under Prometheus' client-library names; the counters only grow.
        double Value(string body, string name) => double.Parse(body.Split('\n').Single(l => l.StartsWith(name + " ", StringComparison.Ordinal))[(name.Length + 1)..], System.Globalization.CultureInfo.InvariantCulture);
        Assert.Contains("# TYPE process_cpu_seconds_total counter\n", text);
        Assert.Contains("# TYPE dotnet_gc_pause_seconds_total counter\n", text);
        Assert.True(Value(text, "dotnet_gc_heap_bytes") > 0);
        GC.Collect(); // the portal runs in this test's process
        var later = await anon.GetStringAsync("/metrics", Ct);
        Assert.True(Value(later, "dotnet_gc_collections_total{generation=\"2\"}") > Value(text, "dotnet_gc_collections_total{generation=\"2\"}"));
        Assert.True(Value(later, "dotnet_gc_allocated_bytes_total") > Value(text, "dotnet_gc_allocated_bytes_total"));
        Assert.True(Value(later, "process_cpu_seconds_total") > 0);
    }

    [Fact]
    public async Task ConcurrentCreates_AllSucceedWithDistinctIds()
    {
        await using var host = await PortalHost.StartAsync();
        host.Runtime.CreateDelay = TimeSpan.FromMilliseconds(20);
        var results = await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => host.Admin.PostJsonAsync("/v2/sandboxes", """{"templateID":"base"}""")));
        Assert.All(results, r => Assert.Equal(201, r.Status));
        Assert.Equal(20, results.Select(r => (string)r.Body!["sandboxID"]!).Distinct().Count());
        Assert.Equal(20, (await host.Admin.GetJsonAsync("/v2/sandboxes")).Body!.AsArray().Count);
    }

    [Fact]
    public async Task RuntimeCreateFailure_LeavesNothingListed()
    {
        await using var host = await PortalHost.StartAsync();
        host.Runtime.FailCreatesWith = new RuntimeCapacityException("limit of 0 sandboxes reached");
        AssertError(await host.Admin.PostJsonAsync("/v2/sandboxes", """{"templateID":"base"}"""), 429, "capacity");
        host.Runtime.FailCreatesWith = new InvalidOperationException("boom");
        AssertError(await host.Admin.PostJsonAsync("/v2/sandboxes", """{"templateID":"base"}"""), 500, "could not be started: boom");
        Assert.Empty((await host.Admin.GetJsonAsync("/v2/sandboxes")).Body!.AsArray());
    }

    // ---- helpers ----

    internal static async Task<DateTimeOffset> EndAt(PortalHost host, string id) =>
        DateTimeOffset.Parse((string)(await host.Admin.GetJsonAsync($"/sandboxes/{id}")).Body!["endAt"]!);

    /// <summary>What the JS SDK sends: each pair encoded, joined, and the whole encoded again by the URL builder.</summary>
    internal static string TripleEncode(params (string K, string V)[] pairs) =>
        Uri.EscapeDataString(string.Join("&", pairs.Select(p => Uri.EscapeDataString(p.K) + "=" + Uri.EscapeDataString(Uri.EscapeDataString(p.V)))));

    internal static async Task WaitUntil(Func<bool> condition, TimeSpan timeout)
    {
        var until = DateTime.UtcNow + timeout;
        while (!condition())
        {
            if (DateTime.UtcNow > until) Assert.Fail("condition not met in time");
            await Task.Delay(50, Ct);
        }
    }

    internal static async Task WaitUntilAsync(Func<Task<bool>> condition, TimeSpan timeout)
    {
        var until = DateTime.UtcNow + timeout;
        while (!await condition())
        {
            if (DateTime.UtcNow > until) Assert.Fail("condition not met in time");
            await Task.Delay(50, Ct);
        }
    }
}
