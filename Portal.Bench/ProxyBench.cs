using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Portal.Core.Threading;

namespace Portal.Bench;

/// <summary>
/// The proxy's cost per way in, side by side with nginx: one sandbox's envd reached (a) straight
/// over its Unix socket, (b) through the portal by native host, private path and routing headers,
/// (c) through nginx configured to route the same three shapes to the same socket. One load
/// generator (this one) drives every target the same way: sequential latency on one keep-alive
/// connection, then throughput on many. Only loopback and Unix sockets; every loop is bounded.
/// </summary>
public static class ProxyBench
{
    private const string Usage =
        "usage: proxy --sandbox ID --token TOKEN --socket PATH --domain D --portal 127.0.0.1:PORT [--nginx 127.0.0.1:PORT]\n" +
        "             [--rounds 3] [--requests 2000] [--connections 32] [--seconds 3] [--warmup 8] [--only NAME,NAME] [--markdown FILE]\n" +
        "             [--portal-pid PID] [--nginx-pid MASTER_PID] [--envd-pid PID]   (to report the proxy's and envd's CPU time per request)";

    internal sealed record Target(string Name, string Way, string Via, Func<CancellationToken, ValueTask<Socket>> Connect,
        string HealthUrl, string StatUrl, (string Name, string Value)[] Headers)
    {
        private byte[]? _health, _stat;
        /// <summary>CPU time (user + system) the proxy processes used so far; null for the direct target.</summary>
        public Func<TimeSpan>? ProxyCpu { get; init; }

        /// <summary>The request's bytes, built once: what the load generator sends, as it is.</summary>
        public byte[] Request(Kind kind, string token) => kind == Kind.Health
            ? _health ??= BuildRequest("GET", HealthUrl, Headers, null)
            : _stat ??= BuildRequest("POST", StatUrl,
                [.. Headers, ("Authorization", "Basic dXNlcjo="), ("X-Access-Token", token), ("Connect-Protocol-Version", "1"), ("Content-Type", "application/json")],
                StatBody);
    }

    private static byte[] BuildRequest(string method, string url, (string Name, string Value)[] headers, byte[]? body)
    {
        var uri = new Uri(url);
        var sb = new StringBuilder().Append(CultureInfo.InvariantCulture, $"{method} {uri.PathAndQuery} HTTP/1.1\r\nHost: {uri.Authority}\r\n");
        foreach (var (name, value) in headers) sb.Append(CultureInfo.InvariantCulture, $"{name}: {value}\r\n");
        if (body is not null) sb.Append(CultureInfo.InvariantCulture, $"Content-Length: {body.Length}\r\n");
        sb.Append("\r\n");
        return [.. Encoding.ASCII.GetBytes(sb.ToString()), .. body ?? []];
    }

    internal enum Kind { Health, Stat }

    /// <summary>envd's CPU time so far (every target ends at the same envd), when its pid is known.</summary>
    private static Func<TimeSpan>? _envdCpu;

    private static readonly byte[] StatBody = Encoding.UTF8.GetBytes("{\"path\":\"/home/user\"}");

