using Microsoft.Extensions.Logging;
using Portal.Core.Auth;
using Portal.Core.Persistence;
using Portal.Core.Runtime;
using Portal.Core.Sandboxes;

namespace Portal.Core.Snapshots;

/// <summary>One fork's outcome: the sandbox it started, or why it did not start.</summary>
public sealed record ForkOutcome(SandboxRecord? Sandbox, DomainException? Error);

/// <summary>
/// A fork's outcomes, one per requested fork, and whether the forks kept the source's processes
/// and memory (false: each booted fresh from a copy of its filesystem).
/// </summary>
public sealed record ForkResult(IReadOnlyList<ForkOutcome> Forks, bool MemoryKept);

/// <summary>
/// E2B's snapshots and forks over <see cref="ISandboxRuntime.SnapshotAsync"/>: a snapshot is a
/// template the runtime copies from a sandbox's filesystem changes while it is frozen, recorded
/// for its team in the store; a fork starts sandboxes from such a copy that is never listed and is
/// removed once no sandbox runs on it any more. Removal is two-step: the record is marked removed
/// (gone for every caller at once), then the runtime drops the template, which it refuses while
/// another template still stacks on it; those wait for a later sweep.
/// </summary>
public sealed class SnapshotService(SandboxService sandboxes, IPortalStore store, TimeProvider clock, ILogger<SnapshotService> log)
{
    /// <summary>E2B's bound on one fork request.</summary>
    public const int MaxForkCount = 100;
    /// <summary>E2B's default lifetime of a fork when the request sends no <c>timeout</c> (its instance default).</summary>
    public const int DefaultForkTimeoutSeconds = 15;

    private readonly SemaphoreSlim _sweep = new(1, 1);
    /// <summary>Fork copies whose forks are still being started (not yet seen running on them).</summary>
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, byte> _forking = new(StringComparer.Ordinal);
    private ISandboxRuntime Runtime => sandboxes.Runtime;

    // ------------------------------------------------------------------ take

    /// <summary>
    /// POST /sandboxes/{id}/snapshots: the sandbox's filesystem as a new template, taken while it is
    /// frozen (running or paused). A name taken again points at the new copy (the older is removed).
    /// </summary>
    public async Task<SnapshotRecord> CreateAsync(Caller caller, string sandboxId, string? name, CancellationToken ct)
    {
        var parsed = name is null ? null : SnapshotNames.Parse(name);
        var slug = SnapshotNames.SlugOf(caller.Team);
        if (parsed?.Namespace is { } ns && ns != slug)
            throw DomainException.InvalidArgument($"namespace '{ns}' must match your team '{slug}'");
        var (snapshot, replaced) = await sandboxes.WithLockAsync(caller, sandboxId, async rec =>
        {
            var owner = rec.TeamId == caller.TeamId ? caller.Team : await store.FindTeamAsync(rec.TeamId, ct) ?? caller.Team;
            var snap = await TakeAsync(rec, parsed is null ? null : (SnapshotNames.SlugOf(owner), parsed.Alias, parsed.EffectiveTag), listed: true);
            var older = await StoreOrUndoAsync(snap);
            await sandboxes.RecordCheckpointAsync(rec, $"snapshot {snap.PublicId} taken");
            return (snap, older);
        });
        log.LogInformation("Snapshot {SnapshotId} of {SandboxId} taken for team {TeamId}", snapshot.SnapshotId, sandboxId, snapshot.TeamId);
        if (replaced.Count > 0) await AfterRemovalAsync(tidy: false);
        return snapshot;
    }

    /// <summary>Under the sandbox's lock: the runtime's copy, as a record not yet stored.</summary>
    private async Task<SnapshotRecord> TakeAsync(SandboxRecord rec, (string Namespace, string Alias, string Tag)? name, bool listed)
    {
        var id = SandboxIds.New();
        SandboxTemplate template;
        try
        {
            template = await sandboxes.RuntimeCallAsync("taking a snapshot of it", c => Runtime.SnapshotAsync(rec.SandboxId, id, c));
        }
        catch (SandboxNotFoundException) { throw DomainException.SandboxNotFound(rec.SandboxId); }
        catch (NotSupportedException e) { throw DomainException.InvalidArgument(e.Message); }
        catch (ArgumentException e) { throw DomainException.InvalidArgument(e.Message); }
        return new SnapshotRecord
        {
            SnapshotId = template.TemplateId,
            TeamId = rec.TeamId,
            Namespace = name?.Namespace,
            Name = name?.Alias,
            Tag = name?.Tag ?? SnapshotNames.DefaultTag,
            SourceSandboxId = rec.SandboxId,
            ParentTemplateId = template.ParentTemplateId ?? rec.TemplateId,
            Listed = listed,
            CreatedAt = Now(),
        };
    }

