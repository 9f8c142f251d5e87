using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Text.Json.Nodes;
using System.Threading.Channels;
using k8s;
using k8s.Autorest;
using k8s.Models;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Portal.Core.Runtime.Kubernetes;

/// <summary>
/// Sandboxes as pods. The cluster is the only state: pods (warm or claimed, labelled
/// <see cref="SandboxPods"/>) and, for templates with a persistent home, one claim per sandbox
/// that also keeps a stopped sandbox's record. Two informers (list + watch) mirror both into
/// memory; reads never call the API server. Several portal replicas can share one namespace:
/// a warm pod is claimed with a merge patch that carries the resourceVersion the claimer saw,
/// so the API server lets exactly one claim through and answers the others 409 Conflict
/// (they try the next pod). Traffic goes straight to <c>podIP:port</c>. See docs/kubernetes.md.
/// </summary>
public sealed class KubernetesSandboxRuntime : ISandboxRuntime, IAsyncDisposable
{
    private readonly KubernetesRuntimeOptions _options;
    private readonly IKubernetes _client;
    private readonly KubernetesTemplateCatalog _templates;
    private readonly TimeProvider _time;
    private readonly ILogger _log;
    private readonly PodEnvdClient _envd = new();
    private readonly ResourceInformer<V1Pod> _pods;
    private readonly ResourceInformer<V1PersistentVolumeClaim> _claims;
    /// <summary>Sandbox ID → name of its pod (claimed pods only), kept by the pod handler.</summary>
    private readonly ConcurrentDictionary<string, string> _podOf = new(StringComparer.Ordinal);
    /// <summary>Pods this replica deleted on purpose (kill, stop): their disappearance is no death.</summary>
    private readonly ConcurrentDictionary<string, byte> _deliberate = new(StringComparer.Ordinal);
    /// <summary>Pods whose death was reported already (a failed pod is then deleted).</summary>
    private readonly ConcurrentDictionary<string, byte> _reported = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, byte> _starting = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, TaskCompletionSource> _podChanged = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, SemaphoreSlim> _gates = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, int> _warmCreating = new(StringComparer.Ordinal);
    private readonly RuntimeEventHub _events;
    private readonly Timer _refill;
    private int _refilling, _refillAgain;
    private volatile bool _disposed;

    public KubernetesSandboxRuntime(KubernetesRuntimeOptions options, IKubernetes client, TimeProvider? time = null, ILogger<KubernetesSandboxRuntime>? logger = null)
    {
        _options = options;
        _client = client;
        _templates = new KubernetesTemplateCatalog(options);
        _time = time ?? TimeProvider.System;
        _events = new RuntimeEventHub(_time);
        _log = (ILogger?)logger ?? NullLogger.Instance;
        var ns = options.Namespace;
        _pods = new ResourceInformer<V1Pod>(
            async ct =>
            {
                var list = await client.CoreV1.ListNamespacedPodAsync(ns, labelSelector: SandboxPods.Selector, cancellationToken: ct);
                return (list.Items, list.Metadata.ResourceVersion);
            },
            (rv, onError, ct) => client.CoreV1.WatchListNamespacedPodAsync(ns, labelSelector: SandboxPods.Selector, resourceVersion: rv,
                allowWatchBookmarks: true, timeoutSeconds: 300, onError: onError, cancellationToken: ct),
            OnPodChanged, _log, TrimPod);
        _claims = new ResourceInformer<V1PersistentVolumeClaim>(
            async ct =>
            {
                var list = await client.CoreV1.ListNamespacedPersistentVolumeClaimAsync(ns, labelSelector: SandboxPods.Selector, cancellationToken: ct);
                return (list.Items, list.Metadata.ResourceVersion);
            },
            (rv, onError, ct) => client.CoreV1.WatchListNamespacedPersistentVolumeClaimAsync(ns, labelSelector: SandboxPods.Selector, resourceVersion: rv,
                allowWatchBookmarks: true, timeoutSeconds: 300, onError: onError, cancellationToken: ct),
            (_, _) => { }, _log);
        _pods.Start();
        _claims.Start();
        _refill = new Timer(_ => KickRefill(), null, TimeSpan.Zero, TimeSpan.FromSeconds(5));
    }

