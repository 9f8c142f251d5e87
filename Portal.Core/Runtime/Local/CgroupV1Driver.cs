namespace Portal.Core.Runtime.Local;

/// <summary>
/// cgroup v1: one directory per controller (memory, cpu, cpuacct, cpuset, pids, freezer), each
/// under this process's own cgroup of that controller (so it works inside a delegated subtree).
/// </summary>
public sealed class CgroupV1Driver(string root, string group) : ICgroupDriver
{
    // cpuset limits nothing here (its CPUs are the parent's: nproc comes from CPU affinity). It is
    // there for LXCFS, which finds a reader's CPU quota at the path of the reader's cpuset cgroup:
    // in the root cpuset, /proc/cpuinfo and /proc/stat inside showed every host CPU.
    private readonly string[] Controllers = new[] { "memory", "cpu", "cpuacct", "cpuset", "pids", "freezer" }
        .Where(c => c is "memory" or "cpu" or "pids" or "freezer" || Directory.Exists(Path.Combine(root, c)))
        .ToArray();

    public string Version => "v1";

    /// <summary>This process's own cgroup per controller, read once: every path below is
    /// built from it, and reading /proc/self/cgroup each time cost more than the work itself.</summary>
    private readonly Dictionary<string, string> _ownPaths = new[] { "memory", "cpu", "cpuacct", "cpuset", "pids", "freezer" }
        .ToDictionary(c => c, CgroupDriver.OwnPath);

    private string Dir(string controller, string name) =>
        Path.Combine(root, controller, _ownPaths.TryGetValue(controller, out var own) ? own : CgroupDriver.OwnPath(controller), group, name);

    public IReadOnlyList<string> Create(string name, CgroupLimits limits)
    {
        foreach (var c in Controllers)
        {
            if (c == "cpuset") CreateCpuset(Dir(c, name));
            else Directory.CreateDirectory(Dir(c, name));
        }
        // The user processes' own pids cgroup below the sandbox's: its lower limit leaves envd a reserve.
        Directory.CreateDirectory(Path.Combine(Dir("pids", name), UserGroup));
        SetLimits(name, limits);
        return Controllers.Select(c => Path.Combine(Dir(c, name), "cgroup.procs")).ToList();
    }

    /// <summary>
    /// A cpuset cgroup takes no task until its CPUs and memory nodes are set; new ones start
    /// empty (unless the parent clones), so each level gets its parent's.
    /// </summary>
    private void CreateCpuset(string dir)
    {
        var parent = Path.GetDirectoryName(dir)!;
        if (parent.StartsWith(Path.Combine(root, "cpuset") + "/", StringComparison.Ordinal)
            && (!Directory.Exists(parent) || CgroupDriver.Read(Path.Combine(parent, "cpuset.cpus")).Length == 0))
            CreateCpuset(parent);
        Directory.CreateDirectory(dir);
        foreach (var file in new[] { "cpuset.cpus", "cpuset.mems" })
        {
            var path = Path.Combine(dir, file);
            if (CgroupDriver.Read(path).Length == 0) CgroupDriver.Write(path, CgroupDriver.Read(Path.Combine(parent, file)));
        }
    }

    /// <summary>Name of the user processes' pids cgroup inside each sandbox's.</summary>
    public const string UserGroup = "user";

    public UserCgroupFiles? UserCgroup(string name)
    {
        var pids = Dir("pids", name);
        return Directory.Exists(Path.Combine(pids, UserGroup))
            ? new UserCgroupFiles(Path.Combine(pids, UserGroup, "tasks"), Path.Combine(pids, "tasks"))
            : null;
    }

    public void Rename(string from, string to)
    {
        foreach (var c in Controllers.Distinct()) if (Directory.Exists(Dir(c, from))) Directory.Move(Dir(c, from), Dir(c, to));
    }

