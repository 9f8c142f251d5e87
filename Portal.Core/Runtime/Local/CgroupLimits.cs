namespace Portal.Core.Runtime.Local;

/// <param name="AgentPidsReserve">
/// Of <paramref name="Pids"/>, how many the sandbox's own processes (commands, terminals) can never
/// take: kept for envd, which needs a new thread now and then and must outlive a fork bomb.
/// </param>
public sealed record CgroupLimits(int CpuCount, int MemoryMB, int Pids, int AgentPidsReserve = 0)
{
    /// <summary>The user processes' share of <see cref="Pids"/>.</summary>
    public int UserPids => Math.Max(1, Pids - AgentPidsReserve);
}

/// <summary>
/// cgroup files envd writes to (bind-mounted into the sandbox): "0" to <paramref name="UserTasks"/>
/// moves the writing thread into the user processes' cgroup (so what it forks starts there), "0"
/// to <paramref name="AgentTasks"/> moves it back.
/// </summary>
public sealed record UserCgroupFiles(string UserTasks, string AgentTasks);

public sealed record CgroupStats(long CpuUsageNanos, long MemoryBytes, long MemoryLimitBytes, long OomKills);

/// <summary>
/// One sandbox's cgroup(s): limits, freezing, killing. Two implementations, chosen at
/// runtime: cgroup v2 (one unified tree; production hosts) and v1 (a tree per controller,
/// as on hybrid hosts like our CI machine).
/// </summary>
public interface ICgroupDriver
{
    string Version { get; }

    /// <summary>Creates the cgroup(s) with limits; returns the files a process writes its PID to, to join.</summary>
    IReadOnlyList<string> Create(string name, CgroupLimits limits);

    /// <summary>
    /// The files that put processes envd starts into the user processes' cgroup, or null when this
    /// driver cannot (cgroup v2 moves whole processes only; the agent then shares the pids limit).
    /// </summary>
    UserCgroupFiles? UserCgroup(string name);

    /// <summary>Changes the limits of an existing cgroup (a warm sandbox claimed with other resources).</summary>
    void SetLimits(string name, CgroupLimits limits);

    /// <summary>Renames the cgroup(s); the processes stay in them.</summary>
    void Rename(string from, string to);

    bool Exists(string name);
    IReadOnlyList<int> Pids(string name);
    void Freeze(string name);
    void Thaw(string name);
    bool IsFrozen(string name);
    /// <summary>Kills every process in the cgroup and waits until it is empty.</summary>
    void KillAll(string name, TimeSpan timeout);
    void Remove(string name);
    CgroupStats Stats(string name);

    /// <summary>
    /// A descriptor that becomes readable when the memory cgroup reports an OOM (v1: an eventfd
    /// on <c>memory.oom_control</c>; v2: inotify on <c>memory.events</c>). It follows the cgroup
    /// across a rename. Read <see cref="Stats"/> for the kill count.
    /// </summary>
    Microsoft.Win32.SafeHandles.SafeFileHandle OpenOomEvents(string name);

    /// <summary>Names of every sandbox cgroup that exists (to find orphans).</summary>
    IReadOnlyList<string> List();
}

public static class CgroupDriver
{
    /// <summary>Pure v2 when <c>/sys/fs/cgroup/cgroup.controllers</c> exists, else v1.</summary>
    public static ICgroupDriver Detect(string root = "/sys/fs/cgroup", string group = "sandbox-portal")
    {
        if (File.Exists(Path.Combine(root, "cgroup.controllers")))
            return new CgroupV2Driver(root, group);
        if (Directory.Exists(Path.Combine(root, "memory")) && Directory.Exists(Path.Combine(root, "freezer")))
            return new CgroupV1Driver(root, group);
        throw new InvalidOperationException($"no usable cgroup hierarchy under {root}: the local runtime needs cgroup v2, or v1 with the memory, cpu, pids and freezer controllers");
    }

    /// <summary>This process's cgroup path for a v1 controller (or "" for v2), from /proc/self/cgroup.</summary>
    public static string OwnPath(string controller)
    {
        foreach (var line in File.ReadLines("/proc/self/cgroup"))
        {
            var parts = line.Split(':', 3);
            if (parts.Length != 3) continue;
            var controllers = parts[1].Split(',');
            if ((controller.Length == 0 && parts[0] == "0" && parts[1].Length == 0) || controllers.Contains(controller))
                return parts[2].TrimStart('/');
        }
        return "";
    }

    internal static void Write(string path, string value) => File.WriteAllText(path, value);

    internal static string Read(string path) => File.ReadAllText(path).Trim();

    internal static long ReadLong(string path, long fallback = 0)
    {
        try { return long.TryParse(Read(path), out var v) ? v : fallback; }
        catch (IOException) { return fallback; }
    }

    internal static IReadOnlyList<int> ReadPids(string procsFile)
    {
        try
        {
            return File.ReadAllLines(procsFile).Where(l => l.Length > 0).Select(int.Parse).ToList();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return []; }
    }

    internal static void WaitEmpty(Func<IReadOnlyList<int>> pids, Action<int> kill, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var left = pids();
            if (left.Count == 0) return;
            foreach (var pid in left) kill(pid);
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"processes still alive after kill: {string.Join(",", left)}");
            Thread.Sleep(5);
        }
    }

    internal static void RemoveDir(string dir)
    {
        for (var i = 0; i < 50 && Directory.Exists(dir); i++)
        {
            try { Directory.Delete(dir); return; }
            catch (IOException) { Thread.Sleep(10); } // EBUSY while the last task exits
        }
    }
}
