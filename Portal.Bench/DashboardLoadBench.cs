using System.Globalization;
using System.Text;
using Microsoft.Playwright;
using Portal.Core.Threading;

namespace Portal.Bench;

/// <summary>
/// Issue 16's "N open dashboards while the proxy is under load": the portal's throughput per way in
/// (ProxyBench's load generator, <c>GET /health</c> and Connect <c>Stat</c> on one real sandbox)
/// without and with N dashboard pages open in Debian's Chromium, plus every circuit disconnect
/// (the portal's own counter on /metrics, and Blazor's reconnect UI in each page).
/// <para>
/// An operator's browser runs on the operator's machine; here it shares the portal's two cores, and a
/// browser rendering 50 live pages takes a third of a core (niceness 19 and SCHED_IDLE were tried:
/// the proxy lost as much, it is latency-bound). So each round has three phases: without pages;
/// with the pages open and the browser running throughout ("browser here"); and with the pages open
/// and the browser stopped (SIGSTOP) during each measured window and let run for a second between
/// windows ("browser elsewhere"). In the last, the portal does everything it does for 50 live
/// circuits (their timers, renders, envd reads, sends; batches wait unacknowledged for a few seconds,
/// well inside Blazor's limit, and every window is shorter than SignalR's client timeout), while the
/// browser's rendering happens outside the windows, as on another machine. Every phase has the same
/// windows and gaps. Phase order alternates round by round so drift on the shared machine cancels;
/// the pages are opened and closed once per round. Loopback only; every loop bounded.
/// Run by scripts/bench-proxy.sh with BENCH_DASHBOARDS=N.
/// </para>
/// </summary>
public static class DashboardLoadBench
{
    private const string Usage =
        "usage: dashboard-load --sandbox ID --token TOKEN --domain D --portal 127.0.0.1:PORT --password ADMIN_PASSWORD\n" +
        "                      [--dashboards 50] [--rounds 3] [--connections 32] [--seconds 3] [--warmup 8] [--portal-pid PID] [--pages overview,list,sandbox] [--markdown FILE]";

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
    private sealed record Phase(Mode Mode, Dictionary<(string Way, ProxyBench.Kind Kind), double> Rps, Dictionary<(string Way, ProxyBench.Kind Kind), double> CpuUs, double PortalCpu, double MachineBusy, double BrowserCpu, double Seconds)
    {
        /// <summary>The portal's GC during the phase: gen 0 and gen 2 collections, pause (ms) and allocation (MB) per second.</summary>
        public (double Gen0, double Gen2, double PauseMs, double AllocMB) Gc { get; init; }
    }

    private enum Mode { Without, BrowserHere, BrowserElsewhere }

    /// <summary>Seconds between measured windows (the same in every phase): the stopped browser catches up on renders, acknowledgements and pings.</summary>
    private const int GapSeconds = 1;

    /// <summary>Seconds after opening or closing the pages before a phase: the first window after either read up to a third low.</summary>
    private const int SettleSeconds = 8;

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

