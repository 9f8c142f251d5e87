using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Portal.Core.Runtime;
using Portal.Core.Runtime.Kubernetes;
using Portal.FakeKubernetes;
using Portal.Tests.Envd;

namespace Portal.Tests.Runtime.Kubernetes;

/// <summary>The Kubernetes runtime against the FAKE API server and FAKE kubelet (real envd processes on 127.B.x.y).</summary>
public sealed class KubernetesSandboxRuntimeTests : IAsyncLifetime
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;
    private FakeCluster _cluster = null!;

    public async ValueTask InitializeAsync() => _cluster = await FakeCluster.StartAsync();
    public async ValueTask DisposeAsync() => await _cluster.DisposeAsync();

    private static SandboxSpec Spec(string template = "base", string? token = null) => new()
    {
        SandboxId = "k" + Guid.NewGuid().ToString("N")[..12],
        TemplateId = template,
        EnvVars = new Dictionary<string, string> { ["FROM_CREATE"] = "yes" },
        EnvdAccessToken = token,
    };

    private static HttpClient EnvdHttp(ISandboxRuntime runtime, string id, string? token = null)
    {
        var ep = (IPEndPoint)runtime.DirectEndPoint(id, SandboxPorts.Envd)!;
        var http = new HttpClient { BaseAddress = new Uri($"http://{ep}") };
        if (token is not null) http.DefaultRequestHeaders.Add("X-Access-Token", token);
        return http;
    }

    private static ConcurrentQueue<SandboxEvent> Collect(ISandboxRuntime runtime, CancellationToken ct)
    {
        var events = new ConcurrentQueue<SandboxEvent>();
        _ = Task.Run(async () =>
        {
            try { await foreach (var e in runtime.WatchAsync(ct)) events.Enqueue(e); }
            catch (OperationCanceledException) { }
        }, CancellationToken.None);
        return events;
    }

    [Fact]
    public async Task ColdCreate_StartsAPod_WhoseEnvdAnswersAtThePodIp_WithTheCreatesEnvVars()
    {
        var runtime = await _cluster.RuntimeAsync(new() { ["base"] = FakeCluster.Template() });
        var spec = Spec(token: "tok-" + Guid.NewGuid().ToString("N"));
        var created = await runtime.CreateAsync(spec, Ct);

        Assert.Equal(SandboxState.Running, created.State);
        Assert.Equal(1, created.CpuCount);
        var pod = Assert.Single(_cluster.Pods($"{SandboxPods.SandboxIdLabel}={spec.SandboxId}"));
        Assert.StartsWith($"sbx-{spec.SandboxId}-", pod["metadata"]!["name"]!.GetValue<string>());
        Assert.Equal("256Mi", pod["spec"]!["containers"]![0]!["resources"]!["limits"]!["memory"]!.GetValue<string>());
        Assert.Equal("install-envd", pod["spec"]!["initContainers"]![0]!["name"]!.GetValue<string>());
        var ep = (IPEndPoint)runtime.DirectEndPoint(spec.SandboxId, SandboxPorts.Envd)!;
        Assert.Equal(pod["status"]!["podIP"]!.GetValue<string>(), ep.Address.ToString());

        using var http = EnvdHttp(runtime, spec.SandboxId, spec.EnvdAccessToken);
        var envs = await http.GetFromJsonAsync<Dictionary<string, string>>("/envs", Ct);
        Assert.Equal("yes", envs!["FROM_CREATE"]);
        // The token reached envd: without it, it refuses.
        using var anonymous = EnvdHttp(runtime, spec.SandboxId);
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync("/envs", Ct)).StatusCode);

        Assert.Equal(spec.SandboxId, Assert.Single(await runtime.ListAsync(Ct)).SandboxId);
        await using var stream = await runtime.ConnectAsync(spec.SandboxId, SandboxPorts.Envd, Ct);
        await Assert.ThrowsAsync<SandboxPortClosedException>(async () => await runtime.ConnectAsync(spec.SandboxId, 1, Ct));
    }

    [Fact]
    public async Task WarmPool_ACreateClaimsAReadyPod_ThePoolIsRefilled()
    {
        var runtime = await _cluster.RuntimeAsync(new() { ["base"] = FakeCluster.Template(warm: 2) });
        await FakeCluster.EventuallyAsync(() => runtime.WarmCount("base") == 2, "two ready warm pods");
        Assert.Contains(new WarmPoolFill("base", 2, 2), await runtime.GetWarmPoolsAsync(Ct)); // the overview's figure
        var warmNames = _cluster.Pods($"{SandboxPods.StateLabel}={SandboxPods.Warm}").Select(p => p["metadata"]!["name"]!.GetValue<string>()).ToHashSet();

        var spec = Spec();
        await runtime.CreateAsync(spec, Ct);

        var pod = Assert.Single(_cluster.Pods($"{SandboxPods.SandboxIdLabel}={spec.SandboxId}"));
        Assert.Contains(pod["metadata"]!["name"]!.GetValue<string>(), warmNames);
        using var http = EnvdHttp(runtime, spec.SandboxId);
        Assert.Equal("yes", (await http.GetFromJsonAsync<Dictionary<string, string>>("/envs", Ct))!["FROM_CREATE"]);
        await FakeCluster.EventuallyAsync(() => runtime.WarmCount("base") == 2, "the pool refilled to two");
        Assert.Equal(3, _cluster.Pods(SandboxPods.Selector).Count);
        // A create with other sizes than the template's cannot use a warm pod.
        var big = Spec() with { MemoryMB = 512 };
        await runtime.CreateAsync(big, Ct);
        Assert.StartsWith("sbx-", Assert.Single(_cluster.Pods($"{SandboxPods.SandboxIdLabel}={big.SandboxId}"))["metadata"]!["name"]!.GetValue<string>());
    }

    [Fact]
    public async Task WarmPool_IsFilledOnlyWhileThisReplicaIsTheFiller()
    {
        // Two replicas' runtimes on one cluster: only the one told to fill (the "pools" lease holder) creates warm pods.
        var filler = await _cluster.RuntimeAsync(new() { ["base"] = FakeCluster.Template(warm: 2) });
        var other = await _cluster.RuntimeAsync(new() { ["base"] = FakeCluster.Template(warm: 2) });
        other.FillWarmPools(false);
        filler.FillWarmPools(false);
        await FakeCluster.EventuallyAsync(() => other.WarmCount("base") == _cluster.Pods($"{SandboxPods.StateLabel}={SandboxPods.Warm}").Count, "both see the same pods");
        var before = _cluster.Pods(SandboxPods.Selector).Count;
        filler.FillWarmPools(true);
        await FakeCluster.EventuallyAsync(() => other.WarmCount("base") == 2, "the filler filled the pool both see");
        // The other claims from it; only the filler refills.
        await other.CreateAsync(Spec(), Ct);
        await FakeCluster.EventuallyAsync(() => filler.WarmCount("base") == 2, "the filler refilled");
        await Task.Delay(500, Ct); // a second filler would have added its own pods by now
        Assert.Equal(2, _cluster.Pods($"{SandboxPods.StateLabel}={SandboxPods.Warm}").Count);
        Assert.True(_cluster.Pods(SandboxPods.Selector).Count <= before + 3);
    }

    [Fact]
    public async Task Kill_DeletesThePod_ReportsKilledNotDied_AndIsFalseTheSecondTime()
    {
        var runtime = await _cluster.RuntimeAsync(new() { ["base"] = FakeCluster.Template() });
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var events = Collect(runtime, stop.Token);
        var spec = Spec();
        await runtime.CreateAsync(spec, Ct);
        Assert.True(await runtime.KillAsync(spec.SandboxId, Ct));
        Assert.Empty(_cluster.Pods($"{SandboxPods.SandboxIdLabel}={spec.SandboxId}"));
        Assert.Null(await runtime.FindAsync(spec.SandboxId, Ct));
        Assert.False(await runtime.KillAsync(spec.SandboxId, Ct));
        await Task.Delay(300, Ct); // the watch's DELETED arrives: it must not read as a death
        Assert.Equal([SandboxEventKind.Created, SandboxEventKind.Killed], events.Select(e => e.Kind).ToArray());
        Assert.Throws<SandboxNotFoundException>(() => runtime.DirectEndPoint(spec.SandboxId, SandboxPorts.Envd));
    }

    [Fact]
    public async Task FreezePause_StopsTheSandboxsProcesses_ResumeContinuesThem()
    {
        var runtime = await _cluster.RuntimeAsync(new() { ["base"] = FakeCluster.Template() });
        var spec = Spec(token: "t" + Guid.NewGuid().ToString("N"));
        await runtime.CreateAsync(spec, Ct);
        var ep = (IPEndPoint)runtime.DirectEndPoint(spec.SandboxId, SandboxPorts.Envd)!;
        using var http = new HttpClient { BaseAddress = new Uri($"http://{ep}") };
        // A process inside: envd's child, as every command an SDK runs.
        using var start = EnvdServer.StreamRequest("process.Process/Start", new { process = new { cmd = "/bin/sleep", args = new[] { "120" } } }, user: "user");
        start.Headers.Add("X-Access-Token", spec.EnvdAccessToken);
        using var res = await http.SendAsync(start, HttpCompletionOption.ResponseHeadersRead, Ct);
        await using var body = await res.Content.ReadAsStreamAsync(Ct);
        var first = await EnvdServer.ReadEnvelopesAsync(body, Ct).FirstAsync(Ct);
        var pid = JsonNode.Parse(first.Json)?["event"]?["start"]?["pid"]?.GetValue<int>() ?? throw new InvalidOperationException($"no start event: {(int)res.StatusCode} {first.Json}");

        // A Freeze template cannot free memory: memory:false is refused, the sandbox runs on.
        var refused = await Assert.ThrowsAsync<NotSupportedException>(() => runtime.PauseAsync(spec.SandboxId, SandboxPauseMode.Filesystem, Ct));
        Assert.Contains("PauseMode", refused.Message);
        Assert.Equal(SandboxState.Running, (await runtime.FindAsync(spec.SandboxId, Ct))!.State);
        await runtime.PauseAsync(spec.SandboxId, SandboxPauseMode.Memory, Ct);
        Assert.Equal('T', ProcState(pid));
        Assert.Equal(SandboxState.Paused, (await runtime.FindAsync(spec.SandboxId, Ct))!.State);
        await Assert.ThrowsAsync<SandboxNotFoundException>(async () => await runtime.ConnectAsync(spec.SandboxId, SandboxPorts.Envd, Ct));
        await Assert.ThrowsAsync<SandboxStateException>(() => runtime.PauseAsync(spec.SandboxId, SandboxPauseMode.Memory, Ct));

        var resumed = await runtime.ResumeAsync(spec.SandboxId, Ct);
        Assert.Equal(SandboxState.Running, resumed.State);
        Assert.NotEqual('T', ProcState(pid));
        await Assert.ThrowsAsync<SandboxStateException>(() => runtime.ResumeAsync(spec.SandboxId, Ct));
        Assert.True(await runtime.KillAsync(spec.SandboxId, Ct));
    }

    private static char ProcState(int pid)
    {
        var stat = File.ReadAllText($"/proc/{pid}/stat");
        return stat[stat.LastIndexOf(')') + 2];
    }

    [Fact]
    public async Task StopPause_DeletesThePod_KeepsTheHomeClaim_ResumeStartsANewPodOnIt()
    {
        var runtime = await _cluster.RuntimeAsync(new() { ["disk"] = FakeCluster.Template(pause: KubernetesPauseMode.Stop, home: true) });
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var events = Collect(runtime, stop.Token);
        var spec = Spec("disk", token: "t" + Guid.NewGuid().ToString("N"));
        await runtime.CreateAsync(spec, Ct);
        var claim = _cluster.Store.Get("persistentvolumeclaims", FakeCluster.Namespace, SandboxPods.ClaimName(spec.SandboxId));
        Assert.Equal("100Mi", claim["spec"]!["resources"]!["requests"]!["storage"]!.GetValue<string>());
        var firstPod = Assert.Single(_cluster.Pods($"{SandboxPods.SandboxIdLabel}={spec.SandboxId}"))["metadata"]!["name"]!.GetValue<string>();

        // memory:false is what a Stop template does anyway: the pod goes, the home volume stays.
        await runtime.PauseAsync(spec.SandboxId, SandboxPauseMode.Filesystem, Ct);
        Assert.Empty(_cluster.Pods($"{SandboxPods.SandboxIdLabel}={spec.SandboxId}"));
        Assert.Equal(SandboxState.Paused, Assert.Single(await runtime.ListAsync(Ct)).State);
        // A second replica starting now finds it paused, from the claim alone.
        var other = await _cluster.RuntimeAsync(new() { ["disk"] = FakeCluster.Template(pause: KubernetesPauseMode.Stop, home: true) });
        Assert.Equal(SandboxState.Paused, (await other.FindAsync(spec.SandboxId, Ct))!.State);

        var resumed = await runtime.ResumeAsync(spec.SandboxId, Ct);
        Assert.Equal(SandboxState.Running, resumed.State);
        var pod = Assert.Single(_cluster.Pods($"{SandboxPods.SandboxIdLabel}={spec.SandboxId}"));
        Assert.NotEqual(firstPod, pod["metadata"]!["name"]!.GetValue<string>());
        Assert.Equal(SandboxPods.ClaimName(spec.SandboxId), pod["spec"]!["volumes"]!.AsArray().Single(v => v!["name"]!.GetValue<string>() == "home")!["persistentVolumeClaim"]!["claimName"]!.GetValue<string>());
        // The new pod's envd got the same token and env vars back.
        using var http = EnvdHttp(runtime, spec.SandboxId, spec.EnvdAccessToken);
        Assert.Equal("yes", (await http.GetFromJsonAsync<Dictionary<string, string>>("/envs", Ct))!["FROM_CREATE"]);

        Assert.True(await runtime.KillAsync(spec.SandboxId, Ct));
        Assert.Empty(_cluster.Store.List("persistentvolumeclaims", FakeCluster.Namespace, LabelSelector.Parse(null), out _));
        await Task.Delay(300, Ct);
        Assert.DoesNotContain(events, e => e.Kind == SandboxEventKind.Died);
        Assert.Equal([SandboxEventKind.Created, SandboxEventKind.Paused, SandboxEventKind.Resumed, SandboxEventKind.Killed], events.Select(e => e.Kind).ToArray());
    }

    [Fact]
    public async Task PodDeletedBehindThePortalsBack_TheSandboxDies()
    {
        var runtime = await _cluster.RuntimeAsync(new() { ["base"] = FakeCluster.Template() });
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var events = Collect(runtime, stop.Token);
        var spec = Spec();
        await runtime.CreateAsync(spec, Ct);
        var name = Assert.Single(_cluster.Pods($"{SandboxPods.SandboxIdLabel}={spec.SandboxId}"))["metadata"]!["name"]!.GetValue<string>();

        _cluster.Store.Delete("pods", FakeCluster.Namespace, name); // kubectl delete pod

        await FakeCluster.EventuallyAsync(() => events.Any(e => e.Kind == SandboxEventKind.Died), "a Died event");
        var died = events.Single(e => e.Kind == SandboxEventKind.Died);
        Assert.Equal(spec.SandboxId, died.Sandbox.SandboxId);
        Assert.Equal(SandboxState.Dead, died.Sandbox.State);
        Assert.Contains("deleted outside the portal", died.Reason);
        Assert.Null(await runtime.FindAsync(spec.SandboxId, Ct));
    }

    [Fact]
    public async Task PodFailedOnTheNode_TheSandboxDies_AndTheFailedPodIsRemoved()
    {
        var runtime = await _cluster.RuntimeAsync(new() { ["base"] = FakeCluster.Template() });
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var events = Collect(runtime, stop.Token);
        var spec = Spec();
        await runtime.CreateAsync(spec, Ct);
        var name = Assert.Single(_cluster.Pods($"{SandboxPods.SandboxIdLabel}={spec.SandboxId}"))["metadata"]!["name"]!.GetValue<string>();

        _cluster.Kubelet.FailPod(FakeCluster.Namespace, name, "Evicted");

        await FakeCluster.EventuallyAsync(() => events.Any(e => e.Kind == SandboxEventKind.Died), "a Died event");
        Assert.Contains("Evicted", events.Single(e => e.Kind == SandboxEventKind.Died).Reason);
        await FakeCluster.EventuallyAsync(() => _cluster.Pods($"{SandboxPods.SandboxIdLabel}={spec.SandboxId}").Count == 0, "the failed pod deleted");
        await Task.Delay(200, Ct);
        Assert.Single(events, e => e.Kind == SandboxEventKind.Died);
    }

    [Fact]
    public async Task WatchTooOld_410Gone_TheRuntimeListsAgain_AndADeletionInTheGapStillKillsTheSandbox()
    {
        var runtime = await _cluster.RuntimeAsync(new() { ["base"] = FakeCluster.Template() });
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var events = Collect(runtime, stop.Token);
        var spec = Spec();
        await runtime.CreateAsync(spec, Ct);
        var name = Assert.Single(_cluster.Pods($"{SandboxPods.SandboxIdLabel}={spec.SandboxId}"))["metadata"]!["name"]!.GetValue<string>();
        var watchesBefore = _cluster.Server.Requests.Count(r => r.Verb == "watch" && r.Resource == "pods");

        _cluster.Server.HoldWatches();
        _cluster.Server.CloseWatches(); // the runtime resumes, and waits
        await FakeCluster.EventuallyAsync(() => _cluster.Server.Requests.Count(r => r.Verb == "watch" && r.Resource == "pods") > watchesBefore, "the resumed watch");
        _cluster.Store.Delete("pods", FakeCluster.Namespace, name);
        _cluster.Store.Compact();
        var listsBefore = _cluster.Server.Requests.Count(r => r.Verb == "list" && r.Resource == "pods");
        _cluster.Server.ReleaseWatches();

        await FakeCluster.EventuallyAsync(() => events.Any(e => e.Kind == SandboxEventKind.Died), "the death found by the fresh list");
        Assert.True(_cluster.Server.Requests.Count(r => r.Verb == "list" && r.Resource == "pods") > listsBefore);
        Assert.Null(await runtime.FindAsync(spec.SandboxId, Ct));
        // And the watch works again afterwards.
        var second = Spec();
        await runtime.CreateAsync(second, Ct);
        Assert.NotNull(await runtime.FindAsync(second.SandboxId, Ct));
    }

    [Fact]
    public async Task UnknownTemplate_AndDuplicateId_AreRefused()
    {
        var runtime = await _cluster.RuntimeAsync(new() { ["base"] = FakeCluster.Template() });
        await Assert.ThrowsAsync<TemplateNotFoundException>(() => runtime.CreateAsync(Spec("nope"), Ct));
        var spec = Spec();
        await runtime.CreateAsync(spec, Ct);
        await Assert.ThrowsAsync<SandboxStateException>(() => runtime.CreateAsync(spec, Ct));
        await Assert.ThrowsAsync<ArgumentException>(() => runtime.CreateAsync(spec with { SandboxId = "a-b" }, Ct));
        await Assert.ThrowsAsync<SandboxNotFoundException>(() => runtime.PauseAsync("nosuch", SandboxPauseMode.Memory, Ct));
    }
}
