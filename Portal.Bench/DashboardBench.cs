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
using Portal.Web.Hosting;

namespace Portal.Bench;

/// <summary>
/// The dashboard in Debian's Chromium (Playwright) against the real portal in this process, with
/// N live sandboxes of a runtime that runs nothing (<see cref="ChangeStreamBench.NoOpRuntime"/>:
/// the figures are the portal's and the browser's, not a runtime's). Prints: the sandboxes page
/// until interactive with its grid drawn, a pause until the browser shows it, and the server's
/// managed memory per idle dashboard circuit.
/// </summary>
public static class DashboardBench
{
    private const string AdminKey = "e2b_00000000000000000000000000000000000000bb", AdminPassword = "bench-admin-password";

    public static async Task<int> RunAsync(string[] args)
    {
        var sandboxes = IntArg(args, "--sandboxes", 1000);
        var rounds = IntArg(args, "--rounds", 10);
        var circuits = IntArg(args, "--circuits", 20);
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
            var context = await browser.NewContextAsync(new() { BaseURL = baseUrl, ViewportSize = new() { Width = 1280, Height = 800 } });
            context.SetDefaultTimeout(60_000);
            var page = await context.NewPageAsync();
            await page.GotoAsync("/dashboard/login");
            await page.FillAsync("#username", "admin");
            await page.FillAsync("#password", AdminPassword);
            await page.ClickAsync("button[type=submit]");
            await page.WaitForURLAsync("**/dashboard");

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
            for (var i = 0; i < rounds; i++)
            {
                var id = (await page.Locator("[data-testid=sandbox-link]").Nth(i % Math.Max(1, rows)).InnerTextAsync()).Trim();
                var state = page.Locator("tr").Filter(new() { HasText = id }).GetByTestId("state");
                sw.Restart();
                using (var res = await api.PostAsync($"/sandboxes/{id}/pause", null)) res.EnsureSuccessStatusCode();
                await Assertions.Expect(state).ToHaveTextAsync("paused", new() { Timeout = 30_000 });
                shown.Add(sw.Elapsed.TotalMilliseconds);
            }
            Console.WriteLine($"pause → shown in the open list: p50 {Pct(shown, 50):0} ms, max {shown.Max():0} ms ({rounds} pauses; includes the API call and Playwright's polling)");

            // (3) Idle circuits: the server's managed heap with N more overview pages open.
            await page.GotoAsync("about:blank");
            await Task.Delay(1000);
            var before = Heap();
            var pages = new List<IPage>();
            for (var i = 0; i < circuits; i++)
            {
                var p = await context.NewPageAsync();
                await p.GotoAsync("/dashboard");
                await p.Locator("[data-testid=interactive]").WaitForAsync(new() { State = WaitForSelectorState.Attached });
                pages.Add(p);
            }
            await Task.Delay(2000);
            var after = Heap();
            Console.WriteLine($"idle overview circuits: {(after - before) / circuits / 1024.0:0} KB of managed heap each ({circuits} open, {sandboxes} sandboxes in each one's live model)");
            return 0;
        }
        finally
        {
            await app.StopAsync();
            await app.DisposeAsync();
            try { Directory.Delete(dir, true); } catch (IOException) { }
        }
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

    private static int IntArg(string[] args, string name, int fallback) =>
        Array.IndexOf(args, name) is var i and >= 0 && i + 1 < args.Length && int.TryParse(args[i + 1], out var v) ? v : fallback;
}