    /// <summary>Records the copy; a copy that could not be recorded is dropped, so no template is left that nobody knows of.</summary>
    private async Task<IReadOnlyList<string>> StoreOrUndoAsync(SnapshotRecord snap)
    {
        try { return await store.AddSnapshotAsync(snap, CancellationToken.None); }
        catch
        {
            try { await Runtime.DeleteTemplateAsync(snap.SnapshotId, CancellationToken.None); }
            catch (Exception e) { log.LogWarning(e, "Could not drop the unrecorded snapshot template {SnapshotId}", snap.SnapshotId); }
            throw;
        }
    }

    // ------------------------------------------------------------------ fork

    /// <summary>
    /// POST /sandboxes/{id}/fork: one copy of the running sandbox's filesystem, then
    /// <paramref name="count"/> sandboxes from it in parallel, each with the source's metadata,
    /// env vars, network and pause settings, each succeeding or failing alone. The source keeps running.
    /// </summary>
    public async Task<ForkResult> ForkAsync(Caller caller, string sandboxId, long? count, long? timeoutSeconds, CancellationToken ct)
    {
        var requested = count ?? 1;
        if (requested < 1) throw DomainException.InvalidArgument("Count must be at least 1");
        if (requested > MaxForkCount) throw DomainException.InvalidArgument($"Count cannot be greater than {MaxForkCount}");
        var n = (int)requested;
        var timeout = timeoutSeconds ?? DefaultForkTimeoutSeconds;
        sandboxes.ValidateTimeout(timeout, "timeout");

        var (source, copy, envVars) = await sandboxes.WithLockAsync(caller, sandboxId, async rec =>
        {
            if (rec.Status == SandboxStatus.Paused)
                throw DomainException.Conflict($"Sandbox '{sandboxId}' is paused and cannot be forked; resume it first");
            // The env vars the sandbox was started with live in its envd, not in the record.
            var envs = await EnvdEnvVars.ReadAsync(Runtime, rec, ct);
            var snap = await TakeAsync(rec, null, listed: false);
            _forking[snap.SnapshotId] = 0;
            try
            {
                await StoreOrUndoAsync(snap);
                await sandboxes.RecordCheckpointAsync(rec, $"checkpointed for a fork into {n}");
            }
            catch { _forking.TryRemove(snap.SnapshotId, out _); throw; } // a stored copy is then tidied away
            return (rec, snap, envs);
        });

        var owner = source.TeamId == caller.TeamId ? caller : caller with { Team = await store.FindTeamAsync(source.TeamId, ct) ?? caller.Team };
        ForkOutcome[] outcomes;
        try
        {
            outcomes = await Task.WhenAll(Enumerable.Range(0, n).Select(async _ =>
            {
                try
                {
                    var fork = await sandboxes.CreateAsync(owner, new CreateSandboxCommand
                    {
                        Template = copy.SnapshotId,
                        ForkOf = source,
                        TimeoutSeconds = timeout,
                        Metadata = source.Metadata,
                        EnvVars = envVars,
                        Secure = source.EnvdAccessToken is not null,
                        AutoPause = source.AutoPause,
                        AllowInternetAccess = source.Network.AllowInternetAccess ?? true,
                        Network = source.Network with { TrafficAccessToken = null },
                    }, CancellationToken.None);
                    return new ForkOutcome(fork, null);
                }
                catch (DomainException e) { return new ForkOutcome(null, e); }
                catch (Exception e) { return new ForkOutcome(null, new DomainException(DomainErrorKind.Internal, "the fork could not be started: " + e.Message, e)); }
            }));
        }
        finally
        {
            // Nothing new starts from the copy; it stays while a fork runs on it (a fork that boots
            // again, say after a filesystem-only pause, mounts it again), and goes with the last one.
            _forking.TryRemove(copy.SnapshotId, out _);
            await AfterRemovalAsync(tidy: true);
        }
        log.LogInformation("Sandbox {SandboxId} forked: {Ok} of {Count} started", sandboxId, outcomes.Count(o => o.Sandbox is not null), n);
        return new ForkResult(outcomes, MemoryKept: false);
    }