    public static async Task<int> RunAsync(string[] args)
    {
        // The load generator's socket continuations run on the runtime's epoll thread, as an event
        // loop like wrk's would: no thread-pool hop (and no spinning pool thread) per response.
        InlineIo.EnableUnlessConfigured();
        string? Arg(string name) => BenchArgs.Value(args, name);
        int IntArg(string name, int fallback) => BenchArgs.Int(args, name, fallback);
        var sandbox = Arg("--sandbox");
        var token = Arg("--token");
        var socket = Arg("--socket");
        var domain = Arg("--domain");
        var portal = Arg("--portal");
        var nginx = Arg("--nginx");
        if (sandbox is null || token is null || socket is null || domain is null || portal is null)
        {
            Console.Error.WriteLine(Usage);
            return 2;
        }
        var rounds = IntArg("--rounds", 3);
        var requests = IntArg("--requests", 2000);
        var connections = IntArg("--connections", 32);
        var seconds = IntArg("--seconds", 3);
        // Under load, the portal's JIT keeps recompiling hot methods (tier 1, PGO) for several
        // seconds after startup; a steady state is what is compared.
        var warmup = IntArg("--warmup", 8);
        var markdown = Arg("--markdown");

        var targets = new List<Target>
        {
            new("direct (envd Unix socket)", "-", "direct", ct => ConnectUnixAsync(socket, ct), "http://envd/health", "http://envd/filesystem.Filesystem/Stat", []),
        };
        var portalPid = Arg("--portal-pid");
        _envdCpu = Arg("--envd-pid") is { } envdPid ? () => CpuTime(int.Parse(envdPid, CultureInfo.InvariantCulture), children: false) : null;
        var nginxPid = Arg("--nginx-pid");
        targets.AddRange(Ways("portal", portal, sandbox, domain, portalPid is null ? null : () => CpuTime(int.Parse(portalPid, CultureInfo.InvariantCulture), children: false)));
        if (nginx is not null) targets.AddRange(Ways("nginx", nginx, sandbox, domain, nginxPid is null ? null : () => CpuTime(int.Parse(nginxPid, CultureInfo.InvariantCulture), children: true)));

        // --only "portal header,nginx header": keep the direct target and those whose name contains one of these.
        if (Arg("--only") is { } only)
        {
            var keep = only.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            targets = targets.Where((t, i) => i == 0 || keep.Any(k => t.Name.Contains(k, StringComparison.OrdinalIgnoreCase))).ToList();
        }

        Console.WriteLine($"Ways in vs nginx ({DateTime.UtcNow:u}, {Environment.ProcessorCount} cores, load {LoadAverage()}), sandbox {sandbox}");
        Console.WriteLine($"{rounds} rounds; sequential: {requests} requests on one connection; throughput: {connections} connections for {seconds} s");

        // Every target must answer correctly before anything is timed.
        foreach (var t in targets)
        {
            using var connection = await LoadConnection.OpenAsync(t.Connect);
            await SendAsync(connection, t, Kind.Health, token);
            await SendAsync(connection, t, Kind.Stat, token);
        }

        // Warm-up pass, not recorded: JIT (ours and the portal's), connection pools, page cache.
        foreach (var t in targets)
        {
            await SequentialAsync(t, Kind.Health, token, Math.Min(requests, 500));
            await SequentialAsync(t, Kind.Stat, token, Math.Min(requests, 500));
            await ThroughputAsync(t, Kind.Health, token, connections, (warmup + 1) / 2);
            await ThroughputAsync(t, Kind.Stat, token, connections, (warmup + 1) / 2);
        }

        var results = targets.ToDictionary(t => t.Name, _ => new List<Result>());
        // Each round measures the targets of one way in back to back, phase by phase (portal, then
        // nginx, or the other way round on alternate rounds), so both meet the same conditions: on a
        // shared machine, load and CPU steal change over tens of seconds, far longer than one phase.
        var groups = targets.GroupBy(t => t.Via == "direct" ? "direct" : t.Way).Select(g => g.ToList()).ToList();
        for (var round = 0; round < rounds; round++)
        {
            for (var k = 0; k < groups.Count; k++)
            {
                var group = groups[(k + round) % groups.Count];
                if (round % 2 == 1) group = Enumerable.Reverse(group).ToList();
                var health = new Dictionary<Target, Latency>();
                var stat = new Dictionary<Target, Latency>();
                var healthLoad = new Dictionary<Target, Load>();
                var statLoad = new Dictionary<Target, Load>();
                foreach (var t in group) health[t] = await SequentialAsync(t, Kind.Health, token, requests);
                foreach (var t in group) stat[t] = await SequentialAsync(t, Kind.Stat, token, requests);
                foreach (var t in group) healthLoad[t] = await ThroughputAsync(t, Kind.Health, token, connections, seconds);
                foreach (var t in group) statLoad[t] = await ThroughputAsync(t, Kind.Stat, token, connections, seconds);
                foreach (var t in group.OrderBy(targets.IndexOf))
                {
                    var r = new Result { HealthSeq = health[t], StatSeq = stat[t], HealthLoad = healthLoad[t], StatLoad = statLoad[t] };
                    results[t.Name].Add(r);
                    Console.WriteLine($"  round {round + 1}: {t.Name,-28} health p50 {r.HealthSeq.P50:0.000} ms, {r.HealthLoad.Rps:0} req/s ({r.HealthLoad.CpuUs:0} us CPU/req, envd {r.HealthLoad.EnvdCpuUs:0}); stat p50 {r.StatSeq.P50:0.000} ms, {r.StatLoad.Rps:0} req/s ({r.StatLoad.CpuUs:0} us CPU/req, envd {r.StatLoad.EnvdCpuUs:0})");
                }
            }
        }

        var table = Render(targets, results, rounds, requests, connections, seconds);
        Console.WriteLine();
        Console.WriteLine(table);
        if (markdown is not null) await File.WriteAllTextAsync(markdown, table);
        return 0;
    }

