using System.Runtime.InteropServices;

namespace Portal.Core.Runtime.Local;

/// <summary>
/// Which host CPUs a sandbox's processes may run on: as many as its CPU count, spread round-robin
/// over the CPUs the portal may use. <c>nproc</c>, Python's <c>os.sched_getaffinity</c> and most
/// thread-pool sizings read the affinity mask, not cgroup quotas, so this is what makes them see
/// the sandbox's CPU count; the cgroup's CPU quota still caps the time used. A process inside may
/// widen its own mask again (no privilege needed); it then only shares the same quota.
/// </summary>
internal static partial class CpuAffinity
{
    private static readonly int[] Usable = Own();
    private static int _next = -1;

    /// <summary>The CPUs for a sandbox with <paramref name="count"/> CPUs (all usable ones when it has as many or more).</summary>
    public static int[] Pick(int count)
    {
        if (count >= Usable.Length) return Usable;
        var start = (int)((uint)Interlocked.Increment(ref _next) % (uint)Usable.Length);
        return Enumerable.Range(0, Math.Max(1, count)).Select(i => Usable[(start + i) % Usable.Length]).Order().ToArray();
    }

    /// <summary>The launcher's <c>--cpus</c> value.</summary>
    public static string Format(int[] cpus) => string.Join(',', cpus);

    /// <summary>
    /// Moves every thread of <paramref name="pids"/> onto <paramref name="cpus"/> (a warm sandbox
    /// claimed with another CPU count). Threads the processes start later inherit it.
    /// </summary>
    public static void Apply(IEnumerable<int> pids, int[] cpus)
    {
        var mask = Mask(cpus);
        foreach (var pid in pids)
        {
            IEnumerable<string> tasks;
            try { tasks = Directory.EnumerateDirectories($"/proc/{pid}/task").ToList(); }
            catch (IOException) { continue; } // exited
            foreach (var task in tasks)
                if (int.TryParse(Path.GetFileName(task), out var tid)) SchedSetAffinity(tid, (nuint)(mask.Length * 8), mask);
        }
    }

    private static ulong[] Mask(int[] cpus)
    {
        var mask = new ulong[16]; // 1024 CPUs
        foreach (var c in cpus) mask[c / 64] |= 1UL << (c % 64);
        return mask;
    }

    private static int[] Own()
    {
        var mask = new ulong[16];
        if (SchedGetAffinity(0, (nuint)(mask.Length * 8), mask) < 0) return Enumerable.Range(0, Environment.ProcessorCount).ToArray();
        var cpus = new List<int>();
        for (var i = 0; i < mask.Length * 64; i++)
            if ((mask[i / 64] & (1UL << (i % 64))) != 0) cpus.Add(i);
        return cpus.Count > 0 ? cpus.ToArray() : [0];
    }

    [LibraryImport("libc", EntryPoint = "sched_getaffinity", SetLastError = true)]
    private static partial int SchedGetAffinity(int pid, nuint size, [Out] ulong[] mask);

    [LibraryImport("libc", EntryPoint = "sched_setaffinity", SetLastError = true)]
    private static partial int SchedSetAffinity(int pid, nuint size, ulong[] mask);
}
