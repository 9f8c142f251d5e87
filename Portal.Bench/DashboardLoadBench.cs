using System.Globalization;
using System.Text;
using Microsoft.Playwright;
using Portal.Core.Threading;

namespace Portal.Bench;

/// <summary>
/// Issue 16's "N open dashboards while the proxy is under load": the portal's throughput per way in
/// (ProxyBench's load generator, <c>GET /health</c> and Connect <c>Stat</c> on one real sandbox)
/// without and with N dashboard pages open in Debian's Chromium, plus every circuit disconnect
/// (the portal's own counter on /metrics, and Blazor's reconnect UI in each page). Phases alternate
/// order round by round (without → with, then with → without) so drift on the shared machine
/// cancels out; the pages are opened and closed once per round. Loopback only; every loop bounded.
/// Run by scripts/bench-proxy.sh with BENCH_DASHBOARDS=N.
/// </summary>
public static class DashboardLoadBench
{
    private const string Usage =
        "usage: dashboard-load --sandbox ID --token TOKEN --domain D --portal 127.0.0.1:PORT --password ADMIN_PASSWORD\n" +
        "                      [--dashboards 50] [--rounds 3] [--connections 32] [--seconds 3] [--warmup 8] [--portal-pid PID] [--markdown FILE]";

    /// <summary>
    /// Counts how often Blazor's reconnect UI was put into the page (its default display appends
    /// #components-reconnect-modal to the body when the circuit's connection drops; the browser test
    /// Metrics_CountADroppedCircuitConnection_AndThePageShowsTheReconnectUi pins that id).
    /// </summary>
    private const string ReconnectWatch = """
        window.__portalReconnects = 0;
        new MutationObserver(ms => {
          for (const m of ms) for (const n of m.addedNodes) if (n.id === 'components-reconnect-modal') window.__portalReconnects++;
        }).observe(document, { childList: true, subtree: true });
        """;

    /// <param name="CpuUs">The portal's CPU time per proxied request (µs) in each run: what the dashboards cost the proxy itself, apart from the cores Chromium takes.</param>
    private sealed record Phase(bool With, Dictionary<(string Way, ProxyBench.Kind Kind), double> Rps, Dictionary<(string Way, ProxyBench.Kind Kind), double> CpuUs, double PortalCpu, double MachineBusy, double BrowserCpu);