    /// <summary>The three ways into envd's port 49983 of <paramref name="sandbox"/> through the proxy at <paramref name="endpoint"/> (a loopback IP:port).</summary>
    internal static List<Target> Ways(string via, string endpoint, string sandbox, string domain, Func<TimeSpan>? cpu)
    {
        var connect = (CancellationToken ct) => ConnectTcpAsync(endpoint, ct);
        var native = $"http://49983-{sandbox}.{domain}";
        var plain = $"http://{domain}";
        return
        [
            new($"{via} native host", "native host", via, connect, native + "/health", native + "/filesystem.Filesystem/Stat", []) { ProxyCpu = cpu },
            new($"{via} private path", "private path", via, connect,
                $"{plain}/kruise/{sandbox}/49983/health", $"{plain}/kruise/{sandbox}/49983/filesystem.Filesystem/Stat", []) { ProxyCpu = cpu },
            new($"{via} header routing", "header routing", via, connect, plain + "/health", plain + "/filesystem.Filesystem/Stat",
                [("E2b-Sandbox-Id", sandbox), ("E2b-Sandbox-Port", "49983")]) { ProxyCpu = cpu },
        ];
    }

    private sealed class Result
    {
        public required Latency HealthSeq { get; init; }
        public required Latency StatSeq { get; init; }
        public required Load HealthLoad { get; init; }
        public required Load StatLoad { get; init; }
    }

    private sealed record Latency(double P50, double P99);
    /// <param name="CpuUs">The proxy's CPU time per request (µs), NaN when unknown.</param>
    /// <param name="EnvdCpuUs">envd's CPU time per request (µs), NaN when unknown.</param>
    internal sealed record Load(double Rps, double P50, double P99, double CpuUs, double EnvdCpuUs);

    private static async Task<Latency> SequentialAsync(Target t, Kind kind, string token, int requests)
    {
        using var connection = await LoadConnection.OpenAsync(t.Connect);
        for (var i = 0; i < Math.Min(200, requests); i++) await SendAsync(connection, t, kind, token);
        var samples = new double[requests];
        for (var i = 0; i < requests; i++)
        {
            var start = Stopwatch.GetTimestamp();
            await SendAsync(connection, t, kind, token);
            samples[i] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        }
        Array.Sort(samples);
        return new Latency(Pct(samples, 50), Pct(samples, 99));
    }

    /// <summary>Requests/s (and latency under that load) of <paramref name="connections"/> keep-alive connections kept busy for <paramref name="seconds"/>, after a 1 s warm-up.</summary>
    internal static async Task<Load> ThroughputAsync(Target t, Kind kind, string token, int connections, int seconds)
    {
        var open = new List<LoadConnection>(connections);
        try
        {
            for (var i = 0; i < connections; i++) open.Add(await LoadConnection.OpenAsync(t.Connect));
            return await ThroughputAsync(t, kind, token, open, seconds);
        }
        finally
        {
            foreach (var c in open) c.Dispose();
        }
    }

