using static Portal.Tests.Envd.Process.ProcessTestUtil;

namespace Portal.Tests.Envd.Process;

/// <summary>Background processes, Connect, List, deadlines, disconnects.</summary>
public class LifecycleTests
{
    [Fact]
    public async Task Background_ListConnectKill()
    {
        await using var envd = await EnvdServer.StartAsync();
        uint pid;
        await using (var start = await ProcessStream.StartAsync(envd, ProcessStream.Bash("while true; do echo tick; sleep 0.2; done", envs: new() { ["A"] = "1" }, cwd: "/tmp")))
            pid = start.Pid; // the client leaves right after the start event

        var (status, body) = await envd.UnaryAsync("process.Process/List", new { });
        Assert.Equal(200, status);
        var entry = body!["processes"]!.AsArray().Single(p => p!["pid"]!.GetValue<uint>() == pid)!;
        Assert.Equal("/bin/bash", entry["config"]!["cmd"]!.GetValue<string>());
        Assert.Equal("-c", entry["config"]!["args"]![1]!.GetValue<string>());
        Assert.Equal("1", entry["config"]!["envs"]!["A"]!.GetValue<string>());
        Assert.Equal("/tmp", entry["config"]!["cwd"]!.GetValue<string>());
        Assert.Null(entry["tag"]);

        await using var connected = await ProcessStream.OpenAsync(envd, "process.Process/Connect", new { process = new { pid } });
        Assert.Equal(pid, connected.Pid);
        await connected.WaitForOutputAsync("tick\n"); // live output after reconnecting

        (status, _) = await SignalAsync(envd, new { pid }, "SIGNAL_SIGKILL");
        Assert.Equal(200, status);
        await connected.ReadToEndAsync();
        Assert.Equal("signal: killed", connected.EndStatus);
        Assert.DoesNotContain(pid, await ListPidsAsync(envd));
    }

    [Fact]
    public async Task Disconnect_DoesNotKill()
    {
        await using var envd = await EnvdServer.StartAsync();
        var marker = Path.Combine(Path.GetTempPath(), "portal-disconnect-" + Guid.NewGuid().ToString("N"));
        uint pid;
        await using (var s = await ProcessStream.StartAsync(envd, ProcessStream.Bash($"sleep 1; echo survived > {marker}")))
            pid = s.Pid;
        try
        {
            Assert.True(IsAlive(pid));
            await WaitUntilAsync(() => File.Exists(marker), TimeSpan.FromSeconds(10), "the disconnected command to finish");
            Assert.Equal("survived\n", await File.ReadAllTextAsync(marker, Ct));
        }
        finally
        {
            File.Delete(marker);
        }
    }

    [Fact]
    public async Task Connect_RightAfterExit_GetsStartAndEnd()
    {
        await using var envd = await EnvdServer.StartAsync();
        uint pid;
        await using (var s = await ProcessStream.RunAsync(envd, "exit 4"))
            pid = s.Pid;
        await using var c = await ProcessStream.OpenAsync(envd, "process.Process/Connect", new { process = new { pid } });
        await c.ReadToEndAsync();
        Assert.Equal(pid, c.Pid);
        Assert.Equal(4, c.ExitCode);
        Assert.Equal(2, c.Messages.Count);
        Assert.Equal("{}", c.EndStream!.ToJsonString());
        Assert.DoesNotContain(pid, await ListPidsAsync(envd)); // exited ones are not listed
    }

    [Fact]
    public async Task Connect_UnknownPid_IsNotFound()
    {
        await using var envd = await EnvdServer.StartAsync();
        await using var c = await ProcessStream.OpenAsync(envd, "process.Process/Connect", new { process = new { pid = 999999999u } });
        Assert.Equal(200, c.Status);
        Assert.Equal("not_found", c.ErrorCode);
    }

