using System.Diagnostics;
using Portal.Core.Runtime;
using Portal.Core.Runtime.Local;

namespace Portal.Bench;

/// <summary>
/// The local runtime's numbers: cold create to envd-ready, pause and resume (both modes), memory per idle
/// sandbox (and envd's share), and how many idle sandboxes fit before creates slow down.
/// Uses a private data directory and cgroup group; kills everything it made.
/// </summary>
public static class RuntimeBench
{
    public static async Task<int> RunAsync(string[] args)
    {
        string Arg(string name, string fallback) { var i = Array.IndexOf(args, name); return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback; }
        var data = Path.Combine("/var/tmp", $"portal-bench-{Guid.NewGuid():N}"[..24]);
        var options = new LocalRuntimeOptions
        {
            SandboxesDirectory = Path.Combine(data, "sandboxes"),
            TemplatesDirectory = Arg("--templates", "/var/lib/sandbox-portal/templates"),
            EnvdPath = Path.GetFullPath(Arg("--envd", "artifacts/envd/portal-envd")),
            // Its own group per run: a runtime kills every cgroup of its group it does not know,
            // so two runs sharing a name (another worktree's bench) would kill each other's sandboxes.
            CgroupGroup = "portal-bench-" + Path.GetFileName(data)[^6..],
            Network = { Uplink = "none" },
        };
        var max = int.Parse(Arg("--max", "1000"));
        var cgroups = CgroupDriver.Detect(group: options.CgroupGroup);
        using var runtime = new LocalSandboxRuntime(options);
        var ct = CancellationToken.None;
        var made = new List<string>();
        string NewId() => "b" + Guid.NewGuid().ToString("N")[..19];
        async Task<double> CreateAsync()
        {
            var id = NewId();
            var sw = Stopwatch.StartNew();
            await runtime.CreateAsync(new SandboxSpec { SandboxId = id, TemplateId = "base", MemoryMB = 256, CpuCount = 1 }, ct);
            made.Add(id);
            return sw.Elapsed.TotalMilliseconds;
        }
        try
        {
            Console.WriteLine($"Local runtime benchmark ({DateTime.UtcNow:u}, {Environment.ProcessorCount} cores, cgroup {runtime.CgroupVersion})");
            await CreateAsync(); // warm the page cache
            var cold = new List<double>();
            for (var i = 0; i < 20; i++) cold.Add(await CreateAsync());
            Console.WriteLine($"cold create to envd ready   p50 {P(cold, 50):0.0} ms   p95 {P(cold, 95):0.0} ms   (target < 150 ms)");

            // Warm pool: a second runtime keeping 3 started sandboxes; each claim waits for a refill.
            var warmOptions = new LocalRuntimeOptions
            {
                SandboxesDirectory = Path.Combine(data, "warm"), TemplatesDirectory = options.TemplatesDirectory,
                EnvdPath = options.EnvdPath, CgroupGroup = options.CgroupGroup + "-warm", WarmPools = new() { ["base"] = 3 }, Network = { Uplink = "none" },
            };
            var warmRuntime = new LocalSandboxRuntime(warmOptions);
            var warm = new List<double>();
            try
            {
                for (var i = 0; i < 15; i++)
                {
                    for (var w = 0; w < 600 && warmRuntime.WarmCount("base") < 3; w++) await Task.Delay(20);
                    var id = NewId();
                    var sw = Stopwatch.StartNew();
                    await warmRuntime.CreateAsync(new SandboxSpec { SandboxId = id, TemplateId = "base", MemoryMB = 256, CpuCount = 1 }, ct);
                    warm.Add(sw.Elapsed.TotalMilliseconds);
                    await warmRuntime.KillAsync(id, ct);
                }
            }
            finally
            {
                warmRuntime.DrainWarmPools();
                warmRuntime.Dispose();
            }
            Console.WriteLine($"warm-pool claim to ready     p50 {P(warm, 50):0.0} ms   p95 {P(warm, 95):0.0} ms   (target < 20 ms)");

            var (pause, resume) = await PauseResumeAsync(runtime, made.Take(10), SandboxPauseMode.Memory, ct);
            Console.WriteLine($"pause                        p50 {P(pause, 50):0.00} ms   p95 {P(pause, 95):0.00} ms   (target < 10 ms)");
            Console.WriteLine($"resume (until envd answers)  p50 {P(resume, 50):0.00} ms   p95 {P(resume, 95):0.00} ms   (target < 10 ms)");

            // memory:false: processes killed, mounts, veth and cgroups removed; resume boots it again.
            var (fsPause, fsResume) = await PauseResumeAsync(runtime, made.Take(10), SandboxPauseMode.Filesystem, ct);
            Console.WriteLine($"pause memory:false           p50 {P(fsPause, 50):0.0} ms   p95 {P(fsPause, 95):0.0} ms   (processes stopped, memory freed, files kept)");
            Console.WriteLine($"resume after it (a boot)     p50 {P(fsResume, 50):0.0} ms   p95 {P(fsResume, 95):0.0} ms   (until envd answers /init)");

            await Task.Delay(4000); // let envd trim its memory
            cgroups = CgroupDriver.Detect(group: options.CgroupGroup);
            var perSandbox = made.Select(id => cgroups.Stats(id).MemoryBytes).ToList();
            var envdRss = made.Select(id => EnvdRss(cgroups.Pids(id))).Where(r => r > 0).ToList();
            Console.WriteLine($"memory per idle sandbox      {Avg(perSandbox) / 1048576.0:0.0} MB charged to its cgroup (incl. page cache); envd RSS {Avg(envdRss) / 1048576.0:0.0} MB   (target < 20 MB)");

            var baseline = P(cold, 50);
            var count = made.Count;
            // Every 10 creates, the p50 of the last 30 against the first cold p50: one window of 10
            // on a machine shared with other jobs stopped runs on a single busy moment.
            var recent = new List<double>();
            var windows = 0;
            while (count < max)
            {
                recent.Add(await CreateAsync());
                count++;
                if (recent.Count % 10 != 0) continue;
                var last = recent.TakeLast(30).ToList();
                var p50 = P(last, 50);
                if (++windows % 5 == 0) Console.WriteLine($"  {count} idle sandboxes: create p50 {p50:0.0} ms (last {last.Count})");
                if (last.Count == 30 && p50 > 2 * baseline) { Console.WriteLine($"creates slowed down (p50 {p50:0.0} ms > 2x {baseline:0.0} ms) at {count} sandboxes"); break; }
            }
            Console.WriteLine($"idle sandboxes held          {count} (stopped at cap {max} or slowdown)   (target >= 1000)");

            // What the idle sandboxes cost: this process (the runtime), the sandboxes themselves
            // (their cgroups' CPU), and the whole machine (shared with whatever else runs on it).
            await Task.Delay(5000); // envds trim and settle
            var seconds = int.Parse(Arg("--idle-seconds", "10"));
            var self0 = Process.GetCurrentProcess().TotalProcessorTime;
            var sbx0 = made.Sum(id => cgroups.Stats(id).CpuUsageNanos);
            var m0 = MachineTicks();
            await Task.Delay(TimeSpan.FromSeconds(seconds));
            var self1 = Process.GetCurrentProcess().TotalProcessorTime;
            var sbx1 = made.Sum(id => cgroups.Stats(id).CpuUsageNanos);
            var m1 = MachineTicks();
            var cores = Environment.ProcessorCount;
            Console.WriteLine($"idle CPU at {made.Count} sandboxes over {seconds} s: runtime {(self1 - self0).TotalMilliseconds / seconds / 10:0.00}% of a core; " +
                $"all sandboxes {(sbx1 - sbx0) / 1e7 / seconds:0.00}% of a core; machine {100.0 * (m1.Busy - m0.Busy) / (m1.All - m0.All) * cores:0.0}% of a core busy (of {cores * 100}%, other jobs included)");
            return 0;
        }
        finally
        {
            foreach (var id in made) await runtime.KillAsync(id, ct);
            var left = Directory.Exists(options.SandboxesDirectory) ? Directory.GetDirectories(options.SandboxesDirectory).Length : 0;
            Console.WriteLine($"killed {made.Count} sandboxes; {left} directories and {(await runtime.ListAsync(ct)).Count} sandboxes left");
            try { Directory.Delete(data, true); } catch (IOException) { }
        }
    }

