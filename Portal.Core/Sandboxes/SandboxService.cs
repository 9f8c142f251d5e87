using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Portal.Core.Auth;
using Portal.Core.Persistence;
using Portal.Core.Runtime;

namespace Portal.Core.Sandboxes;

/// <summary>What a create asks for, already parsed from either API version.</summary>
public sealed record CreateSandboxCommand
{
    public required string Template { get; init; }
    /// <summary>Seconds; null = the version's default.</summary>
    public long? TimeoutSeconds { get; init; }
    public bool IsV1 { get; init; }
    public IReadOnlyDictionary<string, string> Metadata { get; init; } = new Dictionary<string, string>();
    public IReadOnlyDictionary<string, string> EnvVars { get; init; } = new Dictionary<string, string>();
    /// <summary>Issue an envd access token (always for v2; v1 only with <c>secure:true</c>).</summary>
    public bool Secure { get; init; } = true;
    public bool AutoPause { get; init; }
    /// <summary>E2B's <c>autoPauseMemory:false</c>: the deadline's pause keeps files only.</summary>
    public bool AutoPauseFilesystem { get; init; }
    /// <summary>E2B's <c>autoResume.enabled</c>.</summary>
    public bool AutoResume { get; init; }
    public bool AllowInternetAccess { get; init; } = true;
    /// <summary>E2B's <c>network</c> (validated by <see cref="SandboxService.CreateAsync"/>).</summary>
    public SandboxNetworkSettings Network { get; init; } = SandboxNetworkSettings.Default;
    /// <summary>
    /// A fork of this sandbox: <see cref="Template"/> is the fork's hidden copy (started from, never
    /// resolved as a name), and the record names the source's template as E2B's forks do.
    /// </summary>
    internal SandboxRecord? ForkOf { get; init; }
}