    // ------------------------------------------------------------------ list

    /// <summary>GET /snapshots: the caller's (an admin: every team's) snapshots, newest first, paged.</summary>
    public async Task<SnapshotPage> ListAsync(Caller caller, string? sandboxId, string? name, int limit, string? nextToken, CancellationToken ct)
    {
        if (sandboxId is not null && !SandboxIds.IsWellFormed(sandboxId)) throw DomainException.InvalidArgument("Invalid sandbox ID");
        var query = new SnapshotQuery
        {
            TeamId = caller.IsAdmin ? null : caller.TeamId,
            SourceSandboxId = sandboxId,
            After = nextToken is { Length: > 0 } t ? PageToken.Decode(t, SandboxIds.IsWellFormed) : null,
            Limit = limit + 1,
        };
        if (name is not null)
        {
            var parsed = SnapshotNames.Parse(name);
            var slug = SnapshotNames.SlugOf(caller.Team);
            if (parsed.Namespace is { } ns && ns != slug)
                throw DomainException.InvalidArgument($"namespace '{ns}' must match your team '{slug}'");
            // E2B filters by name or ID: a bare ID of one of the caller's snapshots is the ID.
            var byId = parsed.Namespace is null ? await store.FindSnapshotAsync(parsed.Alias, ct) : null;
            query = byId is { Listed: true } && caller.CanSee(byId.TeamId)
                ? query with { SnapshotId = byId.SnapshotId, Tag = parsed.TagWritten ? parsed.EffectiveTag : null }
                : query with { Namespace = slug, Name = parsed.Alias, Tag = parsed.TagWritten ? parsed.EffectiveTag : null, TeamId = caller.TeamId };
        }
        var rows = await store.ListSnapshotsAsync(query, ct);
        if (rows.Count <= limit) return new SnapshotPage(rows, null);
        var page = rows.Take(limit).ToList();
        return new SnapshotPage(page, PageToken.Encode(page[^1].CreatedAt, page[^1].SnapshotId));
    }

    // ------------------------------------------------------------------ delete

    /// <summary>
    /// DELETE /templates/{id} for a snapshot, by its ID or name (<c>[namespace/]name[:tag]</c>;
    /// a name takes every tag, as E2B deletes the whole template). False when
    /// <paramref name="reference"/> names no snapshot the caller could know of (then it may be a
    /// built template: the caller of this method decides what a miss means).
    /// </summary>
    /// <exception cref="DomainException">another team's snapshot (permission denied, as E2B), or an invalid name.</exception>
    public async Task<bool> TryDeleteAsync(Caller caller, string reference, CancellationToken ct)
    {
        SnapshotNames.Parsed parsed;
        try { parsed = SnapshotNames.Parse(reference); }
        catch (DomainException e) { throw DomainException.InvalidArgument("Invalid template ID: " + e.Message.Replace("Invalid name: ", "")); }
        IReadOnlyList<SnapshotRecord> found = [];
        if (parsed.Namespace is null && await store.FindSnapshotAsync(parsed.Alias, ct) is { Listed: true, RemovedAt: null } byId)
            found = [byId];
        else
        {
            var own = SnapshotNames.SlugOf(caller.Team);
            var ns = parsed.Namespace ?? own;
            // Another team's namespace reaches its snapshots only to be refused, as E2B does.
            found = await store.ListSnapshotsAsync(new SnapshotQuery { Namespace = ns, Name = parsed.Alias, TeamId = ns == own ? caller.TeamId : null, Limit = 1000 }, ct);
        }
        if (found.Count == 0) return false;
        if (found.FirstOrDefault(s => !caller.CanSee(s.TeamId)) is not null)
            throw DomainException.PermissionDenied($"You don't have access to template '{reference}'");
        var removed = await store.RemoveSnapshotsAsync(found.Select(s => s.SnapshotId).ToList(), Now(), ct);
        if (removed.Count == 0) return false; // deleted by a concurrent request
        log.LogInformation("Snapshots {Ids} deleted by team {TeamId}", string.Join(", ", removed), caller.TeamId);
        await AfterRemovalAsync(tidy: false);
        return true;
    }

    // ------------------------------------------------------------------ resolve

