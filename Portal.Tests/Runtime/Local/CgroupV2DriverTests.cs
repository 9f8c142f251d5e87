using Portal.Core.Runtime.Local;

namespace Portal.Tests.Runtime.Local;

/// <summary>
/// The cgroup v2 driver against a directory laid out like a delegated cgroup2 tree (this CI
/// machine has the hybrid v1 layout, so the real v2 kernel files are not available here):
/// what it writes, where, and how it reads state back.
/// </summary>
public sealed class CgroupV2DriverTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("cgroup2-").FullName;

    private string Group(string name) => Path.Combine(_root, Path.GetDirectoryName(CgroupDriver.OwnPath("")) ?? "", "portal-v2-test", name);

    [Fact]
    public void Create_WritesLimits_AndReturnsTheProcsFile()
    {
        var driver = new CgroupV2Driver(_root, "portal-v2-test");
        var dir = Group("sbx1");
        Directory.CreateDirectory(dir);
        foreach (var f in new[] { "cpu.max", "memory.max", "memory.swap.max", "pids.max", "cgroup.procs", "cgroup.freeze" })
            File.WriteAllText(Path.Combine(dir, f), "");
        var procs = driver.Create("sbx1", new CgroupLimits(2, 512, 100));
        Assert.Equal([Path.Combine(dir, "cgroup.procs")], procs);
        Assert.Equal("200000 100000", File.ReadAllText(Path.Combine(dir, "cpu.max")));
        Assert.Equal((512L * 1024 * 1024).ToString(), File.ReadAllText(Path.Combine(dir, "memory.max")));
        Assert.Equal("0", File.ReadAllText(Path.Combine(dir, "memory.swap.max")));
        Assert.Equal("100", File.ReadAllText(Path.Combine(dir, "pids.max")));
    }

    [Fact]
    public void FreezeThaw_Rename_Stats_List()
    {
        var driver = new CgroupV2Driver(_root, "portal-v2-test");
        var dir = Group("sbx2");
        Directory.CreateDirectory(dir);
        driver.Freeze("sbx2");
        Assert.Equal("1", File.ReadAllText(Path.Combine(dir, "cgroup.freeze")));
        File.WriteAllText(Path.Combine(dir, "cgroup.events"), "populated 1\nfrozen 1\n");
        Assert.True(driver.IsFrozen("sbx2"));
        driver.Thaw("sbx2");
        Assert.Equal("0", File.ReadAllText(Path.Combine(dir, "cgroup.freeze")));

        File.WriteAllText(Path.Combine(dir, "cgroup.procs"), "42\n43\n");
        Assert.Equal([42, 43], driver.Pids("sbx2"));
        File.WriteAllText(Path.Combine(dir, "cpu.stat"), "usage_usec 1500\nuser_usec 1000\n");
        File.WriteAllText(Path.Combine(dir, "memory.current"), "1048576");
        File.WriteAllText(Path.Combine(dir, "memory.max"), "max");
        File.WriteAllText(Path.Combine(dir, "memory.events"), "low 0\noom 1\noom_kill 2\n");
        var stats = driver.Stats("sbx2");
        Assert.Equal(new CgroupStats(1_500_000, 1048576, long.MaxValue, 2), stats);

        driver.Rename("sbx2", "sbx3");
        Assert.True(driver.Exists("sbx3"));
        Assert.False(driver.Exists("sbx2"));
        Assert.Contains("sbx3", driver.List());
    }

    [Fact]
    public async Task OomEvents_WakeTheWatch_WhenMemoryEventsChanges()
    {
        var driver = new CgroupV2Driver(_root, "portal-v2-test");
        var dir = Group("sbx4");
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "memory.events"), "oom 0\noom_kill 0\n");
        var woke = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var watch = new SandboxWatch(_ => { }, id => woke.TrySetResult(id));
        // Our own process stands in for the sandbox's PID 1 (alive for the whole test).
        watch.Watch("sbx4", Environment.ProcessId, driver.OpenOomEvents("sbx4"));
        await Task.Delay(100, TestContext.Current.CancellationToken);
        Assert.False(woke.Task.IsCompleted); // nothing changed: no wake-up

        File.WriteAllText(Path.Combine(dir, "memory.events"), "oom 1\noom_kill 1\n");
        Assert.Equal("sbx4", await woke.Task.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken));
    }

    [Fact]
    public void Detect_PicksV2WhenTheUnifiedTreeHasControllers()
    {
        File.WriteAllText(Path.Combine(_root, "cgroup.controllers"), "cpu memory pids");
        Assert.Equal("v2", CgroupDriver.Detect(_root, "portal-v2-detect").Version);
    }

    [Fact]
    public void Detect_OnThisMachine_FindsAUsableDriver()
    {
        var driver = CgroupDriver.Detect();
        Assert.Contains(driver.Version, new[] { "v1", "v2" });
    }

    public void Dispose() => Directory.Delete(_root, true);
}
