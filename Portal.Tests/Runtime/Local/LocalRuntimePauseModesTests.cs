using Portal.Core.Runtime;
using Portal.Core.Runtime.Local;

namespace Portal.Tests.Runtime.Local;

/// <summary>
/// Pause with memory:false (E2B's <c>pause({memory:false})</c> / <c>autoPauseMemory:false</c>): the
/// sandbox's processes stop and its memory is freed, its files stay, and the resume boots it again
/// under the same ID with the same env vars and token and a new boot ID.
/// </summary>
[Collection(nameof(LocalRuntimeCollection))]
public sealed class LocalRuntimePauseModesTests(LocalRuntimeFixture fx)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private ICgroupDriver Cgroups => CgroupDriver.Detect(group: fx.Options.CgroupGroup);

    [Fact]
    public async Task FilesystemPause_FreesProcessesAndMemory_KeepsFiles_ResumeBootsAgain()
    {
        var sbx = await fx.CreateAsync(env: new Dictionary<string, string> { ["GREETING"] = "from create" });
        var id = sbx.SandboxId;
        await fx.WriteFileAsync(id, "/home/user/kept.txt", "still here");
        var bootBefore = (await fx.RunAsync(id, "cat /proc/sys/kernel/random/boot_id")).Stdout.Trim();
        Assert.Matches("^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", bootBefore);
        // 100 MB held by a process: the pause must give it back.
        await fx.RunAsync(id, "nohup python3 -c 'import time; a = bytearray(100 * 1024 * 1024); a[::4096] = b\"x\" * len(a[::4096]); time.sleep(600)' >/dev/null 2>&1 &");
        for (var i = 0; i < 100 && Cgroups.Stats(id).MemoryBytes < 100L << 20; i++) await Task.Delay(50, Ct);
        Assert.True(Cgroups.Stats(id).MemoryBytes >= 100L << 20, $"memory in use before the pause: {Cgroups.Stats(id).MemoryBytes}");
        var pids = Cgroups.Pids(id);

        await fx.Runtime.PauseAsync(id, SandboxPauseMode.Filesystem, Ct);

        Assert.Equal(SandboxState.Paused, (await fx.Runtime.FindAsync(id, Ct))!.State);
        Assert.All(pids, pid => Assert.False(Directory.Exists($"/proc/{pid}") && !File.ReadAllText($"/proc/{pid}/stat").Contains(") Z ", StringComparison.Ordinal), $"process {pid} survived the pause"));
        Assert.False(Cgroups.Exists(id)); // its cgroups, with whatever they had charged, are gone
        var dir = Path.Combine(fx.Options.SandboxesDirectory, id);
        Assert.DoesNotContain(File.ReadLines("/proc/self/mountinfo"), l => l.Contains(dir + "/", StringComparison.Ordinal));
        Assert.True(File.Exists(Path.Combine(dir, SandboxDisk.ImageName)));
        Assert.Equal(0, (await fx.Runtime.GetMetricsAsync(id, Ct))!.MemUsed);
        await Assert.ThrowsAsync<SandboxNotFoundException>(async () => await fx.Runtime.ConnectAsync(id, SandboxPorts.Envd, Ct));
        await Assert.ThrowsAsync<SandboxStateException>(() => fx.Runtime.PauseAsync(id, SandboxPauseMode.Filesystem, Ct));

        var resumed = await fx.Runtime.ResumeAsync(id, Ct);

        Assert.Equal(SandboxState.Running, resumed.State);
        var (exit, stdout, _) = await fx.RunAsync(id, "cat /home/user/kept.txt; echo; echo $GREETING; hostname; pgrep -c python3 || true; cat /proc/sys/kernel/random/boot_id");
        Assert.Equal(0, exit);
        var lines = stdout.Split('\n');
        Assert.Equal(["still here", "from create", id, "0"], lines[..4]);
        Assert.NotEqual(bootBefore, lines[4]);
        Assert.True(Cgroups.Exists(id));

        Assert.True(await fx.Runtime.KillAsync(id, Ct));
        await LocalRuntimeResourceTests.AssertNothingLeftAsync(fx.Options.SandboxesDirectory, id);
    }

    [Fact]
    public async Task FilesystemPaused_SurvivesARestart_AndIsKilledCleanly()
    {
        var sbx = await fx.CreateAsync();
        var id = sbx.SandboxId;
        await fx.WriteFileAsync(id, "/home/user/kept.txt", "across restarts");
        await fx.Runtime.PauseAsync(id, SandboxPauseMode.Filesystem, Ct);

        // The "restarted" runtime shares the fixture's directory and so its nftables table, and a
        // runtime that ends with no sandbox left removes that table: another sandbox stays alive
        // meanwhile, or the fixture's runtime would lose its table to this test.
        var keep = await fx.CreateAsync();
        try
        {
            using (var second = new LocalSandboxRuntime(fx.Options))
            {
                Assert.Equal(SandboxState.Paused, (await second.FindAsync(id, Ct))!.State);
                await second.ResumeAsync(id, Ct);
                Assert.Equal("across restarts", (await fx.RunAsync(id, "cat /home/user/kept.txt", runtime: second)).Stdout);
                await second.PauseAsync(id, SandboxPauseMode.Filesystem, Ct);
                Assert.True(await second.KillAsync(id, Ct));
            }
        }
        finally
        {
            await fx.Runtime.KillAsync(keep.SandboxId, CancellationToken.None);
        }
        await LocalRuntimeResourceTests.AssertNothingLeftAsync(fx.Options.SandboxesDirectory, id);
        Assert.False(Cgroups.Exists(id));
    }

    [Fact]
    public async Task Inside_CpusMemoryAndUptime_AreTheSandboxesOwn_BootIdsDiffer()
    {
        var a = await fx.Runtime.CreateAsync(new SandboxSpec { SandboxId = LocalRuntimeFixture.NewId(), TemplateId = "base", CpuCount = 1, MemoryMB = 512 }, Ct);
        var b = await fx.CreateAsync();
        var (exit, stdout, stderr) = await fx.RunAsync(a.SandboxId,
            "nproc; free -m | awk '/^Mem:/ {print $2}'; awk '/^MemTotal:/ {print $2}' /proc/meminfo; cut -d' ' -f1 /proc/uptime; cat /proc/sys/kernel/random/boot_id; grep -c ^processor /proc/cpuinfo; grep -c '^cpu[0-9]' /proc/stat");
        Assert.True(exit == 0, stderr);
        var v = stdout.Split('\n');
        Assert.Equal("1", v[0]);
        Assert.InRange(int.Parse(v[1]), 500, 512);
        Assert.Equal((512 * 1024).ToString(), v[2]);
        Assert.InRange(double.Parse(v[3], System.Globalization.CultureInfo.InvariantCulture), 0, 60);
        Assert.Equal(["1", "1"], v[5..7]); // processors in /proc/cpuinfo and /proc/stat
        var other = (await fx.RunAsync(b.SandboxId, "cat /proc/sys/kernel/random/boot_id")).Stdout.Trim();
        Assert.NotEqual(v[4], other);
        Assert.NotEqual(File.ReadAllText("/proc/sys/kernel/random/boot_id").Trim(), other);
    }
}
