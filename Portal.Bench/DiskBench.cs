using System.Diagnostics;
using Portal.Core.Runtime.Local;

namespace Portal.Bench;

/// <summary>
/// What a sandbox's disk (SandboxDisk: sparse ext4 image, loop device, mount) adds to a create:
/// one at a time, then a burst of concurrent ones as a create burst makes them, then the
/// unmount that kill does. No sandbox is started; a private directory, removed at the end.
/// </summary>
public static class DiskBench
{
    public static async Task<int> RunAsync(string[] args)
    {
        string Arg(string name, string fallback) { var i = Array.IndexOf(args, name); return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback; }
        var sizeMB = int.Parse(Arg("--size", "2048"));
        var burst = int.Parse(Arg("--burst", "100"));
        var dir = Path.Combine("/var/tmp", $"portal-disk-bench-{Guid.NewGuid():N}"[..29]);
        Directory.CreateDirectory(dir);
        var made = new List<string>();
        string NewDir() { var d = Path.Combine(dir, Guid.NewGuid().ToString("N")[..12]); Directory.CreateDirectory(d); lock (made) made.Add(d); return d; }
        async Task BurstAsync(string how)
        {
            var each = new double[burst];
            var sw = Stopwatch.StartNew();
            await Task.WhenAll(Enumerable.Range(0, burst).Select(i => Task.Run(() =>
            {
                var t = Stopwatch.StartNew();
                SandboxDisk.Create(NewDir(), sizeMB);
                each[i] = t.Elapsed.TotalMilliseconds;
            })));
            Console.WriteLine($"{burst} concurrent disks ({how})   all done in {sw.Elapsed.TotalMilliseconds:0} ms   each p50 {P([.. each], 50):0.0} ms   p95 {P([.. each], 95):0.0} ms");
        }
        try
        {
            Console.WriteLine($"Sandbox disk benchmark ({DateTime.UtcNow:u}, {Environment.ProcessorCount} cores, {sizeMB} MB ext4 images)");
            var sw = Stopwatch.StartNew();
            SandboxDisk.Create(NewDir(), sizeMB); // the once-per-size mkfs
            Console.WriteLine($"first disk of this size (mkfs.ext4 once)   {sw.Elapsed.TotalMilliseconds:0.0} ms");
            var one = new List<double>();
            for (var i = 0; i < 20; i++)
            {
                sw.Restart();
                SandboxDisk.Create(NewDir(), sizeMB);
                one.Add(sw.Elapsed.TotalMilliseconds);
            }
            Console.WriteLine($"disk per create, one at a time   p50 {P(one, 50):0.0} ms   p95 {P(one, 95):0.0} ms");

            // First on the thread pool as the runtime's creates run (blocking calls: the pool grows
            // slowly on 2 cores), then with a thread per disk: what the kernel itself allows.
            await BurstAsync("thread pool");
            ThreadPool.GetMinThreads(out var workers, out var io);
            ThreadPool.SetMinThreads(Math.Max(workers, burst + 4), io);
            await BurstAsync("a thread each");

            var host = made.Sum(d => AllocatedBytes(Path.Combine(d, SandboxDisk.ImageName)));
            Console.WriteLine($"host disk taken by {made.Count} empty sandbox disks   {host / 1048576.0 / made.Count:0.00} MB each");

            var unmount = new List<double>();
            foreach (var d in made)
            {
                sw.Restart();
                SandboxDisk.Unmount(d);
                unmount.Add(sw.Elapsed.TotalMilliseconds);
            }
            Console.WriteLine($"unmount (kill)   p50 {P(unmount, 50):0.00} ms   p95 {P(unmount, 95):0.00} ms");
            return 0;
        }
        finally
        {
            foreach (var d in made) SandboxDisk.Unmount(d);
            try { Directory.Delete(dir, true); } catch (IOException) { }
        }
    }

    private static long AllocatedBytes(string file)
    {
        var psi = new ProcessStartInfo("du", ["-B1", file]) { RedirectStandardOutput = true };
        using var p = Process.Start(psi)!;
        var output = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        return long.Parse(output.Split('\t')[0]);
    }

    private static double P(List<double> xs, int p) { var s = xs.Order().ToList(); return s[Math.Min(s.Count - 1, p * s.Count / 100)]; }
}
