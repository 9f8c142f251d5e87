using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Portal.Core.Auth;
using Portal.Core.Runtime;
using Portal.Core.Sandboxes;
using static Portal.Tests.Api.Http;

namespace Portal.Tests.Api;

/// <summary>
/// Control-plane and proxy numbers for docs/benchmarks.md. Explicit: they run only when asked
/// (<c>dotnet test --project Portal.Tests -c Release -- --filter-class Portal.Tests.Api.ApiBenchmarks --explicit only</c>).
/// Numbers go to the test output; the assertions are loose sanity bounds, not the targets.
/// </summary>
public class ApiBenchmarks
{
    private static double P(List<double> xs, double q)
    {
        xs.Sort();
        return xs[(int)Math.Min(xs.Count - 1, Math.Floor(q * xs.Count))];
    }

    /// <summary>Also appended to $TMPDIR/portal-api-bench.txt (test output is not shown by every runner).</summary>
    private static void Line(string text)
    {
        TestContext.Current.TestOutputHelper!.WriteLine(text);
        File.AppendAllText(Path.Combine(Path.GetTempPath(), "portal-api-bench.txt"), text + Environment.NewLine);
    }

    private static void Report(string what, List<double> ms) =>
        Line($"{what}: p50 {P(ms, 0.5):F3} ms, p90 {P(ms, 0.9):F3} ms, p99 {P(ms, 0.99):F3} ms (n={ms.Count})");

    [Fact(Explicit = true)]
    public async Task ListPage_Over10000Records()
    {
        // Metrics sampling of 10,000 fake sandboxes every 0.5 s (the test default) would dominate.
        await using var host = await PortalHost.StartAsync(config: new Dictionary<string, string?> { ["Portal:Sandboxes:MetricsSampleInterval"] = "01:00:00" });
        var svc = host.Services.GetRequiredService<SandboxService>();
        var (caller, _) = await host.Services.GetRequiredService<ApiKeyService>().AuthenticateAsync(PortalHost.AdminKey, Ct);
        var fill = Stopwatch.StartNew();
        for (var i = 0; i < 10_000; i += 50)
            await Task.WhenAll(Enumerable.Range(i, 50).Select(n => svc.CreateAsync(caller!, new CreateSandboxCommand
            {
                Template = "base",
                Metadata = new Dictionary<string, string> { ["n"] = (n % 10).ToString(), ["group"] = "bench" },
            }, Ct)));
        Line($"10,000 creates (store + fake runtime, 50 at a time): {fill.Elapsed.TotalSeconds:F1} s");

        foreach (var (name, query) in new[]
        {
            ("first page, limit 100", "/v2/sandboxes?limit=100"),
            ("metadata filter, limit 100", "/v2/sandboxes?limit=100&metadata=" + SandboxesApiTests.TripleEncode(("n", "3"))),
            ("state=running, asc, limit 100", "/v2/sandboxes?limit=100&state=running&order=asc"),
            ("v1 /sandboxes (all 10,000, unpaged)", "/sandboxes"),
            ("one sandbox by ID (reads its row when the store is shared)", "/sandboxes/" + svc.List(caller!, new SandboxListQuery { Limit = 1 }).Items[0].SandboxId),
        })
        {
            var ms = new List<double>();
            for (var i = 0; i < 60; i++)
            {
                var sw = Stopwatch.StartNew();
                using var res = await host.Admin.GetAsync(query, Ct);
                await res.Content.ReadAsByteArrayAsync(Ct);
                ms.Add(sw.Elapsed.TotalMilliseconds);
                Assert.Equal(200, (int)res.StatusCode);
            }
            ms.RemoveRange(0, 10); // warm-up
            Report("GET " + name + " over 10,000 sandboxes", ms);
        }
        var page = svc.List(caller!, new SandboxListQuery { Limit = 100 });
        var next = new List<double>();
        for (var i = 0; i < 50; i++)
        {
            var sw = Stopwatch.StartNew();
            svc.List(caller!, new SandboxListQuery { Limit = 100, NextToken = page.NextToken });
            next.Add(sw.Elapsed.TotalMilliseconds);
        }
        Report("SandboxService.List second page (in-process, no HTTP)", next);
    }

    [Fact(Explicit = true)]
    public async Task ProxyOverhead_AndCreateLatency()
    {
        await using var backend = await BackendServer.StartAsync();
        await using var host = await PortalHost.StartAsync();
        host.Runtime.Backends[SandboxPorts.Envd] = backend.Port;

        var creates = new List<double>();
        string id = "";
        for (var i = 0; i < 200; i++)
        {
            var sw = Stopwatch.StartNew();
            var (status, body) = await host.Admin.PostJsonAsync("/v2/sandboxes", """{"templateID":"base"}""");
            creates.Add(sw.Elapsed.TotalMilliseconds);
            Assert.Equal(201, status);
            id = (string)body!["sandboxID"]!;
        }
        creates.RemoveRange(0, 20);
        Report("POST /v2/sandboxes, control plane only (fake runtime, instant)", creates);

        using var direct = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{backend.Port}") };
        var via = host.Client(null);
        async Task<List<double>> Measure(HttpClient c, bool routed)
        {
            var ms = new List<double>();
            for (var i = 0; i < 2200; i++)
            {
                using var req = new HttpRequestMessage(HttpMethod.Get, "/echo");
                if (routed) { req.Headers.Add("E2b-Sandbox-Id", id); req.Headers.Add("E2b-Sandbox-Port", "49983"); }
                var sw = Stopwatch.StartNew();
                using var res = await c.SendAsync(req, Ct);
                await res.Content.ReadAsByteArrayAsync(Ct);
                ms.Add(sw.Elapsed.TotalMilliseconds);
            }
            ms.RemoveRange(0, 200);
            return ms;
        }
        var d = await Measure(direct, false);
        var v = await Measure(via, true);
        Report("GET /echo direct to the backend", d);
        Report("GET /echo through the portal proxy", v);
        Line($"proxy overhead p50: {P(v, 0.5) - P(d, 0.5):F3} ms");
    }
}
