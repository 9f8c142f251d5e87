using System.Net;
using Portal.Core.Runtime;
using Portal.Core.Runtime.Local;

namespace Portal.Tests.Runtime.Local;

[Collection(nameof(LocalRuntimeCollection))]
public sealed class LocalRuntimeLifecycleTests(LocalRuntimeFixture fx)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Create_RunsCommandsAsTheSandboxUser_WithEnvVarsFromCreate()
    {
        var sbx = await fx.CreateAsync(env: new Dictionary<string, string> { ["GREETING"] = "hello from create" });
        Assert.Equal(SandboxState.Running, sbx.State);
        var (exit, stdout, _) = await fx.RunAsync(sbx.SandboxId, "id -un; hostname; echo $GREETING; python3 -c 'print(6*7)'");
        Assert.Equal(0, exit);
        Assert.Equal($"user\n{sbx.SandboxId}\nhello from create\n42\n", stdout);
        var (_, root, _) = await fx.RunAsync(sbx.SandboxId, "id -u; sudo -n id -u", user: "root");
        Assert.Equal("0\n0\n", root);
    }

    [Fact]
    public void Runtime_RaisesTheInotifyBudget_ThatEverySandboxShares()
    {
        _ = fx.Runtime;
        Assert.True(long.Parse(File.ReadAllText("/proc/sys/fs/inotify/max_user_instances").Trim()) >= 8192);
        Assert.True(long.Parse(File.ReadAllText("/proc/sys/fs/inotify/max_user_watches").Trim()) >= 524288);
        Assert.True(long.Parse(File.ReadAllText("/proc/sys/kernel/pid_max").Trim()) >= 4194304); // ~a dozen PIDs per sandbox
    }

    [Fact]
    public async Task User_GainsRoot_ThroughPasswordlessSudo_LikeE2BsBaseImage()
    {
        var sbx = await fx.CreateAsync();
        var (exit, stdout, stderr) = await fx.RunAsync(sbx.SandboxId,
            "sudo -n id -un && sudo -n sh -c 'echo from-root > /root/made-by-sudo' && sudo -n cat /root/made-by-sudo; grep NoNewPrivs /proc/self/status");
        Assert.Equal(0, exit);
        Assert.Equal("root\nfrom-root\nNoNewPrivs:\t0\n", stdout);
        Assert.DoesNotContain("unable to resolve host", stderr); // the sandbox resolves its own hostname
    }

    [Fact]
    public async Task Pause_StopsProcesses_AndEnvd_ResumeContinues_FilesKept()
    {
        var sbx = await fx.CreateAsync();
        var id = sbx.SandboxId;
        await fx.WriteFileAsync(id, "/home/user/kept.txt", "still here");
        await fx.RunAsync(id, "nohup bash -c 'i=0; while true; do i=$((i+1)); echo $i > /tmp/counter; sleep 0.05; done' >/dev/null 2>&1 &");
        await CounterPassesAsync(id, 0);

        await fx.Runtime.PauseAsync(id, SandboxPauseMode.Memory, Ct);
        Assert.Equal(SandboxState.Paused, (await fx.Runtime.FindAsync(id, Ct))!.State);
        await Assert.ThrowsAsync<SandboxNotFoundException>(async () => await fx.Runtime.ConnectAsync(id, SandboxPorts.Envd, Ct));
        await Assert.ThrowsAsync<SandboxStateException>(() => fx.Runtime.PauseAsync(id, SandboxPauseMode.Memory, Ct));
        var upper = Path.Combine(fx.Options.SandboxesDirectory, id, "rootfs", "tmp");
        var frozenAt = await CounterAsync(id, paused: true);
        // Nothing to wait for: a frozen counter shows itself only by not moving over time
        // (eight of its 50 ms steps).
        await Task.Delay(400, Ct);
        Assert.Equal(frozenAt, await CounterAsync(id, paused: true));

        await fx.Runtime.ResumeAsync(id, Ct);
        await CounterPassesAsync(id, await CounterAsync(id, paused: false));
        using var http = fx.Envd(id);
        Assert.Equal("still here", await http.GetStringAsync("/files?path=/home/user/kept.txt", Ct));
    }

    /// <summary>Waits (bounded) for the counter inside to pass <paramref name="value"/>: it runs.</summary>
    private async Task CounterPassesAsync(string id, int value)
    {
        for (var i = 0; i < 100; i++)
        {
            var (_, stdout, _) = await fx.RunAsync(id, "cat /tmp/counter 2>/dev/null || echo 0");
            if (int.Parse(stdout.Trim()) > value) return;
            await Task.Delay(50, Ct);
        }
        Assert.Fail($"the counter inside the sandbox did not pass {value} within 5 s");
    }

    private async Task<int> CounterAsync(string id, bool paused)
    {
        if (!paused) return int.Parse((await fx.RunAsync(id, "cat /tmp/counter")).Stdout.Trim());
        // envd is frozen too: read the counter through the host's view of the sandbox's /proc-less root
        var pids = CgroupPidsOf(id);
        Assert.NotEmpty(pids);
        foreach (var pid in pids)
        {
            var path = $"/proc/{pid}/root/tmp/counter";
            if (File.Exists(path)) return int.Parse(File.ReadAllText(path).Trim());
        }
        throw new InvalidOperationException("counter not found");
    }

    private IReadOnlyList<int> CgroupPidsOf(string id)
    {
        var driver = CgroupDriver.Detect(group: fx.Options.CgroupGroup);
        return driver.Pids(id);
    }

    [Fact]
    public async Task Kill_LeavesNoProcessMountCgroupOrDirectory()
    {
        var sbx = await fx.CreateAsync();
        var id = sbx.SandboxId;
        await fx.RunAsync(id, "nohup sleep 600 >/dev/null 2>&1 &");
        var pids = CgroupPidsOf(id);
        Assert.NotEmpty(pids);

        Assert.True(await fx.Runtime.KillAsync(id, Ct));
        Assert.False(await fx.Runtime.KillAsync(id, Ct));
        Assert.Null(await fx.Runtime.FindAsync(id, Ct));
        Assert.All(pids, pid => Assert.False(IsAlive(pid), $"process {pid} survived"));
        await LocalRuntimeResourceTests.AssertNothingLeftAsync(fx.Options.SandboxesDirectory, id); // directory, mounts, loop device
        Assert.False(CgroupDriver.Detect(group: fx.Options.CgroupGroup).Exists(id));
    }

    /// <summary>Running (a zombie waiting for its parent to reap it is dead).</summary>
    private static bool IsAlive(int pid)
    {
        try { return File.ReadAllText($"/proc/{pid}/stat").Split(") ")[1][0] != 'Z'; }
        catch (IOException) { return false; }
    }

    [Fact]
    public async Task EnvdDying_IsReportedAsDied_AndTheSandboxIsCleanedUp()
    {
        var sbx = await fx.CreateAsync();
        var id = sbx.SandboxId;
        var died = new TaskCompletionSource<SandboxEvent>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var watching = Task.Run(async () =>
        {
            try { await foreach (var e in fx.Runtime.WatchAsync(cts.Token)) if (e.Kind == SandboxEventKind.Died && e.Sandbox.SandboxId == id) died.TrySetResult(e); }
            catch (OperationCanceledException) { }
        }, Ct);
        // envd ends (killed from the host): the launcher, PID 1, leaves and takes the sandbox along.
        var envd = CgroupPidsOf(id).Single(p => File.ReadAllText($"/proc/{p}/comm").StartsWith("portal-envd", StringComparison.Ordinal));
        System.Diagnostics.Process.GetProcessById(envd).Kill();
        var e = await died.Task.WaitAsync(TimeSpan.FromSeconds(20), Ct);
        Assert.Equal(SandboxState.Dead, e.Sandbox.State);
        Assert.Null(await fx.Runtime.FindAsync(id, Ct));
        Assert.False(Directory.Exists(Path.Combine(fx.Options.SandboxesDirectory, id)));
        Assert.Empty(CgroupPidsOf(id));
        cts.Cancel();
        await watching;
    }

    [Fact]
    public async Task MemoryLimit_KillsTheHog_SandboxReportsIt_AndLivesOn()
    {
        var sbx = await fx.CreateAsync(memoryMB: 96);
        var events = new List<SandboxEvent>();
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var watching = Task.Run(async () =>
        {
            try { await foreach (var e in fx.Runtime.WatchAsync(cts.Token)) lock (events) events.Add(e); }
            catch (OperationCanceledException) { }
        }, Ct);
        var (exit, _, _) = await fx.RunAsync(sbx.SandboxId, "python3 -c 'a = bytearray(400 * 1024 * 1024); print(len(a))'");
        Assert.NotEqual(0, exit);
        for (var i = 0; i < 60 && !HasOom(); i++) await Task.Delay(100, Ct);
        Assert.True(HasOom());
        var (ok, stdout, _) = await fx.RunAsync(sbx.SandboxId, "echo alive");
        Assert.Equal("alive\n", stdout);
        cts.Cancel();
        await watching;

        bool HasOom() { lock (events) return events.Any(e => e.Kind == SandboxEventKind.MemoryLimitHit && e.Sandbox.SandboxId == sbx.SandboxId); }
    }

    [Fact]
    public async Task PidsLimit_StopsForkBombs_AndKeepsAReserveForEnvd()
    {
        var sbx = await fx.CreateAsync();
        var id = sbx.SandboxId;
        var driver = CgroupDriver.Detect(group: fx.Options.CgroupGroup);
        Assert.Equal("v1", driver.Version); // the reserve needs v1 (docs/runtime-local.md); this host has it
        var userPids = new CgroupLimits(1, 1, fx.Options.PidsLimit, fx.Options.AgentPidsReserve).UserPids;

        // Fork until the kernel refuses, and hold every child until the test says so.
        var script = $$"""
            python3 - > /tmp/bomb.out 2>&1 <<'PY' &
            import os, signal, time
            kids = []
            try:
                while len(kids) < {{fx.Options.PidsLimit + 50}}:
                    pid = os.fork()
                    if pid == 0:
                        signal.pause()
                        os._exit(0)
                    kids.append(pid)
                msg = "all forks succeeded %d" % len(kids)
            except BlockingIOError:
                msg = "fork refused after %d children" % len(kids)
            # Write, then rename: the test polls for the file and must never read it half-written.
            open("/tmp/held.tmp", "w").write(msg)
            os.rename("/tmp/held.tmp", "/tmp/held")
            while not os.path.exists("/tmp/release"):
                time.sleep(0.05)
            for k in kids:
                os.kill(k, signal.SIGKILL)
            for k in kids:
                os.waitpid(k, 0)
            open("/tmp/released", "w").write("done")
            PY
            """;
        Assert.Equal(0, (await fx.RunAsync(id, script)).ExitCode);
        using var envd = fx.Envd(id);
        var held = await PollFileAsync(envd, "/tmp/held");

        // The user's processes hold all of theirs; the sandbox still has the agent's reserve.
        Assert.StartsWith("fork refused after ", held);
        Assert.InRange(int.Parse(held.Split(' ')[3]), userPids - 16, userPids);
        var pidsDir = Path.Combine("/sys/fs/cgroup/pids", CgroupDriver.OwnPath("pids"), fx.Options.CgroupGroup, id);
        var sandboxCurrent = long.Parse(File.ReadAllText(Path.Combine(pidsDir, "pids.current")).Trim());
        Assert.Equal(userPids.ToString(), File.ReadAllText(Path.Combine(pidsDir, "user", "pids.max")).Trim());
        Assert.Equal(userPids.ToString(), File.ReadAllText(Path.Combine(pidsDir, "user", "pids.current")).Trim());
        Assert.True(fx.Options.PidsLimit - sandboxCurrent >= fx.Options.AgentPidsReserve / 2,
            $"envd's reserve is gone: {sandboxCurrent} of {fx.Options.PidsLimit} pids in use");

        // envd keeps serving, many requests at once (new threads), and refuses a new command cleanly.
        var reads = await Task.WhenAll(Enumerable.Range(0, 32).Select(_ => envd.GetStringAsync("/files?path=/tmp/held", Ct)));
        Assert.All(reads, r => Assert.Equal(held, r));
        Assert.Contains("resource_exhausted", await StartRawAsync(envd, "true"));

        // Let go: commands run again.
        using (var release = new MultipartFormDataContent { { new StringContent("go"), "file", "release" } })
            (await envd.PostAsync("/files?path=/tmp/release", release, Ct)).EnsureSuccessStatusCode();
        await PollFileAsync(envd, "/tmp/released");
        Assert.Equal("back\n", (await fx.RunAsync(id, "echo back")).Stdout);
        await fx.Runtime.KillAsync(id, Ct);
    }

    private static async Task<string> PollFileAsync(HttpClient envd, string path)
    {
        for (var i = 0; i < 600; i++)
        {
            using var res = await envd.GetAsync("/files?path=" + path, Ct);
            // The file exists a moment before its content is written: wait for both.
            if (res.IsSuccessStatusCode && await res.Content.ReadAsStringAsync(Ct) is { Length: > 0 } content) return content;
            await Task.Delay(50, Ct);
        }
        throw new TimeoutException(path + " never appeared");
    }

    /// <summary>A process.Process/Start call; the whole answer as text (frames and all).</summary>
    private static async Task<string> StartRawAsync(HttpClient envd, string cmd)
    {
        var payload = System.Text.Encoding.UTF8.GetBytes($$"""{"process":{"cmd":"{{cmd}}"},"stdin":false}""");
        var frame = new byte[5 + payload.Length];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(1), (uint)payload.Length);
        payload.CopyTo(frame, 5);
        using var req = new HttpRequestMessage(HttpMethod.Post, "/process.Process/Start") { Content = new ByteArrayContent(frame) };
        req.Content.Headers.ContentType = new("application/connect+json");
        req.Headers.Authorization = System.Net.Http.Headers.AuthenticationHeaderValue.Parse("Basic dXNlcjo=");
        using var res = await envd.SendAsync(req, Ct);
        return await res.Content.ReadAsStringAsync(Ct);
    }

    [Fact]
    public async Task SecondRuntimeInstance_FindsAndUsesRunningSandboxes()
    {
        var sbx = await fx.CreateAsync();
        await fx.WriteFileAsync(sbx.SandboxId, "/home/user/before-restart.txt", "kept");
        using var second = new LocalSandboxRuntime(fx.Options);
        var found = await second.FindAsync(sbx.SandboxId, Ct);
        Assert.NotNull(found);
        Assert.Equal(SandboxState.Running, found!.State);
        var (_, stdout, _) = await fx.RunAsync(sbx.SandboxId, "cat /home/user/before-restart.txt", runtime: second);
        Assert.Equal("kept", stdout);
    }

    [Fact]
    public async Task UnknownTemplate_IsRefused()
    {
        await Assert.ThrowsAsync<TemplateNotFoundException>(() =>
            fx.Runtime.CreateAsync(new SandboxSpec { SandboxId = LocalRuntimeFixture.NewId(), TemplateId = "nope" }, Ct));
    }

    [Fact]
    public async Task Tunnel_ReachesOtherPortsInside_ClosedPortIsReported()
    {
        var sbx = await fx.CreateAsync();
        await fx.RunAsync(sbx.SandboxId, "cd /tmp && echo tunnelled > index.html && nohup python3 -m http.server 8000 --bind 127.0.0.1 >/dev/null 2>&1 &");
        using var http = new HttpClient(new SocketsHttpHandler { ConnectCallback = async (_, ct) => await fx.Runtime.ConnectAsync(sbx.SandboxId, 8000, ct) }) { BaseAddress = new Uri("http://sandbox") };
        string? body = null;
        for (var i = 0; i < 50 && body is null; i++)
        {
            try { body = await http.GetStringAsync("/index.html", Ct); }
            catch (HttpRequestException) { await Task.Delay(100, Ct); }
        }
        Assert.Equal("tunnelled\n", body);
        await Assert.ThrowsAsync<SandboxPortClosedException>(async () => await fx.Runtime.ConnectAsync(sbx.SandboxId, 8001, Ct));
    }

    [Fact]
    public async Task Tunnel_Ends_AsSoonAsTheServerInsideClosesIt()
    {
        // A server that closes every connection at once (as a server killed mid-connection does).
        const string closer = """
            cat > /tmp/closer.py <<'EOF'
            import socket
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", 8002))
            s.listen()
            while True:
                c, _ = s.accept()
                c.close()
            EOF
            nohup python3 /tmp/closer.py >/dev/null 2>&1 &
            """;
        var sbx = await fx.CreateAsync();
        await fx.RunAsync(sbx.SandboxId, closer);
        Stream? tunnel = null;
        for (var i = 0; i < 50 && tunnel is null; i++)
        {
            try { tunnel = await fx.Runtime.ConnectAsync(sbx.SandboxId, 8002, Ct); }
            catch (SandboxPortClosedException) { await Task.Delay(100, Ct); }
        }
        Assert.NotNull(tunnel);
        await using (tunnel)
        {
            // The portal reuses idle tunnels unless it sees them closed: the end must reach it
            // without a write (envd used to hold the tunnel open until the client side ended too).
            var read = await tunnel.ReadAsync(new byte[16], Ct).AsTask().WaitAsync(TimeSpan.FromSeconds(10), Ct);
            Assert.Equal(0, read);
        }
    }

    [Fact]
    public async Task Metrics_ReportMemoryAndDisk()
    {
        var sbx = await fx.CreateAsync(memoryMB: 256);
        var m = await fx.Runtime.GetMetricsAsync(sbx.SandboxId, Ct);
        Assert.NotNull(m);
        Assert.Equal(256L * 1024 * 1024, m!.MemTotal);
        Assert.True(m.MemUsed > 0);
        Assert.True(m.DiskTotal > 0);
    }
}

[CollectionDefinition(nameof(LocalRuntimeCollection))]
public sealed class LocalRuntimeCollection : ICollectionFixture<LocalRuntimeFixture>;