    /// <summary>
    /// What a create's <c>templateID</c> means when it names a snapshot: the snapshot when it is the
    /// caller's, <see cref="Resolution.Unusable"/> when it is another team's, removed, or a fork's
    /// copy (answered exactly like an unknown template: nobody learns it exists), or
    /// <see cref="Resolution.NotASnapshot"/> (then it is an ordinary template name).
    /// </summary>
    public static async Task<(Resolution Kind, SnapshotRecord? Snapshot)> ResolveAsync(IPortalStore store, Caller caller, string reference, CancellationToken ct)
    {
        SnapshotNames.Parsed parsed;
        try { parsed = SnapshotNames.Parse(reference); }
        catch (DomainException) { return (Resolution.NotASnapshot, null); }
        if (parsed.Namespace is null && await store.FindSnapshotAsync(parsed.Alias, ct) is { } byId)
        {
            var usable = byId is { Listed: true, RemovedAt: null } && caller.CanSee(byId.TeamId) && parsed.EffectiveTag == byId.Tag;
            return usable ? (Resolution.Snapshot, byId) : (Resolution.Unusable, null);
        }
        var own = SnapshotNames.SlugOf(caller.Team);
        var ns = parsed.Namespace ?? own;
        var named = await store.ListSnapshotsAsync(new SnapshotQuery
        {
            Namespace = ns, Name = parsed.Alias, Tag = parsed.EffectiveTag, TeamId = ns == own ? caller.TeamId : null, Limit = 1,
        }, ct);
        if (named.Count == 0) return (Resolution.NotASnapshot, null);
        return caller.CanSee(named[0].TeamId) ? (Resolution.Snapshot, named[0]) : (Resolution.Unusable, null);
    }

    public enum Resolution { NotASnapshot, Snapshot, Unusable }

    // ------------------------------------------------------------------ sweep

    /// <summary>
    /// The answer to the request is already decided (the snapshot taken, the forks started): a
    /// sweep that fails now is logged and left to the next one, never turned into an error.
    /// </summary>
    private async Task AfterRemovalAsync(bool tidy)
    {
        try
        {
            if (tidy) await TidyAsync(CancellationToken.None);
            else await SweepAsync(CancellationToken.None);
        }
        catch (Exception e) { log.LogWarning(e, "Snapshot sweep failed; the next one tries again"); }
    }

    /// <summary>
    /// After a fork, and periodically: fork copies no sandbox runs on any more (their forks ended,
    /// or a fork was cut short by a restart) are removed; then every removed snapshot's template is
    /// offered to the runtime again. Returns how many templates the runtime dropped.
    /// </summary>
    public async Task<int> TidyAsync(CancellationToken ct)
    {
        var inUse = (await Runtime.ListAsync(ct)).Select(i => i.TemplateId).ToHashSet(StringComparer.Ordinal);
        var unused = (await store.ListSnapshotsAsync(new SnapshotQuery { ListedOnly = false, Limit = 10_000 }, ct))
            .Where(s => !s.Listed && !inUse.Contains(s.SnapshotId) && !_forking.ContainsKey(s.SnapshotId))
            .Select(s => s.SnapshotId).ToList();
        if (unused.Count > 0)
        {
            await store.RemoveSnapshotsAsync(unused, Now(), ct);
            log.LogInformation("Fork copies {Ids} removed: no sandbox runs on them any more", string.Join(", ", unused));
        }
        return await SweepAsync(ct);
    }

    /// <summary>
    /// Asks the runtime to drop the template of every removed snapshot, newest first (a newer one may
    /// stack on an older one, never the reverse); one still under another template stays for a later sweep.
    /// </summary>
    public async Task<int> SweepAsync(CancellationToken ct)
    {
        await _sweep.WaitAsync(ct);
        try
        {
            var dropped = 0;
            foreach (var s in await store.ListSnapshotsAsync(new SnapshotQuery { Removed = true, ListedOnly = false, Limit = 10_000 }, ct))
            {
                try
                {
                    await Runtime.DeleteTemplateAsync(s.SnapshotId, ct);
                }
                catch (TemplateInUseException e)
                {
                    log.LogDebug("Template of removed snapshot {SnapshotId} kept for now: {Reason}", s.SnapshotId, e.Message);
                    continue;
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    log.LogWarning(e, "Template of removed snapshot {SnapshotId} could not be deleted; tried again at the next sweep", s.SnapshotId);
                    continue;
                }
                await store.DeleteRemovedSnapshotAsync(s.SnapshotId, ct);
                dropped++;
            }
            return dropped;
        }
        finally { _sweep.Release(); }
    }

    private DateTimeOffset Now() => Clock.TruncateToMs(clock.GetUtcNow());
}