    [Fact]
    public async Task Deadline_KillsTheProcessTree_AndEndsWithDeadlineExceeded()
    {
        await using var envd = await EnvdServer.StartAsync();
        var started = DateTime.UtcNow;
        await using var s = await ProcessStream.StartAsync(envd, ProcessStream.Bash("sleep 32 & echo $!; wait"), timeoutMs: 1500);
        await s.WaitForOutputAsync(o => o.EndsWith('\n'));
        var grandchild = uint.Parse(s.Stdout.Trim(), System.Globalization.CultureInfo.InvariantCulture);
        await s.ReadToEndAsync();

        Assert.Equal("deadline_exceeded", s.ErrorCode);
        Assert.InRange(DateTime.UtcNow - started, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(10));
        await WaitUntilAsync(() => !IsAlive(s.Pid) && !IsAlive(grandchild), TimeSpan.FromSeconds(5), "the process tree to die");
        await WaitUntilAsync(() => !ListPidsAsync(envd).Result.Contains(s.Pid), TimeSpan.FromSeconds(5), "the process to leave the list");
    }

    [Fact]
    public async Task Deadline_StillKillsAfterTheClientLeft()
    {
        await using var envd = await EnvdServer.StartAsync();
        uint pid;
        await using (var s = await ProcessStream.StartAsync(envd, ProcessStream.Bash("sleep 33"), timeoutMs: 1000))
            pid = s.Pid;
        Assert.True(IsAlive(pid));
        await WaitUntilAsync(() => !IsAlive(pid), TimeSpan.FromSeconds(8), "the deadline to kill the abandoned process");
    }

    [Fact]
    public async Task Deadline_KillsEvenWhenTheClientGivesUpFirst()
    {
        // What the SDKs do: their own timer for timeoutMs aborts the request as the deadline
        // passes, usually a moment before envd's. The process must die and leave the list anyway.
        await using var envd = await EnvdServer.StartAsync();
        using var giveUp = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        giveUp.CancelAfter(TimeSpan.FromMilliseconds(1300)); // 200 ms before the deadline
        using var request = EnvdServer.StreamRequest("process.Process/Start", ProcessStream.Bash("sleep 35"), timeoutMs: 1500);
        uint pid = 0;
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            using var response = await envd.Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, giveUp.Token);
            await using var body = await response.Content.ReadAsStreamAsync(giveUp.Token);
            await foreach (var (_, json) in EnvdServer.ReadEnvelopesAsync(body, giveUp.Token))
                pid = System.Text.Json.Nodes.JsonNode.Parse(json)!["event"]?["start"]?["pid"]?.GetValue<uint>() ?? pid;
        });
        Assert.NotEqual(0u, pid);
        Assert.True(IsAlive(pid));
        await WaitUntilAsync(() => !IsAlive(pid), TimeSpan.FromSeconds(8), "the deadline to kill the process the client gave up on");
        await WaitUntilAsync(() => !ListPidsAsync(envd).Result.Contains(pid), TimeSpan.FromSeconds(5), "the process to leave the list");
    }

    [Fact]
    public async Task NoTimeoutHeader_MeansNoDeadline()
    {
        await using var envd = await EnvdServer.StartAsync();
        await using var s = await ProcessStream.RunAsync(envd, "sleep 0.3; echo ok");
        Assert.Equal("ok\n", s.Stdout);
        Assert.Equal("{}", s.EndStream!.ToJsonString());
    }

    [Fact]
    public async Task BackgroundGrandchildHoldingStdout_DoesNotDelayTheEnd()
    {
        await using var envd = await EnvdServer.StartAsync();
        var started = DateTime.UtcNow;
        await using var s = await ProcessStream.RunAsync(envd, "sleep 34 & echo $!; echo parent-done");
        Assert.InRange(DateTime.UtcNow - started, TimeSpan.Zero, TimeSpan.FromSeconds(5));
        Assert.EndsWith("parent-done\n", s.Stdout);
        Assert.Equal(0, s.ExitCode);
        var grandchild = uint.Parse(s.Stdout.Split('\n')[0], System.Globalization.CultureInfo.InvariantCulture);
        KillQuietly(grandchild);
    }

    [Fact]
    public async Task ServerShutdown_KillsWhatIsStillRunning()
    {
        uint pid;
        await using (var envd = await EnvdServer.StartAsync())
        {
            await using var s = await ProcessStream.StartAsync(envd, ProcessStream.Bash("sleep 35"));
            pid = s.Pid;
        }
        await WaitUntilAsync(() => !IsAlive(pid), TimeSpan.FromSeconds(5), "shutdown to kill the child");
    }

    private static void KillQuietly(uint pid)
    {
        try { System.Diagnostics.Process.GetProcessById((int)pid).Kill(); } catch (ArgumentException) { } catch (InvalidOperationException) { }
    }
}