    public void SetLimits(string name, CgroupLimits limits)
    {
        var memory = Dir("memory", name);
        var bytes = (limits.MemoryMB * 1024L * 1024).ToString();
        // memsw must stay >= the memory limit: raise in the order that keeps that true.
        var swap = Path.Combine(memory, "memory.memsw.limit_in_bytes");
        var current = CgroupDriver.ReadLong(Path.Combine(memory, "memory.limit_in_bytes"), 0);
        var raising = limits.MemoryMB * 1024L * 1024 > current;
        if (raising && File.Exists(swap)) { try { CgroupDriver.Write(swap, bytes); } catch (IOException) { } }
        CgroupDriver.Write(Path.Combine(memory, "memory.limit_in_bytes"), bytes);
        if (!raising && File.Exists(swap)) { try { CgroupDriver.Write(swap, bytes); } catch (IOException) { } }
        var cpu = Dir("cpu", name);
        CgroupDriver.Write(Path.Combine(cpu, "cpu.cfs_period_us"), "100000");
        CgroupDriver.Write(Path.Combine(cpu, "cpu.cfs_quota_us"), (limits.CpuCount * 100000).ToString());
        CgroupDriver.Write(Path.Combine(Dir("pids", name), "pids.max"), limits.Pids.ToString());
        var user = Path.Combine(Dir("pids", name), UserGroup);
        if (Directory.Exists(user)) CgroupDriver.Write(Path.Combine(user, "pids.max"), limits.UserPids.ToString());
    }

    public bool Exists(string name) => Directory.Exists(Dir("freezer", name));
    public IReadOnlyList<int> Pids(string name) => CgroupDriver.ReadPids(Path.Combine(Dir("freezer", name), "cgroup.procs"));

    public void Freeze(string name)
    {
        var state = Path.Combine(Dir("freezer", name), "freezer.state");
        CgroupDriver.Write(state, "FROZEN");
        // FREEZING → FROZEN takes a moment; pause means every task has stopped.
        for (var i = 0; i < 400 && CgroupDriver.Read(state) != "FROZEN"; i++) Thread.Sleep(1);
    }

    public void Thaw(string name) => CgroupDriver.Write(Path.Combine(Dir("freezer", name), "freezer.state"), "THAWED");

    public bool IsFrozen(string name)
    {
        try { return CgroupDriver.Read(Path.Combine(Dir("freezer", name), "freezer.state")) == "FROZEN"; }
        catch (IOException) { return false; }
    }

    public void KillAll(string name, TimeSpan timeout)
    {
        if (!Exists(name)) return;
        // Signals reach frozen tasks only once thawed: kill first, then thaw.
        foreach (var pid in Pids(name)) NativeSignals.Kill(pid, 9);
        Thaw(name);
        CgroupDriver.WaitEmpty(() => Pids(name), pid => NativeSignals.Kill(pid, 9), timeout);
    }

    public void Remove(string name)
    {
        CgroupDriver.RemoveDir(Path.Combine(Dir("pids", name), UserGroup));
        foreach (var c in Controllers) CgroupDriver.RemoveDir(Dir(c, name));
    }

    public CgroupStats Stats(string name)
    {
        var memory = Dir("memory", name);
        long oom = 0;
        try
        {
            var line = File.ReadLines(Path.Combine(memory, "memory.oom_control")).FirstOrDefault(l => l.StartsWith("oom_kill ", StringComparison.Ordinal));
            if (line is not null) oom = long.Parse(line.Split(' ')[1]);
        }
        catch (IOException) { }
        return new CgroupStats(
            CgroupDriver.ReadLong(Path.Combine(Dir("cpuacct", name), "cpuacct.usage")),
            CgroupDriver.ReadLong(Path.Combine(memory, "memory.usage_in_bytes")),
            CgroupDriver.ReadLong(Path.Combine(memory, "memory.limit_in_bytes"), long.MaxValue),
            oom);
    }

    public Microsoft.Win32.SafeHandles.SafeFileHandle OpenOomEvents(string name) =>
        SandboxWatch.RegisterCgroupV1Event(Path.Combine(Dir("memory", name), "memory.oom_control"));

    public IReadOnlyList<string> List()
    {
        var dir = Path.Combine(root, "freezer", CgroupDriver.OwnPath("freezer"), group);
        return Directory.Exists(dir) ? Directory.GetDirectories(dir).Select(Path.GetFileName).OfType<string>().ToList() : [];
    }
}
