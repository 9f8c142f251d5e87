using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Portal.Core.Runtime;
using Portal.Tests.Api;
using Portal.Core.Runtime.Local;

namespace Portal.Tests.Runtime.Local;

/// <summary>
/// Limits that hold: /tmp and /dev/shm cannot take the sandbox's memory, envd outlives memory
/// pressure, the template's disk size is a hard limit that keeps the host's disk safe.
/// </summary>
[Collection(nameof(LocalRuntimeCollection))]
public sealed class LocalRuntimeResourceTests(LocalRuntimeFixture fx)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task TmpAndDevShm_FillUpToTheirCap_AndTheSandboxAndEnvdLiveOn()
    {
        var sbx = await fx.CreateAsync(memoryMB: 256);
        foreach (var dir in new[] { "/tmp", "/dev/shm" })
        {
            // 2 GB, far past the sandbox's 256 MB: uncapped, the tmpfs pages exhaust its memory.
            var (exit, _, stderr) = await fx.RunAsync(sbx.SandboxId, $"dd if=/dev/zero of={dir}/fill bs=1M count=2048");
            Assert.NotEqual(0, exit);
            Assert.Contains("No space left on device", stderr);
            var (_, alive, _) = await fx.RunAsync(sbx.SandboxId, "echo alive");
            Assert.Equal("alive\n", alive);
        }
        // Both full at once, at the default caps: 50 % and 25 % of the memory.
        var (_, df, _) = await fx.RunAsync(sbx.SandboxId, "df --output=size -k /tmp /dev/shm | tail -n +2 | tr -d ' '");
        Assert.Equal(["131072", "65536"], df.Split('\n', StringSplitOptions.RemoveEmptyEntries));

        // A process that needs more than is left is the one that goes, not envd.
        var (hog, _, _) = await fx.RunAsync(sbx.SandboxId, "python3 -c 'a = bytearray(200 * 1024 * 1024); print(len(a))'");
        Assert.NotEqual(0, hog);
        var (_, after, _) = await fx.RunAsync(sbx.SandboxId, "cat /tmp/fill /dev/shm/fill | wc -c; echo alive");
        Assert.Equal($"{(128 + 64) * 1024 * 1024}\nalive\n", after);
        Assert.NotNull(await fx.Runtime.FindAsync(sbx.SandboxId, Ct));
    }

    [Fact]
    public async Task AMemoryLimitKill_AppearsInTheSandboxsLogs()
    {
        await using var host = await PortalHost.StartAsync(configure: b => b.Services.AddSingleton<ISandboxRuntime>(fx.Runtime));
        var created = await host.Admin.CreateSandboxAsync();
        var (id, token) = ((string)created["sandboxID"]!, (string?)created["envdAccessToken"]);
        try
        {
            var (exit, hogOut, hogErr) = await fx.RunAsync(id, "python3 -c 'a = bytearray(1024 * 1024 * 1024); print(len(a))'", token: token);
            Assert.True(exit is not (0 or int.MinValue), $"the hog lived: exit {exit} {hogOut} {hogErr}");
            string[] lines = [];
            for (var i = 0; i < 100 && !lines.Any(l => l.Contains("out of memory")); i++)
            {
                await Task.Delay(100, Ct);
                var (status, body) = await host.Admin.GetJsonAsync($"/sandboxes/{id}/logs");
                Assert.Equal(200, status);
                lines = body!["logs"]!.AsArray().Select(l => (string)l!["line"]!).ToArray();
            }
            Assert.True(lines.Any(l => l.Contains("out of memory: a process was killed for exceeding the 512 MB memory limit")),
                $"logs: {string.Join(" | ", lines)}");
            var (_, alive, _) = await fx.RunAsync(id, "echo alive", token: token);
            Assert.Equal("alive\n", alive);
        }
        finally
        {
            await host.Admin.DeleteJsonAsync($"/sandboxes/{id}");
        }
    }

    [Fact]
    public async Task ProcessesEnvdStarts_AreTheOomKillersFirstChoice_EnvdItsLast()
    {
        var sbx = await fx.CreateAsync();
        var (_, own, _) = await fx.RunAsync(sbx.SandboxId, "cat /proc/self/oom_score_adj");
        Assert.Equal("500", own.Trim());
        var (_, root, _) = await fx.RunAsync(sbx.SandboxId, "cat /proc/self/oom_score_adj", user: "root");
        Assert.Equal("500", root.Trim());
        // The sandbox's init and envd: -1000 where the portal may lower scores (CAP_SYS_RESOURCE),
        // else 0; either way below the processes, and envd's is back down after each spawn.
        var (_, agent, _) = await fx.RunAsync(sbx.SandboxId, "cat /proc/1/oom_score_adj /proc/$(pgrep -x portal-envd)/oom_score_adj");
        var scores = agent.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(2, scores.Length);
        Assert.All(scores, v => Assert.True(int.Parse(v) <= 0, $"init/envd score {v}"));
    }

    [Fact]
    public async Task Disk_IsCappedAtTheTemplatesSize_AFullDiskHarmsNothingOutside()
    {
        await using var rt = await PrivateRuntime.StartAsync(diskSizeMB: 64);
        var sbx = await rt.Runtime.CreateAsync(new SandboxSpec { SandboxId = LocalRuntimeFixture.NewId(), TemplateId = PrivateRuntime.Template }, Ct);
        var id = sbx.SandboxId;
        Assert.Equal(64, sbx.DiskSizeMB);
        var sandboxDir = Path.Combine(rt.Options.SandboxesDirectory, id);

        // 200 MB as `user`, then as root through sudo: both stop at the 64 MB the template declares.
        var (exit, _, stderr) = await fx.RunAsync(id, "dd if=/dev/zero of=$HOME/big bs=1M count=200", runtime: rt.Runtime);
        Assert.NotEqual(0, exit);
        Assert.Contains("No space left on device", stderr);
        (exit, _, stderr) = await fx.RunAsync(id, "sudo -n dd if=/dev/zero of=/root/big bs=1M count=200", runtime: rt.Runtime);
        Assert.NotEqual(0, exit);
        Assert.Contains("No space left on device", stderr);

        // On the host, the sandbox's writes take no more than its image: at most its size.
        var hostBytes = AllocatedBytes(sandboxDir);
        Assert.True(hostBytes <= 66L * 1024 * 1024, $"the sandbox took {hostBytes} bytes of the host's disk");

        // envd answers, the files API says why it cannot write, metrics and df agree on the size.
        var (_, alive, _) = await fx.RunAsync(id, "echo alive", runtime: rt.Runtime);
        Assert.Equal("alive\n", alive);
        using (var http = fx.Envd(id, rt.Runtime))
        {
            var form = new MultipartFormDataContent { { new ByteArrayContent(new byte[4 * 1024 * 1024]), "file", "/home/user/upload.bin" } };
            using var res = await http.PostAsync("/files?username=user", form, Ct);
            Assert.Equal((HttpStatusCode)507, res.StatusCode);
            Assert.Contains("not enough disk space", await res.Content.ReadAsStringAsync(Ct));
        }
        var m = await rt.Runtime.GetMetricsAsync(id, Ct);
        var (_, df, _) = await fx.RunAsync(id, "df -B1 --output=size,used / | tail -1", runtime: rt.Runtime);
        var dfFields = df.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(long.Parse).ToArray();
        Assert.Equal(dfFields[0], m!.DiskTotal);
        Assert.InRange(m.DiskTotal, 56L * 1024 * 1024, 64L * 1024 * 1024);
        Assert.InRange(m.DiskUsed, m.DiskTotal - 4 * 1024 * 1024, m.DiskTotal);

        // Space freed inside is usable again.
        (exit, _, _) = await fx.RunAsync(id, "rm $HOME/big && sudo -n rm /root/big && dd if=/dev/zero of=$HOME/again bs=1M count=32", runtime: rt.Runtime);
        Assert.Equal(0, exit);

        Assert.True(await rt.Runtime.KillAsync(id, Ct));
        await AssertNothingLeftAsync(rt.Options.SandboxesDirectory, id);
    }

    [Fact]
    public async Task Restart_CleansUpADeadSandbox_DiskIncluded()
    {
        await using var rt = await PrivateRuntime.StartAsync(diskSizeMB: 64);
        var sbx = await rt.Runtime.CreateAsync(new SandboxSpec { SandboxId = LocalRuntimeFixture.NewId(), TemplateId = PrivateRuntime.Template }, Ct);
        Assert.Single(LoopDevicesUnder(Path.Combine(rt.Options.SandboxesDirectory, sbx.SandboxId)));

        // The portal stops, the sandbox dies meanwhile: the next runtime over the directory removes it, disk and all.
        rt.Runtime.Dispose();
        CgroupDriver.Detect(group: rt.Options.CgroupGroup).KillAll(sbx.SandboxId, TimeSpan.FromSeconds(10));
        using (var second = new LocalSandboxRuntime(rt.Options))
            Assert.Null(await second.FindAsync(sbx.SandboxId, Ct));
        await AssertNothingLeftAsync(rt.Options.SandboxesDirectory, sbx.SandboxId);
    }

    [Fact]
    public async Task ClaimingAWarmSandbox_WithAnotherMemoryLimit_ResizesTmpAndDevShm()
    {
        await using var rt = await PrivateRuntime.StartAsync(diskSizeMB: 64, warmPool: 1);
        for (var i = 0; i < 600 && rt.Runtime.WarmCount(PrivateRuntime.Template) == 0; i++) await Task.Delay(100, Ct);
        Assert.Equal(1, rt.Runtime.WarmCount(PrivateRuntime.Template));
        var sbx = await rt.Runtime.CreateAsync(new SandboxSpec { SandboxId = LocalRuntimeFixture.NewId(), TemplateId = PrivateRuntime.Template, MemoryMB = 128 }, Ct);
        var (_, df, _) = await fx.RunAsync(sbx.SandboxId, "df --output=size -k /tmp /dev/shm | tail -n +2 | tr -d ' '", runtime: rt.Runtime);
        Assert.Equal(["65536", "32768"], df.Split('\n', StringSplitOptions.RemoveEmptyEntries));

        // Warm sandboxes go with the runtime that made them, their disks too.
        await rt.DisposeAsync();
        for (var i = 0; i < 100 && LoopDevicesUnder(rt.DataDirectory).Count > 0; i++) await Task.Delay(100, Ct);
        Assert.Empty(LoopDevicesUnder(rt.DataDirectory));
    }

    /// <summary>Bytes the files under <paramref name="dir"/> occupy on the host's disk (what du counts).</summary>
    private static long AllocatedBytes(string dir)
    {
        var psi = new System.Diagnostics.ProcessStartInfo("du", ["-s", "-B1", "-x", dir]) { RedirectStandardOutput = true };
        using var p = System.Diagnostics.Process.Start(psi)!;
        var output = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        return long.Parse(output.Split('\t')[0]);
    }

    /// <summary>Loop devices whose backing file lies under <paramref name="dir"/>.</summary>
    internal static List<string> LoopDevicesUnder(string dir)
    {
        var found = new List<string>();
        foreach (var dev in Directory.GetDirectories("/sys/block", "loop*"))
        {
            try
            {
                var backing = File.ReadAllText(Path.Combine(dev, "loop", "backing_file")).Trim();
                if (backing.StartsWith(dir + "/", StringComparison.Ordinal)) found.Add($"{Path.GetFileName(dev)}: {backing}");
            }
            catch (IOException) { /* not attached */ }
        }
        return found;
    }

    /// <summary>No directory, mount or loop device of the sandbox (the loop device goes once its namespace has).</summary>
    internal static async Task AssertNothingLeftAsync(string sandboxesDirectory, string id)
    {
        var dir = Path.Combine(sandboxesDirectory, id);
        Assert.False(Directory.Exists(dir));
        Assert.DoesNotContain(id, File.ReadAllText("/proc/self/mountinfo"));
        for (var i = 0; i < 100 && LoopDevicesUnder(dir).Count > 0; i++) await Task.Delay(100, Ct);
        Assert.Empty(LoopDevicesUnder(dir));
    }

    /// <summary>A runtime over its own data directory with a template "small" (the base rootfs, a small disk).</summary>
    private sealed class PrivateRuntime : IAsyncDisposable
    {
        public const string Template = "small";
        private PrivateRuntime(string dataDir, LocalRuntimeOptions options)
        {
            DataDirectory = dataDir;
            Options = options;
            Runtime = new LocalSandboxRuntime(options);
        }

        public string DataDirectory { get; }
        public LocalRuntimeOptions Options { get; }
        public LocalSandboxRuntime Runtime { get; }

        public static Task<PrivateRuntime> StartAsync(int diskSizeMB, int warmPool = 0)
        {
            var dataDir = Path.Combine("/var/tmp", $"portal-disk-tests-{Guid.NewGuid():N}"[..32]);
            var templates = Path.Combine(dataDir, "templates");
            var baseTemplates = Environment.GetEnvironmentVariable("PORTAL_TEMPLATES_DIR") ?? "/var/lib/sandbox-portal/templates";
            Directory.CreateDirectory(Path.Combine(templates, Template));
            File.CreateSymbolicLink(Path.Combine(templates, Template, "rootfs"), Path.Combine(baseTemplates, "base", "rootfs"));
            File.WriteAllText(Path.Combine(templates, Template, "template.json"),
                $$"""{ "templateId": "{{Template}}", "aliases": [], "cpuCount": 1, "memoryMB": 512, "diskSizeMB": {{diskSizeMB}}, "warmPoolSize": {{warmPool}} }""");
            return Task.FromResult(new PrivateRuntime(dataDir, new LocalRuntimeOptions
            {
                SandboxesDirectory = Path.Combine(dataDir, "sandboxes"),
                TemplatesDirectory = templates,
                EnvdPath = Path.Combine(LocalRuntimeFixture.RepoRoot, "artifacts", "envd", "portal-envd"),
                CgroupGroup = "portal-test-" + Path.GetFileName(dataDir)[^8..],
                Network = { Uplink = "none" },
            }));
        }

        public async ValueTask DisposeAsync()
        {
            foreach (var s in await Runtime.ListAsync(CancellationToken.None)) await Runtime.KillAsync(s.SandboxId, CancellationToken.None);
            Runtime.Dispose();
            try { Directory.Delete(DataDirectory, true); } catch (IOException) { }
        }
    }
}