    /// <summary>The runtime reads a pod's metadata and status only; its spec stays on the server.</summary>
    private static V1Pod TrimPod(V1Pod pod)
    {
        pod.Spec = null!;
        pod.Metadata.ManagedFields = null;
        pod.Status?.ContainerStatuses?.Clear();
        pod.Status?.InitContainerStatuses?.Clear();
        return pod;
    }

    public string Name => "kubernetes";
    public ITemplateCatalog Templates => _templates;

    /// <summary>Both caches hold their first list (tests, benchmarks).</summary>
    public Task Synced => Task.WhenAll(_pods.Synced, _claims.Synced);

    /// <summary>Pods of the namespace the portal manages, as the watch last saw them.</summary>
    public int CachedPods => _pods.Items.Count();

    /// <summary>Ready, unclaimed pods of a template.</summary>
    public int WarmCount(string templateId) => WarmPods(templateId).Count(SandboxPods.IsReady);

    private IEnumerable<V1Pod> WarmPods(string templateId)
    {
        var pool = SandboxPods.LabelValue(templateId);
        return _pods.Items.Where(p => SandboxPods.Label(p, SandboxPods.StateLabel) == SandboxPods.Warm
            && SandboxPods.Label(p, SandboxPods.PoolLabel) == pool
            && p.Metadata.DeletionTimestamp is null && !SandboxPods.HasEnded(p));
    }

    // ---- create ----

    public async Task<SandboxInstance> CreateAsync(SandboxSpec spec, CancellationToken ct)
    {
        if (!IsValidId(spec.SandboxId)) throw new ArgumentException($"invalid sandbox ID '{spec.SandboxId}': lowercase letters and digits only");
        // Only what the internet label expresses (all or nothing); finer rules are planned (docs/networking.md), never ignored.
        var denyAll = spec.Egress.AllowCidrs.Count == 0 && spec.Egress.AllowDomains.Count == 0 && spec.Egress.DenyCidrs.SequenceEqual([new Local.Network.Ipv4Cidr(0, 0)]);
        if (!spec.Egress.IsOpen && !denyAll)
            throw new DomainException(DomainErrorKind.InvalidArgument, "network.allowOut / denyOut are not supported by the kubernetes runtime yet (only allow_internet_access)");
        await Synced.WaitAsync(ct);
        var template = await _templates.FindAsync(spec.TemplateId, ct) ?? throw new TemplateNotFoundException(spec.TemplateId);
        var t = _templates.Options(template.TemplateId);
        var id = spec.SandboxId;
        if (PodOf(id) is not null || StoppedClaim(id) is not null || !_starting.TryAdd(id, 0))
            throw new SandboxStateException(id, SandboxState.Running, $"sandbox '{id}' already exists");
        _events.BeginCreate(id);
        try
        {
            var cpu = spec.CpuCount ?? template.CpuCount;
            var memory = spec.MemoryMB ?? template.MemoryMB;
            var annotations = SandboxPods.SandboxAnnotations(spec, template.TemplateId, cpu, memory, _time.GetUtcNow());
            // A warm pod's resources are fixed at its start (an in-place resize needs pods/resize
            // and a recent cluster): only creates with the template's own sizes can take one.
            V1Pod? pod = null;
            if (t.WarmPoolSize > 0 && t.PersistentHome is null && cpu == template.CpuCount && memory == template.MemoryMB)
                pod = await TryClaimAsync(spec, template.TemplateId, annotations, ct);
            pod ??= await StartColdAsync(spec, template.TemplateId, t, cpu, memory, annotations, ct);
            var instance = ToInstance(pod);
            Publish(SandboxEventKind.Created, instance);
            return instance;
        }
        finally
        {
            _starting.TryRemove(id, out _);
            _events.EndCreate(id);
            KickRefill();
        }
    }