    /// <summary>Busy and total jiffies of the whole machine, from /proc/stat's first line.</summary>
    private static (long Busy, long All) MachineTicks()
    {
        var f = File.ReadLines("/proc/stat").First().Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1).Select(long.Parse).ToArray();
        var all = f.Sum();
        return (all - f[3] - f[4], all);
    }

    private static long EnvdRss(IReadOnlyList<int> pids)
    {
        foreach (var pid in pids)
        {
            try
            {
                if (!File.ReadAllText($"/proc/{pid}/comm").StartsWith("portal-envd", StringComparison.Ordinal)) continue;
                var line = File.ReadLines($"/proc/{pid}/status").First(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
                return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) * 1024;
            }
            catch (IOException) { }
        }
        return 0;
    }

    /// <summary>Pauses and resumes each sandbox in turn: the time of each pause and of each resume, in ms.</summary>
    private static async Task<(List<double> Pause, List<double> Resume)> PauseResumeAsync(LocalSandboxRuntime runtime, IEnumerable<string> ids, SandboxPauseMode mode, CancellationToken ct)
    {
        var pause = new List<double>();
        var resume = new List<double>();
        foreach (var id in ids)
        {
            var sw = Stopwatch.StartNew();
            await runtime.PauseAsync(id, mode, ct);
            pause.Add(sw.Elapsed.TotalMilliseconds);
            sw.Restart();
            await runtime.ResumeAsync(id, ct);
            resume.Add(sw.Elapsed.TotalMilliseconds);
        }
        return (pause, resume);
    }

    private static double P(List<double> xs, int p) { var s = xs.Order().ToList(); return s[Math.Min(s.Count - 1, p * s.Count / 100)]; }
    private static double Avg(List<long> xs) => xs.Count == 0 ? 0 : xs.Average();
}