    public static async Task<int> RunAsync(string[] args)
    {
        // The load generator runs as in `proxy`: socket continuations on the epoll thread.
        InlineIo.EnableUnlessConfigured();
        string? Arg(string name) => BenchArgs.Value(args, name);
        int IntArg(string name, int fallback) => BenchArgs.Int(args, name, fallback);
        var sandbox = Arg("--sandbox");
        var token = Arg("--token");
        var domain = Arg("--domain");
        var portal = Arg("--portal");
        var password = Arg("--password");
        if (sandbox is null || token is null || domain is null || portal is null || password is null)
        {
            Console.Error.WriteLine(Usage);
            return 2;
        }
        var dashboards = Math.Clamp(IntArg("--dashboards", 50), 1, 500);
        var rounds = Math.Max(1, IntArg("--rounds", 3));
        var connections = IntArg("--connections", 32);
        var seconds = IntArg("--seconds", 3);
        var warmup = IntArg("--warmup", 8);
        var markdown = Arg("--markdown");
        Func<TimeSpan>? portalCpu = Arg("--portal-pid") is { } pid ? () => ProxyBench.CpuTime(int.Parse(pid, CultureInfo.InvariantCulture), children: false) : null;

        var targets = ProxyBench.Ways("portal", portal, sandbox, domain, portalCpu);
        var baseUrl = $"http://{portal}";
        if (!System.Net.IPAddress.IsLoopback(System.Net.IPEndPoint.Parse(portal).Address)) throw new ArgumentException("only a loopback portal is allowed");
        using var http = new HttpClient { BaseAddress = new Uri(baseUrl), Timeout = TimeSpan.FromSeconds(30) };

        Console.WriteLine($"Proxy throughput with and without {dashboards} open dashboards ({DateTime.UtcNow:u}, {Environment.ProcessorCount} cores, load {ProxyBench.LoadAverage()}), sandbox {sandbox}");
        Console.WriteLine($"{rounds} rounds; each phase: {connections} connections for {seconds} s per way in and request");

        foreach (var t in targets)
        {
            using var c = await LoadConnection.OpenAsync(t.Connect);
            await ProxyBench.SendAsync(c, t, ProxyBench.Kind.Health, token);
            await ProxyBench.SendAsync(c, t, ProxyBench.Kind.Stat, token);
        }
        foreach (var t in targets)
        {
            await ProxyBench.ThroughputAsync(t, ProxyBench.Kind.Health, token, connections, (warmup + 1) / 2);
            await ProxyBench.ThroughputAsync(t, ProxyBench.Kind.Stat, token, connections, (warmup + 1) / 2);
        }

        // --browser-nice N: Chromium at that niceness. On a machine this small the browser rendering 50
        // pages shares the cores with the proxy; at 19 it takes only what the proxy leaves, which
        // isolates what the portal's circuits cost the proxy (an operator's browser runs elsewhere).
        var nice = Math.Clamp(IntArg("--browser-nice", 0), 0, 19);
        var chromium = "/usr/bin/chromium";
        if (nice > 0)
        {
            chromium = Path.Combine(Path.GetTempPath(), $"portal-bench-chromium-nice-{Environment.ProcessId}.sh");
            await File.WriteAllTextAsync(chromium, $"#!/bin/sh\nexec nice -n {nice} /usr/bin/chromium \"$@\"\n");
            File.SetUnixFileMode(chromium, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new()
        {
            ExecutablePath = chromium, Headless = true,
            // Every page keeps its timers and rendering at full rate, as a visible tab would.
            Args = ["--no-sandbox", "--disable-gpu", "--disable-background-timer-throttling", "--disable-renderer-backgrounding", "--disable-backgrounding-occluded-windows"],
        });
        var context = await DashboardSignIn.NewContextAsync(browser, baseUrl);
        await context.AddInitScriptAsync(ReconnectWatch);
        await (await DashboardSignIn.SignInAsync(context, password)).CloseAsync();

        // The mix an operator keeps open: the overview, the live list, and the loaded sandbox's own
        // page (its CPU/memory charts re-read every few seconds, its process list, its terminal).
        // --pages overview,list,sandbox (the default: all three in turn) narrows the mix.
        var pageNames = new Dictionary<string, string> { ["overview"] = "/dashboard", ["list"] = "/dashboard/sandboxes", ["sandbox"] = $"/dashboard/sandboxes/{sandbox}" };
        var paths = (Arg("--pages") ?? "overview,list,sandbox").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(n => pageNames.TryGetValue(n, out var path) ? path : throw new ArgumentException($"--pages: unknown page '{n}' (overview, list, sandbox)")).ToArray();

        var phases = new List<Phase>();
        var circuitsDuringWith = new List<long>();
        long disconnectsDuringWith = 0, disconnectsDuringWithout = 0, reconnectUi = 0;
        var expectedOpen = new List<long>();
        for (var round = 0; round < rounds; round++)
        {
            var withFirst = round % 2 == 1;
            foreach (var open in withFirst ? new[] { true, false } : [false, true])
            {
                var baseline = (await MetricsAsync(http)).Open;
                var pages = new List<IPage>();
                var with = open;
                if (with)
                {
                    pages = await OpenAsync(context, Enumerable.Range(0, dashboards).Select(i => paths[i % paths.Length]).ToList());
                    await Task.Delay(3000); // first renders and the first chart reads settle
                    expectedOpen.Add(baseline + dashboards);
                }
                var before = await MetricsAsync(http);
                if (with) circuitsDuringWith.Add(before.Open);
                var phase = await MeasureAsync(targets, token, connections, seconds, with, portalCpu);
                var after = await MetricsAsync(http);
                phases.Add(phase);
                if (with)
                {
                    circuitsDuringWith.Add(after.Open);
                    disconnectsDuringWith += after.Disconnects - before.Disconnects;
                    foreach (var p in pages) reconnectUi += await p.EvaluateAsync<int>("() => window.__portalReconnects ?? 0");
                    foreach (var p in pages) await p.CloseAsync(new() { RunBeforeUnload = true });
                }
                else disconnectsDuringWithout += after.Disconnects - before.Disconnects;
                Console.WriteLine($"  round {round + 1} {(with ? "with   " : "without")}: " +
                    string.Join(", ", targets.Select(t => $"{t.Way} {phase.Rps[(t.Way, ProxyBench.Kind.Health)]:0} / {phase.Rps[(t.Way, ProxyBench.Kind.Stat)]:0}")) +
                    $" req/s (health / Stat); circuits open {after.Open}, disconnects {after.Disconnects - before.Disconnects}; portal CPU {phase.PortalCpu:0}%, Chromium {phase.BrowserCpu:0}%, machine {phase.MachineBusy:0}% busy");
            }
        }

        if (nice > 0) File.Delete(chromium);
        Console.WriteLine(nice > 0 ? $"Chromium ran at niceness {nice}." : "Chromium ran at the load generator's priority.");
        var table = Render(targets, phases, rounds, dashboards, connections, seconds, disconnectsDuringWith, disconnectsDuringWithout, reconnectUi, circuitsDuringWith, expectedOpen);
        Console.WriteLine();
        Console.WriteLine(table);
        if (markdown is not null) await File.WriteAllTextAsync(markdown, table);
        return 0;
    }

    /// <summary>Opens the pages five at a time (a burst of 50 navigations would time the opening, not the steady state) and waits until each is interactive.</summary>
    private static async Task<List<IPage>> OpenAsync(IBrowserContext context, List<string> paths)
    {
        var pages = new List<IPage>();
        foreach (var batch in paths.Chunk(5))
            pages.AddRange(await Task.WhenAll(batch.Select(async path =>
            {
                var p = await context.NewPageAsync();
                await p.GotoAsync(path);
                await p.Locator("[data-testid=interactive]").WaitForAsync(new() { State = WaitForSelectorState.Attached });
                return p;
            })));
        return pages;
    }

    private static async Task<Phase> MeasureAsync(List<ProxyBench.Target> targets, string token, int connections, int seconds, bool with, Func<TimeSpan>? portalCpu)
    {
        var rps = new Dictionary<(string, ProxyBench.Kind), double>();
        var cpuUs = new Dictionary<(string, ProxyBench.Kind), double>();
        // One second of load first, not recorded: the first target after a pause (pages opening or closing) read low.
        await ProxyBench.ThroughputAsync(targets[0], ProxyBench.Kind.Health, token, connections, 1);
        var cpuBefore = portalCpu?.Invoke();
        var machineBefore = MachineTicks();
        var browserBefore = BrowserCpu();
        var sw = System.Diagnostics.Stopwatch.StartNew();
        foreach (var kind in new[] { ProxyBench.Kind.Health, ProxyBench.Kind.Stat })
            foreach (var t in targets)
            {
                var load = await ProxyBench.ThroughputAsync(t, kind, token, connections, seconds);
                rps[(t.Way, kind)] = load.Rps;
                cpuUs[(t.Way, kind)] = load.CpuUs;
            }
        var elapsed = sw.Elapsed;
        var cpu = cpuBefore is { } b ? (portalCpu!() - b) / elapsed * 100 : double.NaN;
        var machineAfter = MachineTicks();
        var busy = machineAfter.Total == machineBefore.Total ? double.NaN
            : 100.0 * (machineAfter.Busy - machineBefore.Busy) / (machineAfter.Total - machineBefore.Total);
        var browser = (BrowserCpu() - browserBefore) / elapsed * 100;
        return new Phase(with, rps, cpuUs, cpu, busy, browser);
    }

    private static async Task<(long Open, long Disconnects)> MetricsAsync(HttpClient http)
    {
        var text = await http.GetStringAsync("/metrics");
        long Value(string name) => long.Parse(text.Split('\n').Single(l => l.StartsWith(name + " ", StringComparison.Ordinal))[(name.Length + 1)..], CultureInfo.InvariantCulture);
        return (Value("portal_dashboard_circuits_open"), Value("portal_dashboard_circuit_disconnects_total"));
    }

    /// <summary>CPU time of every Chromium process so far (the browser, its renderers and helpers).</summary>
    private static TimeSpan BrowserCpu()
    {
        var total = TimeSpan.Zero;
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid)) continue;
            try { if (!File.ReadAllText(Path.Combine(dir, "cmdline")).StartsWith("/usr/lib/chromium/", StringComparison.Ordinal)) continue; }
            catch (IOException) { continue; }
            catch (UnauthorizedAccessException) { continue; }
            total += ProxyBench.CpuTime(pid, children: false);
        }
        return total;
    }

    /// <summary>The machine's busy and total CPU ticks so far (/proc/stat, all cores): the browser's rendering shares the cores with the portal.</summary>
    private static (long Busy, long Total) MachineTicks()
    {
        try
        {
            var f = File.ReadLines("/proc/stat").First().Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1).Take(8).Select(v => long.Parse(v, CultureInfo.InvariantCulture)).ToArray();
            var idle = f[3] + f[4]; // idle, iowait
            return (f.Sum() - idle, f.Sum());
        }
        catch (IOException) { return (0, 0); }
    }

    private static string Render(List<ProxyBench.Target> targets, List<Phase> phases, int rounds, int dashboards, int connections, int seconds,
        long disconnectsWith, long disconnectsWithout, long reconnectUi, List<long> circuitsWith, List<long> expectedOpen)
    {
        var inv = CultureInfo.InvariantCulture;
        var without = phases.Where(p => !p.With).ToList();
        var loaded = phases.Where(p => p.With).ToList();
        var sb = new StringBuilder();
        sb.AppendLine(inv, $"Medians of {rounds} rounds; each way in and request: {connections} keep-alive connections for {seconds} s; with = {dashboards} dashboard pages open " +
            $"(overview, sandboxes list, the loaded sandbox's page, in turn). Ratio: median of the per-round with/without ratios (the two phases of a round ran back to back).");
        sb.AppendLine();
        sb.AppendLine("| Way in | Request | req/s without | req/s with | with / without | within 5% | portal CPU/req without / with |");
        sb.AppendLine("|---|---|---|---|---|---|---|");
        var allMet = true;
        foreach (var kind in new[] { ProxyBench.Kind.Health, ProxyBench.Kind.Stat })
            foreach (var t in targets)
            {
                var key = (t.Way, kind);
                var ratio = ProxyBench.Median(without.Zip(loaded, (a, b) => b.Rps[key] / a.Rps[key]));
                var met = ratio >= 0.95;
                allMet &= met;
                sb.AppendLine(inv, $"| {t.Way} | {(kind == ProxyBench.Kind.Health ? "`GET /health`" : "`Stat`")} | {ProxyBench.Median(without.Select(p => p.Rps[key])):0} | {ProxyBench.Median(loaded.Select(p => p.Rps[key])):0} | {ratio:0.000} | {(met ? "yes" : "no")} | {ProxyBench.Median(without.Select(p => p.CpuUs[key])):0} / {ProxyBench.Median(loaded.Select(p => p.CpuUs[key])):0} µs |");
            }
        sb.AppendLine();
        var circuitsOk = circuitsWith.Count > 0 && circuitsWith.Min() >= expectedOpen.Min();
        sb.AppendLine(inv, $"- circuit disconnects while the dashboards were open: {disconnectsWith} (portal_dashboard_circuit_disconnects_total; {disconnectsWithout} in the phases without); pages that showed Blazor's reconnect UI: {reconnectUi}");
        sb.AppendLine(inv, $"- circuits open during the phases with dashboards: {circuitsWith.Min()}–{circuitsWith.Max()} (portal_dashboard_circuits_open; at least {expectedOpen.Min()} expected)");
        sb.AppendLine(inv, $"- Chromium's CPU (% of one core, median over phases): without {ProxyBench.Median(without.Select(p => p.BrowserCpu)):0}%, with {ProxyBench.Median(loaded.Select(p => p.BrowserCpu)):0}%");
        sb.AppendLine(inv, $"- portal CPU (% of one core, median over phases): without {ProxyBench.Median(without.Select(p => p.PortalCpu)):0}%, with {ProxyBench.Median(loaded.Select(p => p.PortalCpu)):0}%; " +
            $"machine busy (all {Environment.ProcessorCount} cores, includes Chromium and this load generator): without {ProxyBench.Median(without.Select(p => p.MachineBusy)):0}%, with {ProxyBench.Median(loaded.Select(p => p.MachineBusy)):0}%");
        sb.AppendLine(inv, $"- target met (every ratio within 5%, no disconnect, no reconnect UI, every circuit open): {(allMet && disconnectsWith == 0 && reconnectUi == 0 && circuitsOk ? "yes" : "no")}");
        return sb.ToString();
    }
}