    /// <summary>
    /// Claims a ready warm pod: a merge patch that relabels it and carries the resourceVersion
    /// this replica saw. Whoever patches first wins; everyone else gets 409 and tries another.
    /// </summary>
    private async Task<V1Pod?> TryClaimAsync(SandboxSpec spec, string templateId, Dictionary<string, string> annotations, CancellationToken ct)
    {
        var candidates = WarmPods(templateId).Where(SandboxPods.IsReady).ToArray();
        // Replicas (and concurrent creates here) start at different pods: fewer conflicts.
        Random.Shared.Shuffle(candidates);
        foreach (var candidate in candidates)
        {
            var patch = new JsonObject
            {
                ["metadata"] = new JsonObject
                {
                    ["resourceVersion"] = candidate.Metadata.ResourceVersion,
                    ["labels"] = new JsonObject
                    {
                        [SandboxPods.StateLabel] = SandboxPods.Claimed,
                        [SandboxPods.SandboxIdLabel] = spec.SandboxId,
                        [SandboxPods.InternetLabel] = spec.AllowInternetAccess && spec.Egress.IsOpen ? "true" : "false",
                    },
                    ["annotations"] = ToJson(annotations),
                },
            };
            V1Pod claimed;
            try
            {
                claimed = await _client.CoreV1.PatchNamespacedPodAsync(new V1Patch(patch.ToJsonString(), V1Patch.PatchType.MergePatch),
                    candidate.Metadata.Name, _options.Namespace, cancellationToken: ct);
            }
            catch (HttpOperationException e) when (e.Response.StatusCode is HttpStatusCode.Conflict or HttpStatusCode.NotFound)
            {
                continue; // another replica (or create) took it first, or it is gone
            }
            _pods.Observe(claimed);
            try
            {
                await _envd.InitAsync(claimed.Status.PodIP, SandboxPods.ReadInit(claimed.Metadata.Annotations), null, ct);
                return claimed;
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                _log.LogWarning(e, "warm pod {Pod} claimed for {SandboxId} did not initialise; starting a pod for it", claimed.Metadata.Name, spec.SandboxId);
                await DeletePodAsync(claimed.Metadata.Name);
                return null;
            }
        }
        return null;
    }

