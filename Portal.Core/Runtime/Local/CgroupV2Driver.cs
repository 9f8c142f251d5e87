namespace Portal.Core.Runtime.Local;

/// <summary>cgroup v2: <c>&lt;root&gt;/&lt;own&gt;/sandbox-portal/&lt;name&gt;</c>, cgroup.freeze, cgroup.kill.</summary>
public sealed class CgroupV2Driver : ICgroupDriver
{
    private readonly string _base;

    public CgroupV2Driver(string root, string group)
    {
        // A sibling of our own cgroup: v2 forbids processes in inner nodes that have children.
        var own = CgroupDriver.OwnPath("");
        var parent = Path.Combine(root, own.Length == 0 ? "" : Path.GetDirectoryName(own) ?? "");
        _base = Path.Combine(parent, group);
        Directory.CreateDirectory(_base);
        EnableControllers(parent);
        EnableControllers(_base);
    }

    public string Version => "v2";

    // v2 moves whole processes, not threads: envd cannot fork into another cgroup this way
    // (clone3 CLONE_INTO_CGROUP would); the agent shares the pids limit (docs/runtime-local.md).
    public UserCgroupFiles? UserCgroup(string name) => null;

    private static void EnableControllers(string dir)
    {
        try { CgroupDriver.Write(Path.Combine(dir, "cgroup.subtree_control"), "+cpu +memory +pids"); }
        catch (IOException) { /* already enabled, or delegated without them: limits then degrade */ }
    }

    private string Dir(string name) => Path.Combine(_base, name);

    public IReadOnlyList<string> Create(string name, CgroupLimits limits)
    {
        var dir = Dir(name);
        Directory.CreateDirectory(dir);
        SetLimits(name, limits);
        return [Path.Combine(dir, "cgroup.procs")];
    }

    public void SetLimits(string name, CgroupLimits limits)
    {
        var dir = Dir(name);
        TryWrite(dir, "cpu.max", $"{limits.CpuCount * 100000} 100000");
        TryWrite(dir, "memory.max", (limits.MemoryMB * 1024L * 1024).ToString());
        TryWrite(dir, "memory.swap.max", "0");
        TryWrite(dir, "pids.max", limits.Pids.ToString());
    }

    public void Rename(string from, string to) => Directory.Move(Dir(from), Dir(to));

    private static void TryWrite(string dir, string file, string value)
    {
        var path = Path.Combine(dir, file);
        if (File.Exists(path)) CgroupDriver.Write(path, value);
    }

    public bool Exists(string name) => Directory.Exists(Dir(name));
    public IReadOnlyList<int> Pids(string name) => CgroupDriver.ReadPids(Path.Combine(Dir(name), "cgroup.procs"));
    public void Freeze(string name) => CgroupDriver.Write(Path.Combine(Dir(name), "cgroup.freeze"), "1");
    public void Thaw(string name) => CgroupDriver.Write(Path.Combine(Dir(name), "cgroup.freeze"), "0");

    public bool IsFrozen(string name)
    {
        try { return File.ReadLines(Path.Combine(Dir(name), "cgroup.events")).Any(l => l == "frozen 1"); }
        catch (IOException) { return false; }
    }

    public void KillAll(string name, TimeSpan timeout)
    {
        if (!Exists(name)) return;
        var kill = Path.Combine(Dir(name), "cgroup.kill");
        if (File.Exists(kill)) CgroupDriver.Write(kill, "1");
        CgroupDriver.WaitEmpty(() => Pids(name), pid => NativeSignals.Kill(pid, 9), timeout);
    }

    public void Remove(string name) => CgroupDriver.RemoveDir(Dir(name));

    public CgroupStats Stats(string name)
    {
        var dir = Dir(name);
        long cpu = 0;
        try
        {
            var usage = File.ReadLines(Path.Combine(dir, "cpu.stat")).FirstOrDefault(l => l.StartsWith("usage_usec ", StringComparison.Ordinal));
            if (usage is not null) cpu = long.Parse(usage.Split(' ')[1]) * 1000;
        }
        catch (IOException) { }
        var limit = CgroupDriver.Read(Path.Combine(dir, "memory.max")) is var m && long.TryParse(m, out var l) ? l : long.MaxValue;
        long oom = 0;
        try
        {
            var line = File.ReadLines(Path.Combine(dir, "memory.events")).FirstOrDefault(x => x.StartsWith("oom_kill ", StringComparison.Ordinal));
            if (line is not null) oom = long.Parse(line.Split(' ')[1]);
        }
        catch (IOException) { }
        return new CgroupStats(cpu, CgroupDriver.ReadLong(Path.Combine(dir, "memory.current")), limit, oom);
    }

    public Microsoft.Win32.SafeHandles.SafeFileHandle OpenOomEvents(string name) =>
        SandboxWatch.InotifyOnModify(Path.Combine(Dir(name), "memory.events"));

    public IReadOnlyList<string> List() =>
        Directory.Exists(_base) ? Directory.GetDirectories(_base).Select(Path.GetFileName).OfType<string>().ToList() : [];
}
