using System.Diagnostics;
using System.Net.Http.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Playwright;
using Portal.Core.Runtime;
using Portal.Core.Sandboxes;
using Portal.Web.Hosting;

namespace Portal.Bench;

/// <summary>
/// The dashboard in Debian's Chromium (Playwright) against the real portal in this process, with
/// N live sandboxes of a runtime that runs nothing (<see cref="ChangeStreamBench.NoOpRuntime"/>:
/// the figures are the portal's and the browser's, not a runtime's). Prints: the sandboxes page
/// until interactive with its grid drawn, a pause until the browser shows it, the frame intervals
/// and long tasks while the mouse wheel scrolls the whole grid, and the server's managed memory per
/// idle dashboard circuit (the slope over batches of circuits).
/// </summary>
public static class DashboardBench
{
    private const string AdminKey = "e2b_00000000000000000000000000000000000000bb", AdminPassword = "bench-admin-password";

    public static async Task<int> RunAsync(string[] args)
    {
        var sandboxes = BenchArgs.Int(args, "--sandboxes", 1000);
        var rounds = BenchArgs.Int(args, "--rounds", 10);
        var circuits = BenchArgs.Int(args, "--circuits", 10); // per batch
        var batches = Math.Clamp(BenchArgs.Int(args, "--batches", 4), 1, 20);
        var dir = Directory.CreateTempSubdirectory("portal-bench-dashboard-").FullName;
        var app = PortalWebApplication.Build(["--urls", "http://127.0.0.1:0"], b =>
        {
            b.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["Portal:DataDir"] = dir, ["Portal:AdminApiKey"] = AdminKey, ["Portal:Dashboard:AdminPassword"] = AdminPassword,
            });
            b.Logging.ClearProviders();
            b.Services.AddSingleton<ISandboxRuntime>(new ChangeStreamBench.NoOpRuntime());
        });
        await app.StartAsync();
        try
        {
            var baseUrl = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
            using var api = new HttpClient { BaseAddress = new Uri(baseUrl) };
            api.DefaultRequestHeaders.Add("X-API-Key", AdminKey);
            var sw = Stopwatch.StartNew();
            var ids = new List<string>();
            // 16 creates in flight: the no-op runtime answers at once, so this is the API and the store.
            foreach (var chunk in Enumerable.Range(0, sandboxes).Chunk(16))
                ids.AddRange(await Task.WhenAll(chunk.Select(async i =>
                {
                    using var res = await api.PostAsJsonAsync("/sandboxes", new { templateID = "base", timeout = 3600, metadata = new { n = i.ToString() } });
                    res.EnsureSuccessStatusCode();
                    return (await res.Content.ReadFromJsonAsync<System.Text.Json.Nodes.JsonObject>())!["sandboxID"]!.GetValue<string>();
                })));
            Console.WriteLine($"{sandboxes} live sandboxes created through the API in {sw.Elapsed.TotalSeconds:0.0} s (no-op runtime)");

            using var playwright = await Playwright.CreateAsync();
            await using var browser = await playwright.Chromium.LaunchAsync(new() { ExecutablePath = "/usr/bin/chromium", Headless = true, Args = ["--no-sandbox", "--disable-gpu"] });
            var context = await DashboardSignIn.NewContextAsync(browser, baseUrl);
            var page = await DashboardSignIn.SignInAsync(context, AdminPassword);

            // (1) Open the list: navigation until the circuit is up and the first rows are drawn.
            var open = new List<double>();
            for (var i = 0; i <= rounds; i++)
            {
                sw.Restart();
                await page.GotoAsync("/dashboard/sandboxes");
                await page.Locator("[data-testid=interactive]").WaitForAsync(new() { State = WaitForSelectorState.Attached });
                await page.Locator("[data-testid=sandbox-link]").First.WaitForAsync();
                if (i > 0) open.Add(sw.Elapsed.TotalMilliseconds); // the first warms the JIT and the browser's cache
            }
            var rows = await page.Locator("[data-testid=sandbox-link]").CountAsync();
            Console.WriteLine($"sandboxes page, {sandboxes} live, interactive with its grid drawn: p50 {Pct(open, 50):0} ms, max {open.Max():0} ms ({rounds} loads; {rows} rows rendered of {sandboxes}: virtualised)");

            // (2) A pause through the API until the open page shows it (the row's state chip).
            var shown = new List<double>();
            var paused = new HashSet<string>();
            for (var i = 0; i < rounds; i++)
            {
                // A drawn row not paused yet (the grid may redraw its rows in another order between pauses).
                var id = (await page.Locator("[data-testid=sandbox-link]").AllInnerTextsAsync()).Select(t => t.Trim()).FirstOrDefault(t => !paused.Contains(t))
                    ?? throw new InvalidOperationException("every drawn row is paused already: use fewer --rounds");
                paused.Add(id);
                var state = page.Locator("tr").Filter(new() { HasText = id }).GetByTestId("state");
                sw.Restart();
                using (var res = await api.PostAsync($"/sandboxes/{id}/pause", null)) res.EnsureSuccessStatusCode();
                await Assertions.Expect(state).ToHaveTextAsync("paused", new() { Timeout = 30_000 });
                shown.Add(sw.Elapsed.TotalMilliseconds);
            }
            Console.WriteLine($"pause → shown in the open list: p50 {Pct(shown, 50):0} ms, max {shown.Max():0} ms ({rounds} pauses; includes the API call and Playwright's polling)");

            // (3) 10,000 rows stay smooth: the mouse wheel down the virtualised grid to its last row and
            // back up, in steps, while the page records its frame intervals and long tasks.
            await page.GotoAsync("/dashboard/sandboxes");
            await page.Locator("[data-testid=interactive]").WaitForAsync(new() { State = WaitForSelectorState.Attached });
            await page.Locator("[data-testid=sandbox-link]").First.WaitForAsync();
            await ScrollAsync(page, sandboxes, ids);

            // (4) Idle circuits: the server's managed heap (after full collections) as overview pages
            // are opened batch by batch; the least-squares slope is the cost of one more circuit (the
            // one-time costs of the first circuits, JIT, pools and caches, stay in the intercept).
            // The earlier pages' circuits end first (leaving a page ends its circuit, but a moment
            // later): one still alive while the batches open would be counted against them.
            await page.GotoAsync("about:blank");
            var telemetry = app.Services.GetRequiredService<PortalTelemetry>();
            for (var i = 0; i < 300 && telemetry.CircuitsOpen > 0; i++) await Task.Delay(100);
            var pages = new List<IPage>();
            var points = new List<(int Circuits, long Heap)>();
            for (var batch = 0; batch <= batches; batch++)
            {
                while (pages.Count < batch * circuits)
                {
                    var p = await context.NewPageAsync();
                    await p.GotoAsync("/dashboard");
                    await p.Locator("[data-testid=interactive]").WaitForAsync(new() { State = WaitForSelectorState.Attached });
                    pages.Add(p);
                }
                await Task.Delay(2000); // first renders finish; the circuits are idle
                if (telemetry.CircuitsOpen != pages.Count)
                    throw new InvalidOperationException($"{telemetry.CircuitsOpen} circuits open with {pages.Count} pages: the heap would not be theirs");
                points.Add((pages.Count, Heap()));
            }
            var (slope, intercept) = LeastSquares(points);
            Console.WriteLine($"idle overview circuits ({sandboxes} sandboxes in each one's live model): {slope / 1024.0:0.0} KB of managed heap per circuit " +
                $"(least-squares slope over {string.Join(", ", points.Select(pt => $"{pt.Circuits}: {pt.Heap / 1024.0 / 1024.0:0.00} MB"))}; intercept {intercept / 1024.0 / 1024.0:0.00} MB)");
            return 0;
        }
        finally
        {
            await app.StopAsync();
            await app.DisposeAsync();
            try { Directory.Delete(dir, true); } catch (IOException) { }
        }
    }

    /// <summary>
    /// Frame intervals (requestAnimationFrame) and long tasks (PerformanceObserver) recorded in the
    /// page while the mouse wheel scrolls the grid to its bottom and back; prints the distribution
    /// and whether rows were drawn all the way (the oldest sandboxes, last in the list, shown).
    /// </summary>
    private static async Task ScrollAsync(IPage page, int sandboxes, List<string> ids)
    {
        const string findScroller = """
            () => {
              const grid = document.querySelector('[data-testid=sandbox-grid]');
              const el = [grid, ...grid.querySelectorAll('*')].find(e => e.scrollHeight > e.clientHeight + 10 && /(auto|scroll)/.test(getComputedStyle(e).overflowY));
              if (!el) return null;
              el.setAttribute('data-bench-scroller', '');
              return { height: el.scrollHeight, view: el.clientHeight };
            }
            """;
        var size = await page.EvaluateAsync<System.Text.Json.JsonElement?>(findScroller);
        if (size is not { ValueKind: System.Text.Json.JsonValueKind.Object } sz) throw new InvalidOperationException("the sandbox grid has no scrolling element");
        var height = sz.GetProperty("height").GetDouble();
        var view = sz.GetProperty("view").GetDouble();
        var box = (await page.Locator("[data-bench-scroller]").BoundingBoxAsync())!;
        await page.Mouse.MoveAsync(box.X + box.Width / 2, (float)(box.Y + Math.Min(box.Height, view) / 2));
        await page.EvaluateAsync("""
            () => {
              const r = window.__bench = { frames: [], longTasks: [], stop: false };
              let last = performance.now();
              const frame = t => { r.frames.push(t - last); last = t; if (!r.stop) requestAnimationFrame(frame); };
              requestAnimationFrame(frame);
              r.observer = new PerformanceObserver(list => { for (const e of list.getEntries()) r.longTasks.push(e.duration); });
              r.observer.observe({ type: 'longtask' });
            }
            """);
        // About 150 wheel steps each way, 16 ms apart: a fast, steady scroll through the whole list.
        var step = Math.Max(200, (int)Math.Ceiling(height / 150));
        var steps = (int)Math.Ceiling(height / step) + 5;
        int blank = 0, samples = 0;
        var refill = new List<double>();
        var sw = Stopwatch.StartNew();
        for (var direction = 1; direction >= -1; direction -= 2)
            for (var i = 0; i < steps; i++)
            {
                await page.Mouse.WheelAsync(0, direction * step);
                await Task.Delay(16);
                // Every 10th step: are rows drawn in the visible part of the grid, or an empty gap
                // (the server has not sent the rows for the new position yet)? If a gap, how long
                // until rows are drawn there, the wheel stopped.
                if (i % 10 == 9)
                {
                    const string drawn = """
                        () => {
                          const s = document.querySelector('[data-bench-scroller]').getBoundingClientRect();
                          return [...document.querySelectorAll('[data-testid=sandbox-link]')].some(a => { const r = a.getBoundingClientRect(); return r.bottom > s.top && r.top < s.bottom; });
                        }
                        """;
                    samples++;
                    if (!await page.EvaluateAsync<bool>(drawn))
                    {
                        blank++;
                        var gap = Stopwatch.StartNew();
                        await page.WaitForFunctionAsync(drawn, null, new() { Timeout = 10_000 });
                        refill.Add(gap.Elapsed.TotalMilliseconds);
                    }
                }
                if (direction == 1 && i == steps - 1)
                {
                    await Task.Delay(300);
                    var bottom = await page.EvaluateAsync<System.Text.Json.JsonElement>("""
                        () => {
                          const s = document.querySelector('[data-bench-scroller]');
                          return { atBottom: s.scrollTop + s.clientHeight >= s.scrollHeight - 2, ids: [...document.querySelectorAll('[data-testid=sandbox-link]')].map(a => a.textContent.trim()) };
                        }
                        """);
                    var shown = bottom.GetProperty("ids").EnumerateArray().Select(e => e.GetString()).ToHashSet();
                    // The list is newest first: the first sandboxes created (the first batch of 16) are the last rows.
                    var oldest = ids.Take(16).Count(shown.Contains);
                    Console.WriteLine($"  at the bottom of the grid: scrolled to the end {bottom.GetProperty("atBottom").GetBoolean()}, {shown.Count} rows drawn, {oldest} of the 16 oldest sandboxes among them");
                }
            }
        var elapsed = sw.Elapsed.TotalSeconds;
        var rec = await page.EvaluateAsync<System.Text.Json.JsonElement>("() => { const r = window.__bench; r.stop = true; r.observer.disconnect(); return { frames: r.frames, longTasks: r.longTasks }; }");
        var frames = rec.GetProperty("frames").EnumerateArray().Skip(1).Select(e => e.GetDouble()).ToList();
        var longTasks = rec.GetProperty("longTasks").EnumerateArray().Select(e => e.GetDouble()).ToList();
        var atTop = await page.EvaluateAsync<bool>("() => document.querySelector('[data-bench-scroller]').scrollTop < 2");
        Console.WriteLine($"scrolling {sandboxes} rows ({height / 1000:0} k px) down and back up with the mouse wheel, {2 * steps} steps of {step} px in {elapsed:0.0} s: " +
            $"frame interval p50 {Pct(frames, 50):0.0} ms, p95 {Pct(frames, 95):0.0} ms, max {frames.DefaultIfEmpty(0).Max():0} ms; {frames.Count(f => f > 50)} of {frames.Count} frames over 50 ms; " +
            $"{longTasks.Count} long tasks (total {longTasks.Sum():0} ms, max {longTasks.DefaultIfEmpty(0).Max():0} ms); back at the top {atTop}");
        Console.WriteLine($"  rows in view while scrolling: {samples - blank} of {samples} samples (every 10th step) had rows drawn; the {blank} gaps filled, the wheel stopped, in " +
            (refill.Count == 0 ? "-" : $"p50 {Pct(refill, 50):0} ms, max {refill.Max():0} ms"));
    }

    private static (double Slope, double Intercept) LeastSquares(List<(int X, long Y)> points)
    {
        var n = points.Count;
        double mx = points.Average(p => p.X), my = points.Average(p => (double)p.Y);
        var sxx = points.Sum(p => (p.X - mx) * (p.X - mx));
        var slope = sxx == 0 ? double.NaN : points.Sum(p => (p.X - mx) * (p.Y - my)) / sxx;
        return (slope, my - slope * mx);
    }

    private static long Heap()
    {
        GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
        GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
        return GC.GetTotalMemory(forceFullCollection: true);
    }

    private static double Pct(List<double> values, int p)
    {
        var sorted = values.Order().ToList();
        return sorted[Math.Clamp((int)Math.Ceiling(p / 100.0 * sorted.Count) - 1, 0, sorted.Count - 1)];
    }

}