    private async Task<V1Pod> StartColdAsync(SandboxSpec spec, string templateId, KubernetesTemplateOptions t, int cpu, int memory,
        Dictionary<string, string> annotations, CancellationToken ct)
    {
        var id = spec.SandboxId;
        if (t.PersistentHome is { } home)
        {
            var claim = SandboxPods.BuildClaim(id, templateId, home);
            try { _claims.Observe(await _client.CoreV1.CreateNamespacedPersistentVolumeClaimAsync(claim, _options.Namespace, cancellationToken: ct)); }
            catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.Conflict)
            {
                throw new SandboxStateException(id, SandboxState.Paused, $"sandbox '{id}' already has a home volume ({claim.Metadata.Name})");
            }
        }
        var pod = SandboxPods.Build(_options, templateId, t, id, cpu, memory, annotations, null);
        pod.Metadata.Labels[SandboxPods.InternetLabel] = spec.AllowInternetAccess && spec.Egress.IsOpen ? "true" : "false";
        try
        {
            return await StartPodAsync(pod, SandboxPods.ReadInit(annotations), ct);
        }
        catch
        {
            if (t.PersistentHome is not null) await DeleteClaimAsync(SandboxPods.ClaimName(id));
            throw;
        }
    }

    /// <summary>Creates the pod, waits for its envd, initialises it; deletes it on failure.</summary>
    private async Task<V1Pod> StartPodAsync(V1Pod pod, SandboxPods.InitData init, CancellationToken ct)
    {
        var created = await _client.CoreV1.CreateNamespacedPodAsync(pod, _options.Namespace, cancellationToken: ct);
        _pods.Observe(created);
        var name = created.Metadata.Name;
        try
        {
            var ready = await WaitReadyAsync(name, ct);
            await _envd.InitAsync(ready.Status.PodIP, init, null, ct);
            return ready;
        }
        catch
        {
            await DeletePodAsync(name);
            throw;
        }
    }

    /// <summary>Until the watch shows the pod ready and its envd answers.</summary>
    private async Task<V1Pod> WaitReadyAsync(string name, CancellationToken ct)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(_options.StartTimeout);
        var delay = 1;
        try
        {
            while (true)
            {
                var changed = _podChanged.GetOrAdd(name, _ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
                if (!_pods.TryGet(name, out var pod)) throw new InvalidOperationException($"pod {name} was deleted while starting");
                if (SandboxPods.HasEnded(pod)) throw new InvalidOperationException($"pod {name} {pod.Status.Phase} while starting: {pod.Status.Reason} {pod.Status.Message}".TrimEnd());
                if (!string.IsNullOrEmpty(pod.Status?.PodIP) && pod.Status.Phase == "Running")
                {
                    // The kubelet's readiness probe lags envd by up to its period: ask envd itself.
                    if (await _envd.IsHealthyAsync(pod.Status.PodIP, timeout.Token)) return pod;
                    await Task.Delay(delay, timeout.Token);
                    delay = Math.Min(delay * 2, 50);
                    continue;
                }
                await changed.Task.WaitAsync(TimeSpan.FromSeconds(1), timeout.Token).ContinueWith(_ => { }, CancellationToken.None);
                timeout.Token.ThrowIfCancellationRequested();
            }
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            var status = _pods.TryGet(name, out var p) ? $"{p.Status?.Phase} {p.Status?.Reason}".Trim() : "gone";
            throw new TimeoutException($"pod {name} did not become ready within {_options.StartTimeout.TotalSeconds:0} s (status: {status})");
        }
    }

    // ---- warm pools ----

    private void KickRefill()
    {
        if (_disposed) return;
        Interlocked.Exchange(ref _refillAgain, 1);
        if (Interlocked.CompareExchange(ref _refilling, 1, 0) != 0) return;
        _ = Task.Run(async () =>
        {
            try
            {
                while (!_disposed && Interlocked.Exchange(ref _refillAgain, 0) == 1) await RefillAsync();
            }
            catch (Exception e) { _log.LogWarning(e, "warm-pool refill failed"); }
            finally { Interlocked.Exchange(ref _refilling, 0); }
        });
    }

    private volatile bool _fillsPools = true;

    /// <summary>
    /// Among replicas, one fills the pools (the holder of the store lease "pools"); the others
    /// only claim. Two fillers would overfill a pool by the pods created within one watch delay.
    /// </summary>
    public Task<IReadOnlyList<WarmPoolFill>> GetWarmPoolsAsync(CancellationToken ct) =>
        Task.FromResult<IReadOnlyList<WarmPoolFill>>(_options.Templates
            .Where(kv => kv.Value.WarmPoolSize > 0 && kv.Value.PersistentHome is null)
            .Select(kv => new WarmPoolFill(kv.Key, WarmCount(kv.Key), kv.Value.WarmPoolSize))
            .OrderBy(p => p.TemplateId, StringComparer.Ordinal)
            .ToList());

    public void FillWarmPools(bool enabled)
    {
        _fillsPools = enabled;
        if (enabled) KickRefill();
    }

    /// <summary>Creates what each pool lacks, on the replica that fills the pools.</summary>
    private async Task RefillAsync()
    {
        if (!_pods.Synced.IsCompleted || !_fillsPools) return;
        foreach (var (templateId, t) in _options.Templates)
        {
            if (t.WarmPoolSize <= 0 || t.PersistentHome is not null) continue;
            var have = WarmPods(templateId).Count() + _warmCreating.GetValueOrDefault(templateId);
            var missing = t.WarmPoolSize - have;
            if (missing <= 0) continue;
            _warmCreating.AddOrUpdate(templateId, missing, (_, n) => n + missing);
            await Parallel.ForEachAsync(Enumerable.Range(0, missing), new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (_, _) =>
            {
                try
                {
                    var pod = SandboxPods.Build(_options, templateId, t, null, t.CpuCount, t.MemoryMB, null, null);
                    _pods.Observe(await _client.CoreV1.CreateNamespacedPodAsync(pod, _options.Namespace));
                }
                catch (Exception e) when (!_disposed) { _log.LogWarning(e, "creating a warm pod for {Template} failed", templateId); }
                finally { _warmCreating.AddOrUpdate(templateId, 0, (_, n) => n - 1); }
            });
        }
    }

    // ---- the watch ----

    private void OnPodChanged(V1Pod? before, V1Pod? after)
    {
        var name = (after ?? before)!.Metadata.Name;
        if (_podChanged.TryRemove(name, out var signal)) signal.TrySetResult();
        var id = SandboxPods.Label((after ?? before)!, SandboxPods.SandboxIdLabel);
        if (after is not null)
        {
            if (id is null)
            {
                if (SandboxPods.HasEnded(after) && _reported.TryAdd(name, 0)) _ = DeletePodAsync(name); // a failed warm pod
                return;
            }
            _podOf[id] = name;
            if (SandboxPods.HasEnded(after) && !_deliberate.ContainsKey(name) && _reported.TryAdd(name, 0))
            {
                var why = $"its pod {name} {after.Status.Phase.ToLowerInvariant()}" + (after.Status.Reason is { } r ? $" ({r}{(after.Status.Message is { } m ? ": " + m : "")})" : "");
                _log.LogWarning("sandbox {SandboxId} died: {Reason}", id, why);
                Publish(SandboxEventKind.Died, ToInstance(after) with { State = SandboxState.Dead }, why);
                _ = DeletePodAsync(name);
            }
            return;
        }
        // Deleted.
        if (id is not null) _podOf.TryRemove(new KeyValuePair<string, string>(id, name));
        var deliberate = _deliberate.TryRemove(name, out _);
        var reported = _reported.TryRemove(name, out _);
        if (id is null || deliberate || reported) return;
        // Another replica's kill or stop leaves a mark first; anything else happened behind the portal's back.
        if (SandboxPods.Annotation(before!, SandboxPods.KilledAnnotation) is not null) return;
        if (StoppedClaim(id) is not null) return;
        _log.LogWarning("sandbox {SandboxId} died: its pod {Pod} was deleted outside the portal", id, name);
        Publish(SandboxEventKind.Died, ToInstance(before!) with { State = SandboxState.Dead }, $"its pod {name} was deleted outside the portal");
    }

    // ---- reads ----

    /// <summary>The live pod of a sandbox, unless it is being deleted.</summary>
    private V1Pod? PodOf(string id) =>
        _podOf.TryGetValue(id, out var name) && _pods.TryGet(name, out var pod) && pod.Metadata.DeletionTimestamp is null
            && !_deliberate.ContainsKey(name) && !SandboxPods.HasEnded(pod)
            ? pod : null;

    /// <summary>The home claim of a sandbox paused in stop mode (it has no pod then).</summary>
    private V1PersistentVolumeClaim? StoppedClaim(string id) =>
        _claims.TryGet(SandboxPods.ClaimName(id), out var c) && SandboxPods.Annotation(c, SandboxPods.PausedAnnotation) == "stop" && c.Metadata.DeletionTimestamp is null ? c : null;

    public async Task<SandboxInstance?> FindAsync(string sandboxId, CancellationToken ct)
    {
        await Synced.WaitAsync(ct);
        if (PodOf(sandboxId ?? "") is { } pod) return ToInstance(pod);
        return StoppedClaim(sandboxId ?? "") is { } claim ? ToInstance(claim) : null;
    }

    public async Task<IReadOnlyList<SandboxInstance>> ListAsync(CancellationToken ct)
    {
        await Synced.WaitAsync(ct);
        return Snapshot();
    }

    private List<SandboxInstance> Snapshot()
    {
        var result = new Dictionary<string, SandboxInstance>(StringComparer.Ordinal);
        foreach (var id in _podOf.Keys)
            if (PodOf(id) is { } pod) result[id] = ToInstance(pod);
        foreach (var claim in _claims.Items)
            if (SandboxPods.Label(claim, SandboxPods.SandboxIdLabel) is { } id && !result.ContainsKey(id) && StoppedClaim(id) is not null)
                result[id] = ToInstance(claim);
        return result.Values.OrderBy(s => s.StartedAt).ToList();
    }

    // ---- kill, pause, resume ----

    public async Task<bool> KillAsync(string sandboxId, CancellationToken ct)
    {
        await Synced.WaitAsync(ct);
        var gate = Gate(sandboxId);
        await gate.WaitAsync(ct);
        try
        {
            SandboxInstance instance;
            if (PodOf(sandboxId) is { } pod)
            {
                instance = ToInstance(pod);
                var name = pod.Metadata.Name;
                _deliberate[name] = 0;
                try { await PatchPodAsync(name, Annotations((SandboxPods.KilledAnnotation, "true")), CancellationToken.None); }
                catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.NotFound) { }
                await DeletePodAsync(name);
            }
            else if (StoppedClaim(sandboxId) is { } stopped)
            {
                instance = ToInstance(stopped);
            }
            else return false;
            if (_claims.TryGet(SandboxPods.ClaimName(sandboxId), out _)) await DeleteClaimAsync(SandboxPods.ClaimName(sandboxId));
            Publish(SandboxEventKind.Killed, instance with { State = SandboxState.Dead });
            return true;
        }
        finally
        {
            gate.Release();
            _gates.TryRemove(sandboxId, out _);
        }
    }

    /// <summary>
    /// The template's PauseMode decides how: Freeze keeps memory (envd freezes the pod's cgroup),
    /// Stop deletes the pod and keeps its home volume. A filesystem pause (E2B's memory:false) of a
    /// Freeze template is refused: freezing frees no memory, and nothing else of the pod outlives it.
    /// </summary>
    public async Task PauseAsync(string sandboxId, SandboxPauseMode mode, CancellationToken ct)
    {
        await Synced.WaitAsync(ct);
        var gate = Gate(sandboxId);
        await gate.WaitAsync(ct);
        SandboxInstance paused;
        try
        {
            if (StoppedClaim(sandboxId) is not null) throw new SandboxStateException(sandboxId, SandboxState.Paused, $"sandbox '{sandboxId}' is already paused");
            var pod = PodOf(sandboxId) ?? throw new SandboxNotFoundException(sandboxId);
            if (SandboxPods.Annotation(pod, SandboxPods.PausedAnnotation) is not null)
                throw new SandboxStateException(sandboxId, SandboxState.Paused, $"sandbox '{sandboxId}' is already paused");
            var init = SandboxPods.ReadInit(pod.Metadata.Annotations);
            if (mode == SandboxPauseMode.Filesystem && PauseModeOf(pod) != KubernetesPauseMode.Stop)
            {
                var template = SandboxPods.Annotation(pod, SandboxPods.TemplateAnnotation) ?? "";
                throw new NotSupportedException($"template '{template}' pauses by freezing (Portal:Kubernetes:Templates:{template}:PauseMode is Freeze), which keeps memory; a pause with memory:false needs PauseMode Stop (with PersistentHome)");
            }
            if (PauseModeOf(pod) == KubernetesPauseMode.Stop && _claims.TryGet(SandboxPods.ClaimName(sandboxId), out _))
            {
                // The claim keeps the record first, then the pod goes: a replica that sees the pod
                // vanish finds the mark and reports no death.
                var keep = pod.Metadata.Annotations.Where(a => a.Key.StartsWith(SandboxPods.Prefix, StringComparison.Ordinal))
                    .ToDictionary(a => a.Key, a => a.Value);
                keep[SandboxPods.PausedAnnotation] = "stop";
                var patch = new JsonObject { ["metadata"] = new JsonObject { ["annotations"] = ToJson(keep) } };
                _claims.Observe(await _client.CoreV1.PatchNamespacedPersistentVolumeClaimAsync(new V1Patch(patch.ToJsonString(), V1Patch.PatchType.MergePatch),
                    SandboxPods.ClaimName(sandboxId), _options.Namespace, cancellationToken: ct));
                _deliberate[pod.Metadata.Name] = 0;
                await DeletePodAsync(pod.Metadata.Name);
                paused = ToInstance(StoppedClaim(sandboxId)!);
            }
            else
            {
                await _envd.SignalAsync(pod.Status.PodIP, freeze: true, init.AccessToken, ct);
                try { paused = ToInstance(await PatchPodAsync(pod.Metadata.Name, Annotations((SandboxPods.PausedAnnotation, "freeze")), ct)); }
                catch
                {
                    await _envd.SignalAsync(pod.Status.PodIP, freeze: false, init.AccessToken, CancellationToken.None);
                    throw;
                }
            }
        }
        finally
        {
            gate.Release();
        }
        Publish(SandboxEventKind.Paused, paused);
    }

    public async Task<SandboxInstance> ResumeAsync(string sandboxId, CancellationToken ct)
    {
        await Synced.WaitAsync(ct);
        var gate = Gate(sandboxId);
        await gate.WaitAsync(ct);
        SandboxInstance resumed;
        try
        {
            if (StoppedClaim(sandboxId) is { } claim)
            {
                var templateId = SandboxPods.Annotation(claim, SandboxPods.TemplateAnnotation) ?? "";
                if (!_options.Templates.TryGetValue(templateId, out var t)) throw new TemplateNotFoundException(templateId);
                var annotations = claim.Metadata.Annotations.Where(a => a.Key != SandboxPods.PausedAnnotation).ToDictionary(a => a.Key, a => a.Value);
                var pod = SandboxPods.Build(_options, templateId, t, sandboxId, Int(annotations, SandboxPods.CpuAnnotation, t.CpuCount),
                    Int(annotations, SandboxPods.MemoryAnnotation, t.MemoryMB), annotations, null);
                var started = await StartPodAsync(pod, SandboxPods.ReadInit(annotations), ct);
                var patch = new JsonObject { ["metadata"] = new JsonObject { ["annotations"] = new JsonObject { [SandboxPods.PausedAnnotation] = null } } };
                _claims.Observe(await _client.CoreV1.PatchNamespacedPersistentVolumeClaimAsync(new V1Patch(patch.ToJsonString(), V1Patch.PatchType.MergePatch),
                    claim.Metadata.Name, _options.Namespace, cancellationToken: CancellationToken.None));
                resumed = ToInstance(started);
            }
            else
            {
                var pod = PodOf(sandboxId) ?? throw new SandboxNotFoundException(sandboxId);
                if (SandboxPods.Annotation(pod, SandboxPods.PausedAnnotation) is null)
                    throw new SandboxStateException(sandboxId, SandboxState.Running, $"sandbox '{sandboxId}' is not paused");
                var init = SandboxPods.ReadInit(pod.Metadata.Annotations);
                await _envd.SignalAsync(pod.Status.PodIP, freeze: false, init.AccessToken, ct);
                resumed = ToInstance(await PatchPodAsync(pod.Metadata.Name, Annotations((SandboxPods.PausedAnnotation, null)), ct));
            }
        }
        finally
        {
            gate.Release();
        }
        Publish(SandboxEventKind.Resumed, resumed);
        return resumed;
    }

    private KubernetesPauseMode PauseModeOf(V1Pod pod) =>
        _options.Templates.TryGetValue(SandboxPods.Annotation(pod, SandboxPods.TemplateAnnotation) ?? "", out var t) ? t.PauseMode : KubernetesPauseMode.Freeze;

    private SemaphoreSlim Gate(string sandboxId) => _gates.GetOrAdd(sandboxId, _ => new SemaphoreSlim(1, 1));

    // ---- traffic ----

    private V1Pod RunningPod(string sandboxId) =>
        PodOf(sandboxId) is { } pod && SandboxPods.Annotation(pod, SandboxPods.PausedAnnotation) is null && !string.IsNullOrEmpty(pod.Status?.PodIP)
            ? pod : throw new SandboxNotFoundException(sandboxId);

    public EndPoint? DirectEndPoint(string sandboxId, int port) => new IPEndPoint(IPAddress.Parse(RunningPod(sandboxId).Status.PodIP), port);

    public async ValueTask<Stream> ConnectAsync(string sandboxId, int port, CancellationToken ct)
    {
        var endPoint = (IPEndPoint)DirectEndPoint(sandboxId, port)!;
        var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(endPoint, ct);
            return new NetworkStream(socket, ownsSocket: true);
        }
        catch (SocketException e)
        {
            socket.Dispose();
            if (port != SandboxPorts.Envd && e.SocketErrorCode == SocketError.ConnectionRefused) throw new SandboxPortClosedException(sandboxId, port);
            throw new SandboxNotFoundException(sandboxId);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    public async Task<SandboxMetrics?> GetMetricsAsync(string sandboxId, CancellationToken ct)
    {
        if (PodOf(sandboxId) is not { } pod || SandboxPods.Annotation(pod, SandboxPods.PausedAnnotation) is not null) return null;
        var m = await _envd.MetricsAsync(pod.Status.PodIP, SandboxPods.ReadInit(pod.Metadata.Annotations).AccessToken, ct);
        var instance = ToInstance(pod);
        return m is null ? null : new SandboxMetrics
        {
            Timestamp = _time.GetUtcNow(),
            CpuCount = instance.CpuCount,
            CpuUsedPct = m.CpuUsedPct,
            MemUsed = m.MemUsed,
            MemTotal = Math.Min(m.MemTotal > 0 ? m.MemTotal : long.MaxValue, instance.MemoryMB * 1024L * 1024),
            MemCache = m.MemCache,
            DiskUsed = m.DiskUsed,
            DiskTotal = m.DiskTotal > 0 ? m.DiskTotal : instance.DiskSizeMB * 1024L * 1024,
        };
    }

    // ---- events ----

    public async IAsyncEnumerable<SandboxEvent> WatchAsync([EnumeratorCancellation] CancellationToken ct)
    {
        await Synced.WaitAsync(ct);
        await foreach (var e in _events.WatchAsync(Snapshot, ct)) yield return e;
    }

    private void Publish(SandboxEventKind kind, SandboxInstance instance, string? reason = null) => _events.Publish(kind, instance, reason);

    // ---- API helpers ----

    private async Task<V1Pod> PatchPodAsync(string name, JsonObject annotations, CancellationToken ct)
    {
        var patch = new JsonObject { ["metadata"] = new JsonObject { ["annotations"] = annotations } };
        var pod = await _client.CoreV1.PatchNamespacedPodAsync(new V1Patch(patch.ToJsonString(), V1Patch.PatchType.MergePatch), name, _options.Namespace, cancellationToken: ct);
        _pods.Observe(pod);
        return pod;
    }

    private async Task DeletePodAsync(string name)
    {
        try { await _client.CoreV1.DeleteNamespacedPodAsync(name, _options.Namespace, gracePeriodSeconds: 0); }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.NotFound) { }
        catch (Exception e) when (e is HttpOperationException or HttpRequestException) { _log.LogWarning(e, "deleting pod {Pod} failed", name); }
    }

    private async Task DeleteClaimAsync(string name)
    {
        try { await _client.CoreV1.DeleteNamespacedPersistentVolumeClaimAsync(name, _options.Namespace); }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.NotFound) { }
        catch (Exception e) when (e is HttpOperationException or HttpRequestException) { _log.LogWarning(e, "deleting claim {Claim} failed", name); }
        _claims.ObserveDeleted(name);
    }

    private static JsonObject Annotations(params (string Key, string? Value)[] values)
    {
        var o = new JsonObject();
        foreach (var (k, v) in values) o[k] = v;
        return o;
    }

    private static JsonObject ToJson(IDictionary<string, string> d)
    {
        var o = new JsonObject();
        foreach (var (k, v) in d) o[k] = v;
        return o;
    }

    private static int Int(IDictionary<string, string>? annotations, string key, int fallback) =>
        annotations?.TryGetValue(key, out var v) == true && int.TryParse(v, CultureInfo.InvariantCulture, out var n) ? n : fallback;

    private SandboxInstance ToInstance(IMetadata<V1ObjectMeta> o)
    {
        var a = o.Metadata.Annotations;
        var templateId = SandboxPods.Annotation(o, SandboxPods.TemplateAnnotation) ?? "";
        _options.Templates.TryGetValue(templateId, out var t);
        var paused = SandboxPods.Annotation(o, SandboxPods.PausedAnnotation) is not null;
        return new SandboxInstance
        {
            SandboxId = SandboxPods.Label(o, SandboxPods.SandboxIdLabel) ?? "",
            TemplateId = templateId,
            State = paused ? SandboxState.Paused : SandboxState.Running,
            StartedAt = SandboxPods.Annotation(o, SandboxPods.StartedAtAnnotation) is { } s && DateTimeOffset.TryParse(s, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind, out var at)
                ? at : o.Metadata.CreationTimestamp ?? DateTimeOffset.UnixEpoch,
            CpuCount = Int(a, SandboxPods.CpuAnnotation, t?.CpuCount ?? 1),
            MemoryMB = Int(a, SandboxPods.MemoryAnnotation, t?.MemoryMB ?? 512),
            DiskSizeMB = t?.DiskSizeMB ?? 0,
            EnvdVersion = _options.EnvdVersion,
            InternetAccess = SandboxPods.Label(o, SandboxPods.InternetLabel) == "true",
        };
    }

    private static bool IsValidId(string id) => id.Length is > 0 and <= 48 && id.All(c => c is (>= 'a' and <= 'z') or (>= '0' and <= '9'));

    /// <summary>Stops watching and removes this replica's share of nothing: warm pods stay for the
    /// other replicas (and the next start), sandboxes run on.</summary>
    public async ValueTask DisposeAsync()
    {
        // Idempotent: the host disposes it once per service registration that hands it out.
        if (_disposed) return;
        _disposed = true;
        await _refill.DisposeAsync();
        await _pods.DisposeAsync();
        await _claims.DisposeAsync();
        _events.Complete();
        _envd.Dispose();
    }
}