        // SignalR closes a connection whose client said nothing for 30 s and the client pings every 15 s:
        // a window (1 s warm-up + the measured seconds) over 12 s could outlast that with the browser stopped.
        if (seconds + 1 > 12) throw new ArgumentException("--seconds: at most 11 (the browser is stopped for a window and must still ping within SignalR's 30 s)");
        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new()
        {
            ExecutablePath = "/usr/bin/chromium", Headless = true,
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
            // Without first, then the two with pages open (one opening for both); the next round the other way round.
            Mode[] modes = round % 2 == 0 ? [Mode.Without, Mode.BrowserHere, Mode.BrowserElsewhere] : [Mode.BrowserElsewhere, Mode.BrowserHere, Mode.Without];
            var pages = new List<IPage>();
            foreach (var mode in modes)
            {
                var with = mode != Mode.Without;
                if (with && pages.Count == 0)
                {
                    var baseline = (await MetricsAsync(http)).Open;
                    pages = await OpenAsync(context, Enumerable.Range(0, dashboards).Select(i => paths[i % paths.Length]).ToList());
                    await Task.Delay(SettleSeconds * 1000); // first renders, chart reads and the terminal attaches settle
                    expectedOpen.Add(baseline + dashboards);
                }
                var before = await MetricsAsync(http);
                if (with) circuitsDuringWith.Add(before.Open);
                var phase = await MeasureAsync(targets, token, connections, seconds, mode, portalCpu);
                var after = await MetricsAsync(http);
                var took = phase.Seconds;
                phase = phase with { Gc = ((after.Gen0 - before.Gen0) / took, (after.Gen2 - before.Gen2) / took, (after.PauseSeconds - before.PauseSeconds) * 1000 / took, (after.AllocatedBytes - before.AllocatedBytes) / 1048576 / took) };
                phases.Add(phase);
                if (with)
                {
                    circuitsDuringWith.Add(after.Open);
                    disconnectsDuringWith += after.Disconnects - before.Disconnects;
                }
                else disconnectsDuringWithout += after.Disconnects - before.Disconnects;
                Console.WriteLine($"  round {round + 1} {Name(mode),-16}: " +
                    string.Join(", ", targets.Select(t => $"{t.Way} {phase.Rps[(t.Way, ProxyBench.Kind.Health)]:0} / {phase.Rps[(t.Way, ProxyBench.Kind.Stat)]:0}")) +
                    $" req/s (health / Stat); circuits open {after.Open}, disconnects {after.Disconnects - before.Disconnects}; portal CPU {phase.PortalCpu:0}%, Chromium {phase.BrowserCpu:0}%, machine {phase.MachineBusy:0}% busy; " +
                    $"portal GC per s: {phase.Gc.Gen0:0.0} gen0, {phase.Gc.Gen2:0.00} gen2, {phase.Gc.PauseMs:0.0} ms paused, {phase.Gc.AllocMB:0} MB allocated");
                // Both phases with pages done: count reconnect UIs and close them.
                if (with && phases.Count(p => p.Mode != Mode.Without) == 2 * (round + 1))
                {
                    foreach (var p in pages) reconnectUi += await p.EvaluateAsync<int>("() => window.__portalReconnects ?? 0");
                    foreach (var p in pages) await p.CloseAsync(new() { RunBeforeUnload = true });
                    pages.Clear();
                    await Task.Delay(SettleSeconds * 1000); // 50 renderers and circuits wind down before the next phase
                }
            }
        }

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