/// <summary>
/// The control plane's domain logic: sandbox lifecycle over <see cref="ISandboxRuntime"/>,
/// recorded in <see cref="IPortalStore"/>, deadlines on <see cref="TimeProvider"/>. Live
/// sandboxes (running or paused) are also held in memory for listing and for the proxy; every
/// change is committed to the store before it becomes visible. Operations on one sandbox are
/// serialised; different sandboxes proceed in parallel.
/// </summary>
public sealed class SandboxService(
    ISandboxRuntime runtime,
    IPortalStore store,
    TimeProvider clock,
    IOptions<SandboxOptions> options,
    PortalTelemetry telemetry,
    SandboxChangeStream changes,
    ILogger<SandboxService> log,
    Coordination.LeaderLease? lease = null,
    Templates.TemplateService? templates = null)
{
    private readonly SandboxOptions _options = options.Value;
    private readonly ConcurrentDictionary<string, SandboxRecord> _live = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, SemaphoreSlim> _locks = new(StringComparer.Ordinal);
    private readonly MetricsHistory _metrics = new(options.Value.MetricsHistorySize);

    public ISandboxRuntime Runtime => runtime;

    /// <summary>Every committed change of a live sandbox, after a snapshot (see <see cref="SandboxChangeStream"/>).</summary>
    public SandboxChangeStream Changes => changes;

    /// <summary>Live records (running and paused), for the proxy and the metrics page.</summary>
    public ICollection<SandboxRecord> Live => _live.Values;

    /// <summary>The live record, whoever owns it (the proxy's view; no tenancy).</summary>
    public SandboxRecord? FindLive(string sandboxId) => _live.GetValueOrDefault(sandboxId);

    // ------------------------------------------------------------------ startup

    /// <summary>
    /// Loads the store's live records and reconciles them with what the runtime still has:
    /// gone sandboxes are marked killed, creates cut short by a restart are cleaned up.
    /// </summary>
    public async Task RecoverAsync(CancellationToken ct)
    {
        var records = await store.ListLiveSandboxesAsync(ct);
        var instances = (await runtime.ListAsync(ct)).ToDictionary(i => i.SandboxId, StringComparer.Ordinal);
        foreach (var rec in records)
        {
            instances.TryGetValue(rec.SandboxId, out var inst);
            if (rec.Status == SandboxStatus.Creating)
            {
                // Another replica's create in progress is left alone; the leader ends it later if abandoned.
                if (await IsCreatingElsewhereAsync(rec, ct)) continue;
                if (inst is not null) await TryKillInRuntimeAsync(rec.SandboxId);
                await MarkKilledAsync(rec, "create was interrupted by a portal restart", "warn", SandboxChangeCause.Killed, SandboxEvents.KillReasons.Orphaned, ct);
            }
            else if (inst is null || inst.State == SandboxState.Dead)
            {
                await MarkKilledAsync(rec, "sandbox is gone: the runtime no longer has it", "warn", SandboxChangeCause.Died, SandboxEvents.KillReasons.Orphaned, ct);
            }
            else
            {
                var status = inst.State == SandboxState.Paused ? SandboxStatus.Paused : SandboxStatus.Running;
                var current = rec;
                if (status != rec.Status)
                {
                    current = rec with { Status = status, Version = rec.Version + 1 };
                    await store.SaveSandboxAsync(current, Log(rec.SandboxId, "info", $"state is {status.ToString().ToLowerInvariant()} after a portal restart"), ct);
                }
                _live[rec.SandboxId] = current;
                changes.Publish(current, SandboxChangeCause.Present);
            }
        }
        log.LogInformation("Recovered {Count} live sandboxes from the store", _live.Count);
    }

    // ------------------------------------------------------------------ other replicas

    /// <summary>
    /// Another replica committed version <paramref name="version"/> of a sandbox (the store said
    /// so): this replica's view (listing, the proxy's routing, subscribers) catches up to what the
    /// store holds now. Our own writes come back too and are skipped by their version.
    /// </summary>
    public async Task ApplyStoredAsync(string sandboxId, long version, CancellationToken ct)
    {
        if (_live.TryGetValue(sandboxId, out var cached) && cached.Version >= version) return;
        var gate = Gate(sandboxId);
        await gate.WaitAsync(ct);
        try
        {
            if (await store.FindSandboxAsync(sandboxId, ct) is { } stored) Catch(stored);
        }
        finally { gate.Release(); }
    }

    /// <summary>
    /// The feed from other replicas (re)started: anything may have been missed, so the whole live
    /// view is compared with the store's (what ended meanwhile is read one by one).
    /// </summary>
    public async Task ResyncFromStoreAsync(CancellationToken ct)
    {
        var stored = await store.ListLiveSandboxesAsync(ct);
        var ids = stored.Select(r => r.SandboxId).ToHashSet(StringComparer.Ordinal);
        foreach (var rec in stored) await ApplyStoredAsync(rec.SandboxId, rec.Version, ct);
        foreach (var gone in _live.Keys.Where(id => !ids.Contains(id)).ToList())
            await ApplyStoredAsync(gone, long.MaxValue, ct);
    }

    /// <summary>Under the sandbox's lock: the cached view takes <paramref name="stored"/> if it is newer.</summary>
    private void Catch(SandboxRecord stored)
    {
        _live.TryGetValue(stored.SandboxId, out var cached);
        if (cached is not null && cached.Version >= stored.Version) return;
        if (stored.Status == SandboxStatus.Creating) return; // live nowhere yet
        if (stored.IsLive)
        {
            _live[stored.SandboxId] = stored;
            changes.Publish(stored, CauseBetween(cached, stored));
            return;
        }
        if (cached is null) return; // ended before this replica ever saw it
        _live.TryRemove(stored.SandboxId, out _);
        _metrics.Remove(stored.SandboxId);
        changes.Publish(stored, SandboxChangeCause.Killed);
        _locks.TryRemove(stored.SandboxId, out _);
    }

    /// <summary>What most likely happened between two versions another replica wrote (the store keeps states, not causes).</summary>
    private static SandboxChangeCause CauseBetween(SandboxRecord? before, SandboxRecord after) => before switch
    {
        null => SandboxChangeCause.Created,
        { Status: SandboxStatus.Running } when after.Status == SandboxStatus.Paused => SandboxChangeCause.Paused,
        { Status: SandboxStatus.Paused } when after.Status == SandboxStatus.Running => SandboxChangeCause.Resumed,
        _ when !before.Metadata.OrderBy(p => p.Key).SequenceEqual(after.Metadata.OrderBy(p => p.Key)) => SandboxChangeCause.MetadataChanged,
        _ => SandboxChangeCause.DeadlineMoved,
    };

    // ------------------------------------------------------------------ create

    public async Task<SandboxRecord> CreateAsync(Caller caller, CreateSandboxCommand cmd, CancellationToken ct)
    {
        var sw = Stopwatch.StartNew();
        var timeout = ValidateTimeout(cmd.TimeoutSeconds ?? (cmd.IsV1 ? _options.V1DefaultTimeoutSeconds : _options.DefaultTimeoutSeconds), "timeout");
        if (string.IsNullOrWhiteSpace(cmd.Template))
            throw DomainException.InvalidArgument("'templateID' is required");
        var choice = await ResolveTemplateAsync(caller, cmd, ct);
        if (choice is null)
        {
            telemetry.RecordCreate("template_not_found", sw.Elapsed);
            throw DomainException.InvalidArgument($"template '{cmd.Template}' not found");
        }
        var template = choice.Runtime;

        var network = cmd.Network;
        SandboxNetworkSettings.ValidateEgress(network.AllowOut, network.DenyOut);
        SandboxNetworkSettings.ValidateMask(network.MaskRequestHost);
        if (network.AllowPublicTraffic == false)
        {
            if (!cmd.Secure) throw DomainException.InvalidArgument("You cannot create a sandbox without public access unless you enable secure envd access via 'secure' flag.");
            network = network with { TrafficAccessToken = SandboxIds.NewAccessToken() };
        }
        var now = Now();
        var rec = new SandboxRecord
        {
            Version = 1,
            SandboxId = SandboxIds.New(),
            TeamId = caller.TeamId,
            TemplateId = cmd.ForkOf?.TemplateId ?? choice.TemplateId,
            Alias = cmd.ForkOf is { } source ? source.Alias : choice.Alias,
            ClientId = _options.ClientId,
            Metadata = new Dictionary<string, string>(cmd.Metadata, StringComparer.Ordinal),
            EnvdAccessToken = cmd.Secure ? SandboxIds.NewAccessToken() : null,
            Status = SandboxStatus.Creating,
            Owner = lease?.Holder,
            CreatedAt = now,
            StartedAt = now,
            EndAt = now + timeout,
            AutoPause = cmd.AutoPause,
            AutoPauseFilesystem = cmd.AutoPauseFilesystem,
            AutoResume = cmd.AutoResume,
            AllowInternetAccess = cmd.AllowInternetAccess,
            Network = network,
            CpuCount = template.CpuCount,
            MemoryMB = template.MemoryMB,
            DiskSizeMB = template.DiskSizeMB,
        };
        // The record exists before the sandbox does: a restart mid-create finds and cleans it.
        await store.SaveSandboxAsync(rec, Log(rec.SandboxId, "info", $"creating from template '{choice.TemplateId}'",
            ("templateID", choice.TemplateId), ("teamID", caller.TeamId)), ct);

        SandboxInstance inst;
        try
        {
            // Not tied to the request: a client that hangs up must not leave a half-made sandbox.
            inst = await RuntimeCallAsync("starting it", ct => runtime.CreateAsync(new SandboxSpec
            {
                SandboxId = rec.SandboxId,
                TemplateId = template.TemplateId,
                EnvVars = choice.State is { Env.Count: > 0 } built ? new Dictionary<string, string>(built.Env.Concat(cmd.EnvVars).GroupBy(kv => kv.Key).Select(g => g.Last())) : cmd.EnvVars,
                DefaultUser = choice.State?.User,
                DefaultWorkdir = choice.State?.Workdir,
                EnvdAccessToken = rec.EnvdAccessToken,
                AllowInternetAccess = cmd.AllowInternetAccess,
                Egress = network.Egress,
            }, ct), () => TryKillInRuntimeAsync(rec.SandboxId));
        }
        catch (Exception e)
        {
            await MarkKilledAsync(rec, "create failed: " + e.Message, "error", SandboxChangeCause.Killed, SandboxEvents.KillReasons.Unknown, CancellationToken.None);
            telemetry.RecordCreate(e is RuntimeCapacityException ? "capacity" : "error", sw.Elapsed);
            throw e switch
            {
                TemplateNotFoundException t => DomainException.InvalidArgument($"template '{t.TemplateId}' not found"),
                RuntimeCapacityException c => new DomainException(DomainErrorKind.ResourceExhausted, "no capacity for another sandbox: " + c.Message),
                DomainException p => p,
                OperationCanceledException or TimeoutException => new DomainException(DomainErrorKind.Unavailable, "the sandbox did not start in time: " + e.Message, e),
                _ => new DomainException(DomainErrorKind.Internal, "the sandbox could not be started: " + e.Message, e),
            };
        }

        var started = Now();
        rec = rec with
        {
            Version = rec.Version + 1,
            Status = SandboxStatus.Running,
            StartedAt = started,
            EndAt = started + timeout,
            CpuCount = inst.CpuCount,
            MemoryMB = inst.MemoryMB,
            DiskSizeMB = inst.DiskSizeMB,
            EnvdVersion = NormalizeEnvdVersion(inst.EnvdVersion),
            AllowInternetAccess = inst.InternetAccess,
            ExecutionStartedAt = started,
        };
        // Under the sandbox's lock from the commit to the view: the store's note of this very write
        // (several replicas) must find it in the view already, not announce it a second time.
        var gate = Gate(rec.SandboxId);
        await gate.WaitAsync(CancellationToken.None);
        try
        {
            try
            {
                await store.SaveSandboxAsync(rec, WithEvent(Log(rec.SandboxId, "info", $"created; ends at {rec.EndAt:O}",
                    ("timeout", ((int)timeout.TotalSeconds).ToString(System.Globalization.CultureInfo.InvariantCulture))), SandboxEvents.Created, rec), CancellationToken.None);
            }
            catch
            {
                await TryKillInRuntimeAsync(rec.SandboxId);
                throw;
            }
            // Published before anyone can find it, so its creation comes before any change made to it.
            changes.Publish(rec, SandboxChangeCause.Created);
            _live[rec.SandboxId] = rec;
        }
        finally { gate.Release(); }
        if (choice.State is not null && templates is not null) await templates.RecordSpawnAsync(choice.TemplateId, CancellationToken.None);
        telemetry.RecordCreate("success", sw.Elapsed);
        log.LogInformation("Sandbox {SandboxId} created from {Template} for team {TeamId} in {Ms} ms", rec.SandboxId, rec.TemplateId, rec.TeamId, sw.ElapsedMilliseconds);
        return rec;
    }

    /// <summary>What a create starts from: the runtime template, the ID and name the sandbox shows, a built template's user, directory and variables.</summary>
    private sealed record TemplateChoice(SandboxTemplate Runtime, string TemplateId, string? Alias, Templates.BuildState? State);

    /// <summary>
    /// The runtime's built-in templates (base, code-interpreter) for everyone, then the caller's
    /// team's built templates (name, name:tag or ID; another team's private one is refused), then
    /// its snapshots (ID or name; another team's, a removed one or a fork's copy is unknown here);
    /// null when none has it. A fork starts from its source's copy, which no caller can name.
    /// </summary>
    private async Task<TemplateChoice?> ResolveTemplateAsync(Caller caller, CreateSandboxCommand cmd, CancellationToken ct)
    {
        var reference = cmd.Template;
        if (cmd.ForkOf is not null)
            return await runtime.Templates.FindAsync(reference, ct) is { } copy ? new TemplateChoice(copy, copy.TemplateId, null, null) : null;
        // A built-in name first, from the runtime's memory: registry names can never be built-in
        // ones (refused when a template is made), and most creates name a built-in template, so
        // they cost no store reads (a burst of creates must not queue on the database). Templates
        // made from others (build layers, snapshots) belong to a team: only through the registry;
        // hidden ones (unpacked images) are only ever a build's starting point.
        if (await runtime.Templates.FindAsync(reference, ct) is { ParentTemplateId: null, Hidden: false } builtIn)
            return new TemplateChoice(builtIn, builtIn.TemplateId, reference != builtIn.TemplateId ? reference : builtIn.Aliases.FirstOrDefault(), null);
        if (templates is not null && await templates.ResolveAsync(caller, reference, ct) is { } built)
        {
            var rt = await runtime.Templates.FindAsync(built.Build.RuntimeTemplateId!, ct)
                ?? throw DomainException.InvalidArgument($"template '{reference}': its files are gone from the runtime; build it again");
            return new TemplateChoice(rt, built.Template.TemplateId, built.Template.Names.FirstOrDefault() is { } name ? (built.Tag is { } tag ? $"{name}:{tag}" : name) : null, built.Build.Result);
        }
        var (kind, snapshot) = await Snapshots.SnapshotService.ResolveAsync(store, caller, reference, ct);
        if (kind == Snapshots.SnapshotService.Resolution.Unusable) return null;
        if (kind == Snapshots.SnapshotService.Resolution.Snapshot)
            return await runtime.Templates.FindAsync(snapshot!.SnapshotId, ct) is { } taken
                ? new TemplateChoice(taken, taken.TemplateId, reference != taken.TemplateId ? reference : null, null)
                : null;
        return null;
    }

    /// <summary>
    /// Under the sandbox's lock: a snapshot of it was taken (E2B's <c>checkpointed</c> event). The
    /// record only moves to its next version, so the event is committed like every other change.
    /// </summary>
    internal Task<SandboxRecord> RecordCheckpointAsync(SandboxRecord rec, string message) =>
        SaveLiveAsync(rec, WithEvent(Log(rec.SandboxId, "info", message), SandboxEvents.Checkpointed, rec), SandboxChangeCause.Checkpointed);

    // ------------------------------------------------------------------ read

    /// <summary>
    /// The live sandbox. With several replicas it is read from the store: one created, changed or
    /// ended elsewhere a moment ago is answered as it is, not as this replica last heard.
    /// </summary>
    public async Task<SandboxRecord> GetAsync(Caller caller, string sandboxId, CancellationToken ct)
    {
        await RefreshFromStoreAsync(sandboxId, ct);
        return Visible(caller, sandboxId);
    }

    /// <summary>
    /// With several replicas the store answers, not this replica's view: a client behind a load
    /// balancer that changed the sandbox through another replica a moment ago (created, resumed,
    /// killed) sees that change here too, whether or not its note has arrived. One indexed row read;
    /// nothing on a single replica.
    /// </summary>
    public async Task RefreshFromStoreAsync(string sandboxId, CancellationToken ct)
    {
        if (store.IsShared && SandboxIds.IsWellFormed(sandboxId)
            && await store.FindSandboxAsync(sandboxId, ct) is { } stored
            && (_live.TryGetValue(sandboxId, out var cached) ? cached.Version < stored.Version : stored.IsLive))
            await ApplyStoredAsync(sandboxId, stored.Version, ct);
    }

    public SandboxPage List(Caller caller, SandboxListQuery q)
    {
        (long Ms, string Id)? cursor = q.NextToken is { Length: > 0 } t ? PageToken.Decode(t, SandboxIds.IsWellFormed) : null;
        var startedAfter = q.StartedAfter;
        IEnumerable<SandboxRecord> items = _live.Values.Where(r =>
            caller.CanSee(r.TeamId)
            && q.States.Contains(r.Status)
            && (startedAfter is null || r.StartedAt >= startedAfter)
            && (q.Template is null || r.TemplateId == q.Template || r.Alias == q.Template)
            && MetadataFilter.Matches(r.Metadata, q.Metadata));

        if (cursor is { } c)
            items = items.Where(r => q.Ascending ? ComesAfterAsc(r, c) : ComesAfterDesc(r, c));

        // desc: newest first, ties by ID ascending; asc: the exact reverse.
        Comparison<SandboxRecord> order = q.Ascending ? (a, b) => CompareDesc(b, a) : CompareDesc;
        if (q.Limit is not { } limit)
        {
            var all = items.ToList();
            all.Sort(order);
            return new SandboxPage(all, null);
        }

        // Only the first limit+1 are needed: a bounded heap instead of sorting everything.
        var keep = limit + 1;
        var heap = new PriorityQueue<SandboxRecord, SandboxRecord>(Comparer<SandboxRecord>.Create((a, b) => order(b, a)));
        foreach (var r in items)
        {
            if (heap.Count < keep) heap.Enqueue(r, r);
            else if (order(r, heap.Peek()) < 0) heap.DequeueEnqueue(r, r);
        }
        var page = new List<SandboxRecord>(heap.Count);
        while (heap.TryDequeue(out var r, out _)) page.Add(r);
        page.Reverse();
        if (page.Count <= limit) return new SandboxPage(page, null);
        page.RemoveAt(limit);
        return new SandboxPage(page, PageToken.Encode(page[^1].StartedAt, page[^1].SandboxId));
    }

    private static int CompareDesc(SandboxRecord a, SandboxRecord b)
    {
        var byTime = b.StartedAt.CompareTo(a.StartedAt);
        return byTime != 0 ? byTime : string.CompareOrdinal(a.SandboxId, b.SandboxId);
    }

    private static bool ComesAfterDesc(SandboxRecord r, (long Ms, string Id) c)
    {
        var ms = r.StartedAt.ToUnixTimeMilliseconds();
        return ms < c.Ms || (ms == c.Ms && string.CompareOrdinal(r.SandboxId, c.Id) > 0);
    }

    private static bool ComesAfterAsc(SandboxRecord r, (long Ms, string Id) c)
    {
        var ms = r.StartedAt.ToUnixTimeMilliseconds();
        return ms > c.Ms || (ms == c.Ms && string.CompareOrdinal(r.SandboxId, c.Id) < 0);
    }

    // ------------------------------------------------------------------ lifecycle

    /// <summary>Connect: a running sandbox's deadline is only extended; a paused one is resumed.</summary>
    public async Task<(SandboxRecord Sandbox, bool Resumed)> ConnectAsync(Caller caller, string sandboxId, long? timeoutSeconds, CancellationToken ct)
    {
        var timeout = ValidateTimeout(timeoutSeconds ?? _options.DefaultTimeoutSeconds, "timeout");
        return await WithLockAsync(caller, sandboxId, async rec =>
        {
            if (rec.Status == SandboxStatus.Paused)
                return (await ResumeLockedAsync(rec, timeout, null, "resumed by connect"), true);
            var end = Max(rec.EndAt, Now() + timeout);
            if (end == rec.EndAt) return (rec, false);
            var updated = rec with { EndAt = end };
            return (await SaveLiveAsync(updated, WithEvent(Log(sandboxId, "info", $"connect extended the deadline to {end:O}"), SandboxEvents.Updated, updated, SetTimeout(end)), SandboxChangeCause.DeadlineMoved), false);
        });
    }

    /// <summary>Deprecated v1 resume: a conflict when it is not paused.</summary>
    public Task<SandboxRecord> ResumeAsync(Caller caller, string sandboxId, long? timeoutSeconds, bool? autoPause, CancellationToken ct)
    {
        var timeout = ValidateTimeout(timeoutSeconds ?? _options.V1DefaultTimeoutSeconds, "timeout");
        return WithLockAsync(caller, sandboxId, async rec =>
        {
            if (rec.Status != SandboxStatus.Paused)
                throw DomainException.Conflict($"sandbox '{sandboxId}' is already running");
            return await ResumeLockedAsync(rec, timeout, autoPause, "resumed");
        });
    }

    /// <summary>E2B's pause: <paramref name="mode"/> is its <c>memory</c> flag (true = keep memory, the default).</summary>
    public Task PauseAsync(Caller caller, string sandboxId, SandboxPauseMode mode, CancellationToken ct) =>
        WithLockAsync(caller, sandboxId, async rec =>
        {
            if (rec.Status == SandboxStatus.Paused)
                throw DomainException.Conflict($"sandbox '{sandboxId}' is already paused");
            await PauseLockedAsync(rec, mode == SandboxPauseMode.Filesystem ? "paused (memory:false: processes stopped, files kept)" : "paused", mode);
            return true;
        });

    /// <summary>Resumes in progress for traffic (<see cref="AutoResumeAsync"/>): one per sandbox, however many requests wait.</summary>
    private readonly ConcurrentDictionary<string, Lazy<Task<bool>>> _autoResumes = new(StringComparer.Ordinal);

    /// <summary>
    /// Traffic reached a paused sandbox: resume it when it was created with <c>autoResume</c>. The
    /// caller (the proxy) has already applied the access rules of the way in; this only decides
    /// whether the sandbox wants to be woken. Concurrent requests share one resume. True when it
    /// is running afterwards.
    /// </summary>
    public Task<bool> AutoResumeAsync(string sandboxId, CancellationToken ct)
    {
        if (_live.GetValueOrDefault(sandboxId) is not { } rec) return Task.FromResult(false);
        if (rec.Status == SandboxStatus.Running) return Task.FromResult(true);
        if (rec.Status != SandboxStatus.Paused || !rec.AutoResume) return Task.FromResult(false);
        var once = _autoResumes.GetOrAdd(sandboxId, id => new Lazy<Task<bool>>(() => AutoResumeOnceAsync(id)));
        return once.Value.WaitAsync(ct);
    }

    private async Task<bool> AutoResumeOnceAsync(string sandboxId)
    {
        await Task.Yield(); // off the first request's thread: Lazy must have returned before the finally below runs
        try
        {
            var gate = Gate(sandboxId);
            await gate.WaitAsync();
            try
            {
                if (store.IsShared && await store.FindSandboxAsync(sandboxId, CancellationToken.None) is { } stored) Catch(stored);
                if (_live.GetValueOrDefault(sandboxId) is not { } rec) return false;
                if (rec.Status == SandboxStatus.Running) return true;
                if (rec.Status != SandboxStatus.Paused || !rec.AutoResume) return false;
                await ResumeLockedAsync(rec, TimeSpan.FromSeconds(_options.DefaultTimeoutSeconds), null, "resumed by traffic (autoResume)");
                return true;
            }
            finally { gate.Release(); }
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            log.LogWarning(e, "Auto-resume of {SandboxId} failed", sandboxId);
            return false;
        }
        finally
        {
            if (_autoResumes.TryGetValue(sandboxId, out var mine)) _autoResumes.TryRemove(KeyValuePair.Create(sandboxId, mine));
        }
    }

    public Task KillAsync(Caller caller, string sandboxId, CancellationToken ct) =>
        WithLockAsync(caller, sandboxId, async rec =>
        {
            await KillLockedAsync(rec, "killed by request", SandboxEvents.KillReasons.Request);
            return true;
        });

    /// <summary>
    /// Sets the deadline to now + timeout exactly (may shorten it). As in E2B, 0 (or less) is
    /// allowed and means "now": the next deadline check ends the sandbox (or pauses it with autoPause).
    /// </summary>
    public Task SetTimeoutAsync(Caller caller, string sandboxId, long? timeoutSeconds, CancellationToken ct)
    {
        if (timeoutSeconds is null) throw DomainException.InvalidArgument("'timeout' is required");
        var timeout = timeoutSeconds.Value <= 0 ? TimeSpan.Zero : ValidateTimeout(timeoutSeconds.Value, "timeout");
        return WithLockAsync(caller, sandboxId, async rec =>
        {
            var updated = rec with { EndAt = Now() + timeout };
            await SaveLiveAsync(updated, WithEvent(Log(sandboxId, "info", $"timeout set: ends at {updated.EndAt:O}"), SandboxEvents.Updated, updated, SetTimeout(updated.EndAt)), SandboxChangeCause.DeadlineMoved);
            return true;
        });
    }

    /// <summary>
    /// E2B's PUT /sandboxes/{id}/network: replaces the egress rules whole (what is not sent is
    /// cleared). Ingress settings stay. Only a running sandbox; connections opened after it meet the new rules.
    /// </summary>
    public Task UpdateNetworkAsync(Caller caller, string sandboxId, IReadOnlyList<string>? allowOut, IReadOnlyList<string>? denyOut, bool? allowInternetAccess, CancellationToken ct)
    {
        SandboxNetworkSettings.ValidateEgress(allowOut, denyOut);
        return WithLockAsync(caller, sandboxId, async rec =>
        {
            if (rec.Status != SandboxStatus.Running)
                throw DomainException.Conflict($"Sandbox \"{sandboxId}\" is in {rec.Status.ToString().ToLowerInvariant()} state");
            // As E2B: this request's flag decides what is enforced; the stored one changes only when sent.
            var enforced = SandboxEgress.From(allowOut, denyOut, allowInternetAccess ?? true);
            var network = rec.Network with
            {
                AllowOut = allowOut, DenyOut = denyOut,
                AllowInternetAccess = allowInternetAccess ?? rec.Network.AllowInternetAccess,
            };
            try { await RuntimeCallAsync("changing its network", async c => { await runtime.SetEgressAsync(sandboxId, enforced, c); return true; }); }
            catch (NotSupportedException e) { throw DomainException.InvalidArgument(e.Message); }
            var updated = rec with { Network = network };
            var data = new JsonObject
            {
                ["network_egress"] = new JsonObject
                {
                    ["allowed_cidrs"] = new JsonArray([.. enforced.AllowCidrs.Select(c => (JsonNode)c.ToString())]),
                    ["denied_cidrs"] = new JsonArray([.. enforced.DenyCidrs.Select(c => (JsonNode)c.ToString())]),
                    ["allowed_domains"] = new JsonArray([.. enforced.AllowDomains.Select(d => (JsonNode)d)]),
                },
            };
            await SaveLiveAsync(updated, WithEvent(Log(sandboxId, "info", "network egress rules replaced"), SandboxEvents.Updated, updated, data), SandboxChangeCause.NetworkChanged);
            return true;
        });
    }

    /// <summary>Keep-alive: extends the deadline by at least 15 s, never shortens it.</summary>
    public Task RefreshAsync(Caller caller, string sandboxId, long? durationSeconds, CancellationToken ct)
    {
        var seconds = durationSeconds ?? 15;
        if (seconds is < 0 or > 3600) throw DomainException.InvalidArgument($"'duration' must be between 0 and 3600 seconds (got {seconds})");
        var extend = TimeSpan.FromSeconds(Math.Max(seconds, 15));
        return WithLockAsync(caller, sandboxId, async rec =>
        {
            var end = Max(rec.EndAt, Now() + extend);
            if (end == rec.EndAt) return true;
            var updated = rec with { EndAt = end };
            await SaveLiveAsync(updated, WithEvent(Log(sandboxId, "info", $"refreshed: ends at {end:O}"), SandboxEvents.Updated, updated, SetTimeout(end)), SandboxChangeCause.DeadlineMoved);
            return true;
        });
    }

    // ------------------------------------------------------------------ metrics & logs

    public async Task<IReadOnlyList<SandboxMetricSample>> GetMetricsAsync(Caller caller, string sandboxId, DateTimeOffset? start, DateTimeOffset? end, CancellationToken ct)
    {
        var rec = Visible(caller, sandboxId);
        if (rec.Status == SandboxStatus.Running && _metrics.IsEmpty(sandboxId))
            await SampleAsync(rec, ct);
        return _metrics.Get(sandboxId, start, end);
    }

    public async Task<IReadOnlyList<SandboxLogEntry>> GetLogsAsync(Caller caller, string sandboxId, DateTimeOffset? from, int limit, bool newestFirst, CancellationToken ct)
    {
        await SeenByAsync(caller, sandboxId, ct);
        return await store.ListSandboxLogsAsync(sandboxId, from, limit, newestFirst, ct);
    }

    /// <summary>
    /// Lifecycle events: of one sandbox (the caller must see it; killed ones too while their record
    /// exists), or of the caller's team (an admin: of every team).
    /// </summary>
    public async Task<IReadOnlyList<SandboxLifecycleEvent>> ListEventsAsync(Caller caller, string? sandboxId, IReadOnlyCollection<string> types, int offset, int limit, bool ascending, CancellationToken ct)
    {
        if (sandboxId is not null) await SeenByAsync(caller, sandboxId, ct);
        var team = caller.IsAdmin ? null : caller.TeamId;
        return await store.ListSandboxEventsAsync(new SandboxEventQuery(team, sandboxId, types, offset, limit, ascending), ct);
    }

    /// <summary>Retention: drops log lines and events older than <paramref name="retention"/>.</summary>
    public Task<int> DropOldLogsAsync(TimeSpan retention, CancellationToken ct) => store.DeleteSandboxLogsBeforeAsync(Now() - retention, ct);

    /// <summary>One metrics sample of every running sandbox (called by the sampler).</summary>
    public async Task SampleAllAsync(CancellationToken ct)
    {
        foreach (var rec in _live.Values.Where(r => r.Status == SandboxStatus.Running).ToList())
        {
            try { await SampleAsync(rec, ct); }
            catch (Exception e) when (e is not OperationCanceledException) { log.LogDebug(e, "Metrics of {SandboxId} unavailable", rec.SandboxId); }
        }
    }

    private async Task SampleAsync(SandboxRecord rec, CancellationToken ct)
    {
        var m = await runtime.GetMetricsAsync(rec.SandboxId, ct);
        if (m is null) return;
        _metrics.Add(rec.SandboxId, new SandboxMetricSample(Clock.TruncateToMs(m.Timestamp), m.CpuCount, m.CpuUsedPct, m.MemUsed, m.MemTotal, m.MemCache, m.DiskUsed, m.DiskTotal));
    }

    // ------------------------------------------------------------------ background

    /// <summary>
    /// Kills (or, with autoPause, pauses) every running sandbox whose deadline has passed. Among
    /// replicas, only the holder of the reaper's lease does (its writes carry the lease's fence).
    /// </summary>
    public async Task<int> EnforceDeadlinesAsync(CancellationToken ct, LeaseFence? fence = null)
    {
        var now = Now();
        var due = _live.Values.Where(r => r.Status == SandboxStatus.Running && r.EndAt <= now).ToList();
        foreach (var candidate in due)
        {
            var gate = Gate(candidate.SandboxId);
            await gate.WaitAsync(ct);
            try
            {
                if (!_live.TryGetValue(candidate.SandboxId, out var rec) || rec.Status != SandboxStatus.Running || rec.EndAt > Now()) continue;
                if (rec.AutoPause)
                {
                    try
                    {
                        await PauseLockedAsync(rec, "paused: its timeout was reached (autoPause)",
                            rec.AutoPauseFilesystem ? SandboxPauseMode.Filesystem : SandboxPauseMode.Memory, fence);
                        continue;
                    }
                    catch (Exception e) when (e is not (OperationCanceledException or FencedWriteException)) { log.LogWarning(e, "Auto-pause of {SandboxId} failed; killing it", rec.SandboxId); }
                }
                await KillLockedAsync(rec, "killed: its timeout was reached", SandboxEvents.KillReasons.Timeout, fence);
            }
            catch (FencedWriteException)
            {
                log.LogWarning("Lost the reaper's lease while ending {SandboxId}; its new holder ends it", candidate.SandboxId);
                return due.Count;
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                log.LogError(e, "Could not end sandbox {SandboxId} at its deadline", candidate.SandboxId);
            }
            finally { gate.Release(); }
        }
        return due.Count;
    }

    /// <summary>
    /// The deadline leader's sweep: creates whose replica died mid-way (its heartbeat lease ran out,
    /// or the create outlived any runtime call) are ended, in the runtime and in the store.
    /// </summary>
    public async Task<int> EndAbandonedCreatesAsync(LeaseFence fence, CancellationToken ct)
    {
        var ended = 0;
        foreach (var rec in (await store.ListLiveSandboxesAsync(ct)).Where(r => r.Status == SandboxStatus.Creating))
        {
            if (await IsCreatingElsewhereAsync(rec, ct) || rec.Owner == lease?.Holder && Now() - rec.CreatedAt <= _options.RuntimeCallTimeout) continue;
            // The store first, on the version seen: a create that finished meanwhile (its replica
            // was slow, not dead) keeps its sandbox; one that finishes later finds its record ended
            // and kills what it made. Killing in the runtime first ended sandboxes already answered 201.
            const string message = "create was abandoned: the portal replica making it stopped";
            try
            {
                await store.SaveSandboxAsync(rec with { Status = SandboxStatus.Killed, EndedAt = Now(), Version = rec.Version + 1 },
                    Log(rec.SandboxId, "warn", message), ct, fence);
            }
            catch (StaleSandboxWriteException) { continue; } // it moved on meanwhile: not abandoned
            await TryKillInRuntimeAsync(rec.SandboxId);
            _live.TryRemove(rec.SandboxId, out _);
            log.LogInformation("Sandbox {SandboxId}: {Message}", rec.SandboxId, message);
            ended++;
        }
        return ended;
    }

    /// <summary>Whether another live replica is still within its time to finish this create.</summary>
    private async Task<bool> IsCreatingElsewhereAsync(SandboxRecord rec, CancellationToken ct) =>
        lease is not null && rec.Owner is { } owner && owner != lease.Holder
        && Now() - rec.CreatedAt <= _options.RuntimeCallTimeout
        && await lease.IsAliveAsync(owner, ct);

    /// <summary>Applies a state change the runtime reports (a sandbox died or was changed outside the portal).</summary>
    public async Task ApplyRuntimeEventAsync(SandboxEvent evt, CancellationToken ct)
    {
        var id = evt.Sandbox.SandboxId;
        if (!_live.ContainsKey(id)) return;
        var gate = Gate(id);
        await gate.WaitAsync(ct);
        try
        {
            if (!_live.TryGetValue(id, out var rec)) return;
            switch (evt.Kind)
            {
                case SandboxEventKind.Died or SandboxEventKind.Killed:
                    await MarkKilledAsync(rec, evt.Kind == SandboxEventKind.Died ? $"died: {evt.Reason ?? "the runtime reported it gone"}" : "killed outside the portal", "warn",
                        evt.Kind == SandboxEventKind.Died ? SandboxChangeCause.Died : SandboxChangeCause.Killed, SandboxEvents.KillReasons.Unknown, ct);
                    break;
                case SandboxEventKind.Paused when rec.Status == SandboxStatus.Running:
                    await SaveLiveAsync(rec with { Status = SandboxStatus.Paused },
                        WithEvent(Log(id, "info", "paused outside the portal"), SandboxEvents.Paused, rec, new JsonObject { ["execution"] = SandboxEvents.Execution(rec, Now()) }), SandboxChangeCause.Paused);
                    break;
                case SandboxEventKind.Resumed when rec.Status == SandboxStatus.Paused:
                    var resumed = rec with { Status = SandboxStatus.Running, ExecutionStartedAt = Now() };
                    await SaveLiveAsync(resumed, WithEvent(Log(id, "info", "resumed outside the portal"), SandboxEvents.Resumed, resumed), SandboxChangeCause.Resumed);
                    break;
                case SandboxEventKind.MemoryLimitHit:
                    await store.AddSandboxLogAsync(Log(id, "warn", $"out of memory: {evt.Reason ?? "a process was killed for exceeding the sandbox's memory limit"}"), ct);
                    changes.Publish(rec, SandboxChangeCause.OutOfMemory); // the sandbox lives on: an upsert
                    break;
            }
        }
        finally { gate.Release(); }
    }

    // ------------------------------------------------------------------ internals

    private async Task<SandboxRecord> ResumeLockedAsync(SandboxRecord rec, TimeSpan timeout, bool? autoPause, string message)
    {
        try { await RuntimeCallAsync("resuming it", ct => runtime.ResumeAsync(rec.SandboxId, ct)); }
        catch (SandboxNotFoundException)
        {
            await MarkKilledAsync(rec, "sandbox is gone: the runtime no longer has it", "warn", SandboxChangeCause.Died, SandboxEvents.KillReasons.Unknown, CancellationToken.None);
            throw DomainException.SandboxNotFound(rec.SandboxId);
        }
        catch (SandboxStateException e) when (e.State == SandboxState.Running) { /* already running: fine */ }
        var now = Now();
        var updated = rec with { Status = SandboxStatus.Running, EndAt = now + timeout, AutoPause = autoPause ?? rec.AutoPause, ExecutionStartedAt = now };
        return await SaveLiveAsync(updated, WithEvent(Log(rec.SandboxId, "info", $"{message}; ends at {updated.EndAt:O}"), SandboxEvents.Resumed, updated), SandboxChangeCause.Resumed);
    }

    private async Task PauseLockedAsync(SandboxRecord rec, string message, SandboxPauseMode mode, LeaseFence? fence = null)
    {
        try { await RuntimeCallAsync("pausing it", async ct => { await runtime.PauseAsync(rec.SandboxId, mode, ct); return true; }); }
        catch (NotSupportedException e) { throw DomainException.InvalidArgument(e.Message); }
        catch (SandboxNotFoundException)
        {
            await MarkKilledAsync(rec, "sandbox is gone: the runtime no longer has it", "warn", SandboxChangeCause.Died, SandboxEvents.KillReasons.Unknown, CancellationToken.None);
            throw DomainException.SandboxNotFound(rec.SandboxId);
        }
        catch (SandboxStateException e) when (e.State == SandboxState.Paused) { /* already paused in the runtime */ }
        await SaveLiveAsync(rec with { Status = SandboxStatus.Paused },
            WithEvent(Log(rec.SandboxId, "info", message), SandboxEvents.Paused, rec, new JsonObject { ["execution"] = SandboxEvents.Execution(rec, Now()) }), SandboxChangeCause.Paused, fence);
    }

    private async Task KillLockedAsync(SandboxRecord rec, string message, string killReason, LeaseFence? fence = null)
    {
        // Stop routing to it first (its streams are cut by the proxy once the kill is published).
        _live.TryRemove(rec.SandboxId, out _);
        try
        {
            await RuntimeCallAsync("killing it", ct => runtime.KillAsync(rec.SandboxId, ct)); // false = already gone: same outcome
            await MarkKilledAsync(rec, message, "info", SandboxChangeCause.Killed, killReason, CancellationToken.None, fence);
        }
        catch
        {
            // Not recorded as ended (the runtime refused, or a fenced write was refused): still this
            // replica's view until the store says otherwise.
            _live.TryAdd(rec.SandboxId, rec);
            throw;
        }
    }

    private async Task MarkKilledAsync(SandboxRecord rec, string message, string level, SandboxChangeCause cause, string killReason, CancellationToken ct, LeaseFence? fence = null)
    {
        var now = Now();
        var killed = rec with { Status = SandboxStatus.Killed, EndedAt = now, Version = rec.Version + 1 };
        var entry = Log(rec.SandboxId, level, message);
        if (rec.IsLive)
            entry = WithEvent(entry, SandboxEvents.Killed, rec, new JsonObject { ["execution"] = SandboxEvents.Execution(rec, now), ["kill_reason"] = killReason });
        try
        {
            await store.SaveSandboxAsync(killed, entry, ct, fence);
        }
        catch (StaleSandboxWriteException)
        {
            // Another replica wrote it meanwhile. Ended there too: take its word. Still live (say,
            // its deadline moved): it is gone from the runtime all the same, so it ends on that version.
            var stored = await store.FindSandboxAsync(rec.SandboxId, CancellationToken.None);
            if (stored is null) throw;
            if (!stored.IsLive) { if (rec.IsLive) _live[rec.SandboxId] = rec; Catch(stored); return; }
            await MarkKilledAsync(stored, message, level, cause, killReason, ct, fence);
            return;
        }
        // A create that never finished was never live: nobody saw it appear, nobody is told it went.
        if (rec.IsLive) changes.Publish(killed, cause);
        _live.TryRemove(rec.SandboxId, out _);
        _metrics.Remove(rec.SandboxId);
        // Waiters holding the old gate re-check visibility under it and answer not found.
        _locks.TryRemove(rec.SandboxId, out _);
        log.LogInformation("Sandbox {SandboxId}: {Message}", rec.SandboxId, message);
    }

    private async Task<SandboxRecord> SaveLiveAsync(SandboxRecord updated, SandboxLogEntry? entry, SandboxChangeCause cause, LeaseFence? fence = null)
    {
        updated = updated with { Version = updated.Version + 1 }; // callers pass a copy of the live record
        try
        {
            await store.SaveSandboxAsync(updated, entry, CancellationToken.None, fence);
        }
        catch (StaleSandboxWriteException)
        {
            // Another replica changed it first: this replica's view catches up now (not when its
            // note arrives), so the caller's retry acts on the current state.
            if (await store.FindSandboxAsync(updated.SandboxId, CancellationToken.None) is { } stored) Catch(stored);
            throw;
        }
        _live[updated.SandboxId] = updated;
        changes.Publish(updated, cause);
        return updated;
    }

    private async Task TryKillInRuntimeAsync(string sandboxId)
    {
        try { await RuntimeCallAsync("killing it", ct => runtime.KillAsync(sandboxId, ct)); }
        catch (Exception e) { log.LogWarning(e, "Could not kill {SandboxId} in the runtime", sandboxId); }
    }

    /// <summary>
    /// A runtime call under <see cref="SandboxOptions.RuntimeCallTimeout"/>: its token is cancelled
    /// then, and the wait ends then even when the runtime ignores the token, so a hung runtime
    /// never holds a sandbox's lock (a deadline error; the call may still finish in the background). Never tied
    /// to a request: a client that hangs up must not leave a half-made change.
    /// </summary>
    internal async Task<T> RuntimeCallAsync<T>(string what, Func<CancellationToken, Task<T>> call, Func<Task>? undoIfLate = null)
    {
        var deadline = new CancellationTokenSource(_options.RuntimeCallTimeout, clock);
        var task = call(deadline.Token);
        try
        {
            return await task.WaitAsync(_options.RuntimeCallTimeout, clock);
        }
        catch (Exception e) when (e is TimeoutException || (e is OperationCanceledException && deadline.IsCancellationRequested))
        {
            // Whatever the call leaves once it ends, after the control plane gave up on it, is undone
            // (a late create would otherwise leave a sandbox nobody knows of).
            if (undoIfLate is not null)
                _ = task.ContinueWith(_ => undoIfLate(), TaskScheduler.Default).Unwrap();
            log.LogError("The {Runtime} runtime did not finish {What} within {Timeout}", runtime.Name, what, _options.RuntimeCallTimeout);
            throw new DomainException(DomainErrorKind.DeadlineExceeded, $"the sandbox runtime did not finish {what} within {_options.RuntimeCallTimeout.TotalSeconds:0} s (Portal:Sandboxes:RuntimeCallTimeout)");
        }
        finally
        {
            if (task.IsCompleted) deadline.Dispose();
            else _ = task.ContinueWith(static (_, d) => ((CancellationTokenSource)d!).Dispose(), deadline, TaskScheduler.Default);
        }
    }

    /// <summary>Not found unless the caller may see this sandbox, live or ended (its record is kept for its logs).</summary>
    private async Task SeenByAsync(Caller caller, string sandboxId, CancellationToken ct)
    {
        if (!SandboxIds.IsWellFormed(sandboxId)) throw DomainException.SandboxNotFound(sandboxId);
        var rec = _live.GetValueOrDefault(sandboxId) ?? await store.FindSandboxAsync(sandboxId, ct);
        if (rec is null || !caller.CanSee(rec.TeamId)) throw DomainException.SandboxNotFound(sandboxId);
    }

    private SandboxRecord Visible(Caller caller, string sandboxId)
    {
        if (!SandboxIds.IsWellFormed(sandboxId) || !_live.TryGetValue(sandboxId, out var rec) || !caller.CanSee(rec.TeamId))
            throw DomainException.SandboxNotFound(sandboxId);
        return rec;
    }

    internal async Task<T> WithLockAsync<T>(Caller caller, string sandboxId, Func<SandboxRecord, Task<T>> action)
    {
        if (store.IsShared)
        {
            // Another replica's create may not have reached this one's view yet: the store decides.
            if (!SandboxIds.IsWellFormed(sandboxId)) throw DomainException.SandboxNotFound(sandboxId);
            if (!_live.ContainsKey(sandboxId) && await store.FindSandboxAsync(sandboxId, CancellationToken.None) is not { IsLive: true })
                throw DomainException.SandboxNotFound(sandboxId);
        }
        else Visible(caller, sandboxId); // cheap not-found before queueing on the lock
        var gate = Gate(sandboxId);
        await gate.WaitAsync();
        try
        {
            // Several replicas: act on the state the store holds now, never on a view another
            // replica's note has not reached yet (a pause there, then a connect here).
            if (store.IsShared && await store.FindSandboxAsync(sandboxId, CancellationToken.None) is { } stored) Catch(stored);
            // Re-read under the lock: it may have changed (or died) while we waited.
            return await action(Visible(caller, sandboxId));
        }
        finally { gate.Release(); }
    }

    private SemaphoreSlim Gate(string sandboxId) => _locks.GetOrAdd(sandboxId, _ => new SemaphoreSlim(1, 1));

    internal TimeSpan ValidateTimeout(long seconds, string field)
    {
        if (seconds < 1 || seconds > _options.MaxTimeoutSeconds)
            throw DomainException.InvalidArgument($"'{field}' must be between 1 and {_options.MaxTimeoutSeconds} seconds (got {seconds})");
        return TimeSpan.FromSeconds(seconds);
    }

    private static string NormalizeEnvdVersion(string? v) =>
        Version.TryParse(v, out var parsed) && parsed >= new Version(0, 6, 4) ? v! : "0.6.13";

    private DateTimeOffset Now() => Clock.TruncateToMs(clock.GetUtcNow());

    private static DateTimeOffset Max(DateTimeOffset a, DateTimeOffset b) => a >= b ? a : b;

    /// <summary>The lifecycle event this log line records (written with it, in the same transaction as the change).</summary>
    private static SandboxLogEntry WithEvent(SandboxLogEntry entry, string type, SandboxRecord sandbox, JsonObject? data = null) =>
        entry with { Event = SandboxEvents.Make(type, sandbox, entry.Timestamp, data) };

    private static JsonObject SetTimeout(DateTimeOffset end) =>
        new() { ["set_timeout"] = Clock.Rfc3339(end) };

    private SandboxLogEntry Log(string sandboxId, string level, string message, params (string Key, string Value)[] fields) =>
        new(sandboxId, Now(), level, message, fields.ToDictionary(f => f.Key, f => f.Value));
}