    private static async Task<Load> ThroughputAsync(Target t, Kind kind, string token, List<LoadConnection> open, int seconds)
    {
        // Warm-up: every connection busy for a second, so JIT and pools settle.
        using (var warm = new CancellationTokenSource(TimeSpan.FromSeconds(1)))
            await Task.WhenAll(open.Select(c => LoopAsync(c, t, kind, token, warm.Token, null)));

        var perWorker = open.Select(_ => new List<double>(4096)).ToArray();
        var cpuBefore = t.ProxyCpu?.Invoke();
        var envdBefore = _envdCpu?.Invoke();
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(seconds));
        var sw = Stopwatch.StartNew();
        await Task.WhenAll(open.Select((c, i) => LoopAsync(c, t, kind, token, stop.Token, perWorker[i])));
        var elapsed = sw.Elapsed.TotalSeconds;
        var cpu = cpuBefore is { } before ? (t.ProxyCpu!() - before).TotalMicroseconds : double.NaN;
        var envd = envdBefore is { } envdStart ? (_envdCpu!() - envdStart).TotalMicroseconds : double.NaN;
        var all = perWorker.SelectMany(l => l).ToArray();
        Array.Sort(all);
        return new Load(all.Length / elapsed, Pct(all, 50), Pct(all, 99), cpu / all.Length, envd / all.Length);
    }

    private static async Task LoopAsync(LoadConnection connection, Target t, Kind kind, string token, CancellationToken stop, List<double>? samples)
    {
        // Bounded by the token's deadline; a request in flight at the deadline completes and is not counted.
        while (!stop.IsCancellationRequested)
        {
            var start = Stopwatch.GetTimestamp();
            await SendAsync(connection, t, kind, token);
            if (stop.IsCancellationRequested) break;
            samples?.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
        }
    }

    internal static async Task SendAsync(LoadConnection connection, Target t, Kind kind, string token)
    {
        var (status, length) = await connection.ExchangeAsync(t.Request(kind, token));
        var ok = kind == Kind.Health ? status == 204 : status == 200 && length > 0;
        if (!ok) throw new InvalidOperationException($"{t.Name} {kind}: HTTP {status} with a body of {length} bytes");
    }

    private static async ValueTask<Socket> ConnectUnixAsync(string path, CancellationToken ct)
    {
        var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try { await s.ConnectAsync(new UnixDomainSocketEndPoint(path), ct); }
        catch { s.Dispose(); throw; }
        return s;
    }

    private static async ValueTask<Socket> ConnectTcpAsync(string endpoint, CancellationToken ct)
    {
        var ep = IPEndPoint.Parse(endpoint);
        if (!IPAddress.IsLoopback(ep.Address)) throw new ArgumentException($"only loopback targets are allowed (got {endpoint})");
        var s = new Socket(ep.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try { await s.ConnectAsync(ep, ct); }
        catch { s.Dispose(); throw; }
        return s;
    }

    /// <summary>utime + stime of a process (all its threads), plus its child processes' when asked (nginx workers).</summary>
    internal static TimeSpan CpuTime(int pid, bool children)
    {
        static long Ticks(int pid)
        {
            try
            {
                var stat = File.ReadAllText($"/proc/{pid}/stat");
                var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                return long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture); // utime, stime
            }
            catch (IOException) { return 0; }
        }
        var ticks = Ticks(pid);
        if (children)
            foreach (var task in Directory.EnumerateDirectories($"/proc/{pid}/task"))
                foreach (var child in File.ReadAllText(Path.Combine(task, "children")).Split(' ', StringSplitOptions.RemoveEmptyEntries))
                    ticks += Ticks(int.Parse(child, CultureInfo.InvariantCulture));
        return TimeSpan.FromSeconds(ticks / 100.0); // USER_HZ
    }

    private static double Pct(double[] sorted, int p) => sorted.Length == 0 ? double.NaN : sorted[Math.Min(sorted.Length - 1, p * sorted.Length / 100)];
    internal static double Median(IEnumerable<double> xs) { var s = xs.Order().ToArray(); return s.Length == 0 ? double.NaN : s.Length % 2 == 1 ? s[s.Length / 2] : (s[s.Length / 2 - 1] + s[s.Length / 2]) / 2; }

    internal static string LoadAverage()
    {
        try { return string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)); }
        catch (IOException) { return "?"; }
    }

    private static string Render(List<Target> targets, Dictionary<string, List<Result>> results, int rounds, int requests, int connections, int seconds)
    {
        var inv = CultureInfo.InvariantCulture;
        double M(Target t, Func<Result, double> f) => Median(results[t.Name].Select(f));
        var direct = targets[0];
        string Cpu(double us) => double.IsNaN(us) ? "" : us.ToString("0 µs", inv);
        var sb = new StringBuilder();
        sb.AppendLine(inv, $"Medians of {rounds} rounds. Latency: {requests} sequential requests on one keep-alive connection (ms; added = minus direct).");
        sb.AppendLine(inv, $"Throughput: {connections} keep-alive connections for {seconds} s (req/s; p50/p99 latency under that load; the proxy's and envd's user+system CPU per request).");
        sb.AppendLine();
        sb.AppendLine("| Target | `GET /health` p50 | p99 | added p50 | added p99 | `Stat` p50 | p99 | added p50 | added p99 | `/health` req/s | p50 / p99 | proxy CPU/req | envd CPU/req | `Stat` req/s | p50 / p99 | proxy CPU/req | envd CPU/req |");
        sb.AppendLine("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
        foreach (var t in targets)
        {
            string Added(Func<Result, double> f) => t == direct ? "" : (M(t, f) - M(direct, f)).ToString("+0.000;-0.000", inv);
            sb.AppendLine(inv,
                $"| {t.Name} | {M(t, r => r.HealthSeq.P50):0.000} | {M(t, r => r.HealthSeq.P99):0.000} | {Added(r => r.HealthSeq.P50)} | {Added(r => r.HealthSeq.P99)} " +
                $"| {M(t, r => r.StatSeq.P50):0.000} | {M(t, r => r.StatSeq.P99):0.000} | {Added(r => r.StatSeq.P50)} | {Added(r => r.StatSeq.P99)} " +
                $"| {M(t, r => r.HealthLoad.Rps):0} | {M(t, r => r.HealthLoad.P50):0.00} / {M(t, r => r.HealthLoad.P99):0.00} | {Cpu(M(t, r => r.HealthLoad.CpuUs))} | {Cpu(M(t, r => r.HealthLoad.EnvdCpuUs))} " +
                $"| {M(t, r => r.StatLoad.Rps):0} | {M(t, r => r.StatLoad.P50):0.00} / {M(t, r => r.StatLoad.P99):0.00} | {Cpu(M(t, r => r.StatLoad.CpuUs))} | {Cpu(M(t, r => r.StatLoad.EnvdCpuUs))} |");
        }

        var nginx = targets.Where(t => t.Via == "nginx").ToDictionary(t => t.Way);
        if (nginx.Count > 0)
        {
            // Paired per round (the two were measured back to back): the median of the portal/nginx
            // req/s ratios, and of the portal-minus-nginx p50 differences (added latency portal ≤
            // nginx ⟺ difference ≤ 0; direct's own latency cancels out).
            double Ratio(Target p, Target n, Func<Result, double> f) => Median(results[p.Name].Zip(results[n.Name], (a, b) => f(a) / f(b)));
            double Diff(Target p, Target n, Func<Result, double> f) => Median(results[p.Name].Zip(results[n.Name], (a, b) => f(a) - f(b)));
            sb.AppendLine();
            sb.AppendLine("Portal against nginx, paired round by round (medians over the rounds of the portal/nginx req/s ratio and of the portal − nginx p50 difference, ms):");
            sb.AppendLine();
            sb.AppendLine("| Way in | `/health` req/s portal / nginx | `Stat` req/s portal / nginx | `/health` p50 portal − nginx | `Stat` p50 portal − nginx | target met |");
            sb.AppendLine("|---|---|---|---|---|---|");
            foreach (var p in targets.Where(t => t.Via == "portal" && nginx.ContainsKey(t.Way)))
            {
                var n = nginx[p.Way];
                var hr = Ratio(p, n, r => r.HealthLoad.Rps);
                var sr = Ratio(p, n, r => r.StatLoad.Rps);
                var ha = Diff(p, n, r => r.HealthSeq.P50);
                var sa = Diff(p, n, r => r.StatSeq.P50);
                var misses = new List<string>();
                if (hr < 1) misses.Add("/health req/s");
                if (sr < 1) misses.Add("Stat req/s");
                if (ha > 0) misses.Add("/health latency");
                if (sa > 0) misses.Add("Stat latency");
                sb.AppendLine(inv,
                    $"| {p.Way} | {hr:0.00}x | {sr:0.00}x | {ha:+0.000;-0.000;0.000} | {sa:+0.000;-0.000;0.000} | {(misses.Count == 0 ? "yes" : "no: " + string.Join(", ", misses))} |");
            }
        }
        return sb.ToString();
    }
}