    private static async Task<Phase> MeasureAsync(List<ProxyBench.Target> targets, string token, int connections, int seconds, Mode mode, Func<TimeSpan>? portalCpu)
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
                if (mode == Mode.BrowserElsewhere) SignalBrowser("STOP");
                try
                {
                    var load = await ProxyBench.ThroughputAsync(t, kind, token, connections, seconds);
                    rps[(t.Way, kind)] = load.Rps;
                    cpuUs[(t.Way, kind)] = load.CpuUs;
                }
                finally
                {
                    if (mode == Mode.BrowserElsewhere) SignalBrowser("CONT");
                }
                await Task.Delay(TimeSpan.FromSeconds(GapSeconds));
            }
        var elapsed = sw.Elapsed;
        var cpu = cpuBefore is { } b ? (portalCpu!() - b) / elapsed * 100 : double.NaN;
        var machineAfter = MachineTicks();
        var busy = machineAfter.Total == machineBefore.Total ? double.NaN
            : 100.0 * (machineAfter.Busy - machineBefore.Busy) / (machineAfter.Total - machineBefore.Total);
        var browser = (BrowserCpu() - browserBefore) / elapsed * 100;
        return new Phase(mode, rps, cpuUs, cpu, busy, browser, elapsed.TotalSeconds);
    }

    private static string Name(Mode mode) => mode switch
    {
        Mode.Without => "without",
        Mode.BrowserHere => "browser here",
        _ => "browser elsewhere",
    };

    /// <summary>Stops or continues every Chromium process (the browser, its renderers and helpers).</summary>
    private static void SignalBrowser(string signal)
    {
        var pids = BrowserPids().Select(p => p.ToString(CultureInfo.InvariantCulture)).ToList();
        if (pids.Count == 0) return;
        using var kill = System.Diagnostics.Process.Start("kill", ["-" + signal, .. pids])!;
        kill.WaitForExit();
    }

    private static IEnumerable<int> BrowserPids()
    {
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid)) continue;
            string cmdline;
            try { cmdline = File.ReadAllText(Path.Combine(dir, "cmdline")); }
            catch (IOException) { continue; }
            catch (UnauthorizedAccessException) { continue; }
            if (cmdline.StartsWith("/usr/lib/chromium/", StringComparison.Ordinal)) yield return pid;
        }
    }

    /// <param name="Gen0">Gen 0 collections so far; <paramref name="Gen2"/> likewise; <paramref name="PauseSeconds"/>: the runtime paused for them.</param>
    private sealed record PortalMetrics(long Open, long Disconnects, long Gen0, long Gen2, double PauseSeconds, double AllocatedBytes);

    private static async Task<PortalMetrics> MetricsAsync(HttpClient http)
    {
        var text = await http.GetStringAsync("/metrics");
        double Value(string name) => double.Parse(text.Split('\n').Single(l => l.StartsWith(name + " ", StringComparison.Ordinal))[(name.Length + 1)..], CultureInfo.InvariantCulture);
        return new((long)Value("portal_dashboard_circuits_open"), (long)Value("portal_dashboard_circuit_disconnects_total"),
            (long)Value("dotnet_gc_collections_total{generation=\"0\"}"), (long)Value("dotnet_gc_collections_total{generation=\"2\"}"),
            Value("dotnet_gc_pause_seconds_total"), Value("dotnet_gc_allocated_bytes_total"));
    }

    /// <summary>CPU time of every Chromium process so far (the browser, its renderers and helpers).</summary>
    private static TimeSpan BrowserCpu() => BrowserPids().Aggregate(TimeSpan.Zero, (total, pid) => total + ProxyBench.CpuTime(pid, children: false));

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
        List<Phase> Of(Mode m) => phases.Where(p => p.Mode == m).ToList();
        var without = Of(Mode.Without);
        var here = Of(Mode.BrowserHere);
        var elsewhere = Of(Mode.BrowserElsewhere);
        // Per-round with / without (the phases of a round ran back to back); shown as their median and range.
        List<double> Ratios(List<Phase> with, (string, ProxyBench.Kind) key) => without.Zip(with, (a, b) => b.Rps[key] / a.Rps[key]).ToList();
        double Ratio(List<Phase> with, (string, ProxyBench.Kind) key) => ProxyBench.Median(Ratios(with, key));
        string Spread(List<Phase> with, (string, ProxyBench.Kind) key) => Ratios(with, key) is var r ? $"{r.Min():0.00}–{r.Max():0.00}" : "";
        var sb = new StringBuilder();
        sb.AppendLine(inv, $"Medians of {rounds} rounds; each way in and request: {connections} keep-alive connections, 1 s warm-up + {seconds} s measured, {GapSeconds} s between windows; " +
            $"with = {dashboards} dashboard pages open (overview, sandboxes list, the loaded sandbox's page, in turn). Ratio: median (and range) of the per-round with/without ratios. " +
            $"Browser elsewhere: Chromium stopped during each window, so only the portal's work for the circuits competes with the proxy (the target); browser here: Chromium rendering the pages on the same 2 cores.");
        sb.AppendLine();
        sb.AppendLine("| Way in | Request | req/s without | browser elsewhere: req/s | with / without | within 5% | browser here: req/s | with / without | portal CPU/req without / elsewhere / here |");
        sb.AppendLine("|---|---|---|---|---|---|---|---|---|");
        var allMet = true;
        foreach (var kind in new[] { ProxyBench.Kind.Health, ProxyBench.Kind.Stat })
            foreach (var t in targets)
            {
                var key = (t.Way, kind);
                var ratio = Ratio(elsewhere, key);
                var met = ratio >= 0.95;
                allMet &= met;
                double Rps(List<Phase> ps) => ProxyBench.Median(ps.Select(p => p.Rps[key]));
                double Cpu(List<Phase> ps) => ProxyBench.Median(ps.Select(p => p.CpuUs[key]));
                sb.AppendLine(inv, $"| {t.Way} | {(kind == ProxyBench.Kind.Health ? "`GET /health`" : "`Stat`")} | {Rps(without):0} | {Rps(elsewhere):0} | {ratio:0.000} ({Spread(elsewhere, key)}) | {(met ? "yes" : "no")} | {Rps(here):0} | {Ratio(here, key):0.000} ({Spread(here, key)}) | {Cpu(without):0} / {Cpu(elsewhere):0} / {Cpu(here):0} µs |");
            }
        sb.AppendLine();
        var circuitsOk = circuitsWith.Count > 0 && circuitsWith.Min() >= expectedOpen.Min();
        sb.AppendLine(inv, $"- circuit disconnects while the dashboards were open (both phases with pages): {disconnectsWith} (portal_dashboard_circuit_disconnects_total; {disconnectsWithout} in the phases without, which count the closing of the previous round's pages); pages that showed Blazor's reconnect UI: {reconnectUi}");
        sb.AppendLine(inv, $"- circuits open during the phases with dashboards: {circuitsWith.Min()}–{circuitsWith.Max()} (portal_dashboard_circuits_open; at least {expectedOpen.Min()} expected)");
        sb.AppendLine(inv, $"- Chromium's CPU (% of one core, median over phases): without {ProxyBench.Median(without.Select(p => p.BrowserCpu)):0}%, browser elsewhere {ProxyBench.Median(elsewhere.Select(p => p.BrowserCpu)):0}% (its catch-up between windows), browser here {ProxyBench.Median(here.Select(p => p.BrowserCpu)):0}%");
        sb.AppendLine(inv, $"- portal CPU (% of one core, median over phases): without {ProxyBench.Median(without.Select(p => p.PortalCpu)):0}%, elsewhere {ProxyBench.Median(elsewhere.Select(p => p.PortalCpu)):0}%, here {ProxyBench.Median(here.Select(p => p.PortalCpu)):0}%; " +
            $"machine busy (all {Environment.ProcessorCount} cores, includes Chromium and this load generator): without {ProxyBench.Median(without.Select(p => p.MachineBusy)):0}%, elsewhere {ProxyBench.Median(elsewhere.Select(p => p.MachineBusy)):0}%, here {ProxyBench.Median(here.Select(p => p.MachineBusy)):0}%");
        string Gc(List<Phase> ps) => $"{ProxyBench.Median(ps.Select(p => p.Gc.Gen0)):0.0} gen0/s, {ProxyBench.Median(ps.Select(p => p.Gc.Gen2)):0.00} gen2/s, {ProxyBench.Median(ps.Select(p => p.Gc.PauseMs)):0.0} ms paused/s, {ProxyBench.Median(ps.Select(p => p.Gc.AllocMB)):0} MB allocated/s";
        sb.AppendLine(inv, $"- the portal's GC (medians over phases, dotnet_gc_* on /metrics): without {Gc(without)}; elsewhere {Gc(elsewhere)}; here {Gc(here)}");
        sb.AppendLine(inv, $"- target met (browser elsewhere: every ratio within 5%; no disconnect, no reconnect UI, every circuit open in both phases with pages): {(allMet && disconnectsWith == 0 && reconnectUi == 0 && circuitsOk ? "yes" : "no")}");
        return sb.ToString();
    }
}
