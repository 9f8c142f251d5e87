using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Portal.Core.Auth;
using Portal.Core.Sandboxes;
using Portal.Core.Webhooks;

namespace Portal.Core.Persistence;

/// <summary>
/// <see cref="IPortalStore"/> with EF Core, on SQLite (the embedded default) or PostgreSQL (shared
/// by replicas), chosen by <see cref="Open"/>. Writes of one process are serialised (SQLite has one
/// writer anyway; on PostgreSQL it keeps group commit simple); sandbox saves that queue up meanwhile
/// are committed together (<see cref="SaveSandboxAsync"/>), every other write is its own transaction.
/// </summary>
public sealed partial class EfPortalStore : IPortalStore, IDisposable
{
    private readonly PortalDatabase _database;
    private readonly SemaphoreSlim _writeLock = new(1, 1);

    private EfPortalStore(PortalDatabase database) => _database = database;

    /// <summary>
    /// PostgreSQL when <paramref name="connectionString"/> is given (an Npgsql connection string,
    /// <c>Host=...;Database=...;Username=...;Password=...</c>), else SQLite at <paramref name="sqlitePath"/>.
    /// </summary>
    public static EfPortalStore Open(string? connectionString, string sqlitePath) =>
        string.IsNullOrWhiteSpace(connectionString) ? Sqlite(sqlitePath) : new(new PostgresDatabase(connectionString));

    public static EfPortalStore Sqlite(string path) => new(new SqliteDatabase(path));

    /// <summary>"SQLite /var/lib/...", "PostgreSQL host:5432/db": for the startup log.</summary>
    public string Description => _database.Description;

    private PortalDbContext Context() => _database.Open();

    public bool IsShared => _database.IsShared;

    /// <summary>A context on the store's database, for Identity's user store (one per request scope).</summary>
    internal PortalDbContext OpenContext() => _database.Open();

    public Task InitializeAsync(CancellationToken ct) => _database.InitializeAsync(ct);

    public Task<IAsyncDisposable> LockStartupAsync(CancellationToken ct) => _database.LockStartupAsync(ct);

    private async Task WriteAsync(Func<PortalDbContext, Task> work, CancellationToken ct, string? note = null)
    {
        await _writeLock.WaitAsync(ct);
        try
        {
            await using var db = Context();
            await work(db);
            await CommitAsync(db, note is null ? [] : [note]); // once started, a write is not abandoned
        }
        finally { _writeLock.Release(); }
    }

    /// <summary>
    /// Saves, and tells other processes on the database what changed in the same transaction, so
    /// they hear of it exactly when it is committed (never before, never a change that rolled back).
    /// </summary>
    private async Task CommitAsync(PortalDbContext db, IReadOnlyList<string> notes, LeaseFence? fence = null)
    {
        if (fence is null && (notes.Count == 0 || !_database.IsShared))
        {
            await db.SaveChangesAsync(CancellationToken.None);
            return;
        }
        await using var tx = await db.Database.BeginTransactionAsync(CancellationToken.None);
        if (fence is not null)
        {
            // Touching the lease row both checks it and (PostgreSQL) locks it until commit, so a
            // new holder cannot take it between this check and this write.
            var held = await db.Leases
                .Where(l => l.Name == fence.Name && l.Holder == fence.Holder && l.Epoch == fence.Epoch)
                .ExecuteUpdateAsync(u => u.SetProperty(l => l.Epoch, l => l.Epoch), CancellationToken.None);
            if (held == 0) throw new FencedWriteException(fence);
        }
        await db.SaveChangesAsync(CancellationToken.None);
        if (_database.IsShared && notes.Count > 0) await _database.NotifyAsync(db, notes);
        await tx.CommitAsync(CancellationToken.None);
    }

    public async Task<bool> IsLeaseHeldAsync(string name, DateTimeOffset now, CancellationToken ct)
    {
        var nowMs = Ms(now);
        await using var db = Context();
        return await db.Leases.AnyAsync(l => l.Name == name && l.ExpiresAt >= nowMs, ct);
    }

    public async Task<long?> TryHoldLeaseAsync(string name, string holder, DateTimeOffset now, TimeSpan duration, CancellationToken ct)
    {
        var nowMs = Ms(now);
        var until = Ms(now + duration);
        // SQLite has one writer: wait for this process's turn. PostgreSQL orders the statements
        // itself, and a renewal queued behind a burst of saves could outlive its own lease.
        var serialised = !_database.IsShared;
        if (serialised) await _writeLock.WaitAsync(ct);
        try
        {
            await using var db = Context();
            // Ours already: renewed, same epoch.
            if (await db.Leases.Where(l => l.Name == name && l.Holder == holder)
                    .ExecuteUpdateAsync(u => u.SetProperty(l => l.ExpiresAt, until), CancellationToken.None) == 1)
                return await EpochAsync(db);
            // Another's, expired: taken over, next epoch (its holder's late writes are refused from now on).
            if (await db.Leases.Where(l => l.Name == name && l.ExpiresAt < nowMs)
                    .ExecuteUpdateAsync(u => u
                        .SetProperty(l => l.Holder, holder)
                        .SetProperty(l => l.Epoch, l => l.Epoch + 1)
                        .SetProperty(l => l.ExpiresAt, until), CancellationToken.None) == 1)
                return await EpochAsync(db);
            if (await db.Leases.AnyAsync(l => l.Name == name, CancellationToken.None)) return null; // another's, current
            db.Leases.Add(new LeaseRow { Name = name, Holder = holder, Epoch = 1, ExpiresAt = until });
            try { await db.SaveChangesAsync(CancellationToken.None); return 1; }
            catch (DbUpdateException) { return null; } // another replica created it first
        }
        finally { if (serialised) _writeLock.Release(); }

        async Task<long?> EpochAsync(PortalDbContext db) =>
            await db.Leases.AsNoTracking().Where(l => l.Name == name && l.Holder == holder).Select(l => (long?)l.Epoch).FirstOrDefaultAsync(CancellationToken.None);
    }

    public async Task<long> RecordLeaseHolderAsync(string name, string holder, DateTimeOffset now, TimeSpan duration, CancellationToken ct)
    {
        var until = Ms(now + duration);
        var serialised = !_database.IsShared;
        if (serialised) await _writeLock.WaitAsync(ct);
        try
        {
            for (var attempt = 0; ; attempt++)
            {
                await using var db = Context();
                // One statement each: a holder change raises the epoch in the same update, so two
                // records racing each get their own epoch and the later one stands.
                if (await db.Leases.Where(l => l.Name == name && l.Holder == holder)
                        .ExecuteUpdateAsync(u => u.SetProperty(l => l.ExpiresAt, until), CancellationToken.None) == 1
                    || await db.Leases.Where(l => l.Name == name && l.Holder != holder)
                        .ExecuteUpdateAsync(u => u
                            .SetProperty(l => l.Holder, holder)
                            .SetProperty(l => l.Epoch, l => l.Epoch + 1)
                            .SetProperty(l => l.ExpiresAt, until), CancellationToken.None) == 1)
                {
                    var epoch = await db.Leases.AsNoTracking().Where(l => l.Name == name && l.Holder == holder).Select(l => (long?)l.Epoch).FirstOrDefaultAsync(CancellationToken.None);
                    // Gone to another holder between the two statements: it is that one's now.
                    return epoch ?? throw new InvalidOperationException($"lease '{name}' was recorded for another holder meanwhile");
                }
                db.Leases.Add(new LeaseRow { Name = name, Holder = holder, Epoch = 1, ExpiresAt = until });
                try { await db.SaveChangesAsync(CancellationToken.None); return 1; }
                catch (DbUpdateException) when (attempt < 3) { } // created meanwhile: update it
            }
        }
        finally { if (serialised) _writeLock.Release(); }
    }

    public async IAsyncEnumerable<StoreChange> WatchOthersAsync([System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct)
    {
        await foreach (var note in _database.ListenAsync(ct))
        {
            if (StoreChange.Parse(note) is not { } change) continue;
            // Which teams have webhooks is cached here (every save asks): another replica's change resets it.
            if (change is StoreChange.Webhooks or StoreChange.Resync) _enabledWebhooks = null;
            yield return change;
        }
    }

    // ---- teams ----

    public async Task<IReadOnlyList<Team>> ListTeamsAsync(CancellationToken ct)
    {
        await using var db = Context();
        var rows = await db.Teams.AsNoTracking().OrderBy(t => t.CreatedAt).ToListAsync(ct);
        return rows.Select(ToTeam).ToList();
    }

    public async Task<Team?> FindTeamAsync(string teamId, CancellationToken ct)
    {
        await using var db = Context();
        var row = await db.Teams.AsNoTracking().FirstOrDefaultAsync(t => t.TeamId == teamId, ct);
        return row is null ? null : ToTeam(row);
    }

    public Task AddTeamAsync(Team team, CancellationToken ct) =>
        WriteAsync(db => { db.Teams.Add(FromTeam(team)); return Task.CompletedTask; }, ct, StoreChange.KeysNote);

    public Task AddTeamWithKeyAsync(Team team, ApiKey key, CancellationToken ct) =>
        WriteAsync(db => { db.Teams.Add(FromTeam(team)); db.ApiKeys.Add(FromKey(key)); return Task.CompletedTask; }, ct, StoreChange.KeysNote);

    // ---- keys ----

    public async Task<IReadOnlyList<ApiKey>> ListApiKeysAsync(CancellationToken ct)
    {
        await using var db = Context();
        var rows = await db.ApiKeys.AsNoTracking().OrderBy(k => k.CreatedAt).ToListAsync(ct);
        return rows.Select(ToKey).ToList();
    }

    public Task AddApiKeyAsync(ApiKey key, CancellationToken ct) =>
        WriteAsync(db => { db.ApiKeys.Add(FromKey(key)); return Task.CompletedTask; }, ct, StoreChange.KeysNote);

    public Task TouchApiKeyAsync(string keyId, DateTimeOffset lastUsedAt, CancellationToken ct)
    {
        var ms = Ms(lastUsedAt);
        return WriteAsync(db => db.ApiKeys.Where(k => k.Id == keyId).ExecuteUpdateAsync(u => u.SetProperty(k => k.LastUsedAt, ms), ct), ct);
    }

    public Task RevokeApiKeyAsync(string keyId, DateTimeOffset revokedAt, CancellationToken ct)
    {
        var ms = Ms(revokedAt);
        return WriteAsync(db => db.ApiKeys.Where(k => k.Id == keyId && k.RevokedAt == null)
            .ExecuteUpdateAsync(u => u.SetProperty(k => k.RevokedAt, ms), CancellationToken.None), ct, StoreChange.KeysNote);
    }

    // ---- sandboxes ----

    public async Task<IReadOnlyList<SandboxRecord>> ListLiveSandboxesAsync(CancellationToken ct)
    {
        var killed = nameof(SandboxStatus.Killed);
        await using var db = Context();
        var rows = await db.Sandboxes.AsNoTracking().Where(s => s.Status != killed).ToListAsync(ct);
        return rows.Select(ToSandbox).ToList();
    }

    public async Task<SandboxRecord?> FindSandboxAsync(string sandboxId, CancellationToken ct)
    {
        await using var db = Context();
        var row = await db.Sandboxes.AsNoTracking().FirstOrDefaultAsync(s => s.SandboxId == sandboxId, ct);
        return row is null ? null : ToSandbox(row);
    }

    private sealed record PendingSave(SandboxRecord Record, SandboxLogEntry? Log)
    {
        public TaskCompletionSource Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    private readonly System.Collections.Concurrent.ConcurrentQueue<PendingSave> _pendingSaves = new();

    /// <summary>
    /// Group commit: a save joins the queue, and whoever holds the write lock next commits every
    /// queued save in one transaction. A burst of creates (two saves each) then costs a few
    /// transactions instead of one serialised transaction per save, which was most of a burst's time.
    /// </summary>
    public async Task SaveSandboxAsync(SandboxRecord record, SandboxLogEntry? log, CancellationToken ct, LeaseFence? fence = null)
    {
        ct.ThrowIfCancellationRequested();
        if (fence is not null)
        {
            // Fenced writes are rare (the leader's deadline work) and each checks its lease: alone.
            await _writeLock.WaitAsync(CancellationToken.None);
            try { await SaveOneAsync(record, log, fence); }
            finally { _writeLock.Release(); }
            return;
        }
        var mine = new PendingSave(record, log);
        _pendingSaves.Enqueue(mine);
        // Once queued, a save is not abandoned (a cancelled caller could not tell whether it happened).
        await _writeLock.WaitAsync(CancellationToken.None);
        try
        {
            if (!mine.Done.Task.IsCompleted) await CommitPendingSavesAsync();
        }
        finally { _writeLock.Release(); }
        await mine.Done.Task;
    }

    /// <summary>Under the write lock: everything queued, in one transaction; should that fail,
    /// each on its own, so one bad save fails alone.</summary>
    private async Task CommitPendingSavesAsync()
    {
        var batch = new List<PendingSave>();
        while (batch.Count < 512 && _pendingSaves.TryDequeue(out var p)) batch.Add(p);
        if (batch.Count == 0) return;
        if (batch.Count > 1)
        {
            try
            {
                await using var db = Context();
                foreach (var p in batch)
                {
                    Stage(db, p.Record, insert: p.Record.Status == SandboxStatus.Creating);
                    if (p.Log is not null) db.SandboxLogs.Add(FromLog(p.Log));
                }
                await StageOutboxAsync(db, batch.Select(p => p.Log));
                await CommitAsync(db, batch.Select(p => StoreChange.SandboxNote(p.Record.SandboxId, p.Record.Version)).ToList());
                foreach (var p in batch) p.Done.TrySetResult();
                return;
            }
            catch (Exception e) when (e is DbUpdateException or InvalidOperationException)
            {
                // A row that was not where expected (or one sandbox twice): nothing was committed; one by one below.
            }
        }
        foreach (var p in batch)
        {
            try
            {
                await SaveOneAsync(p.Record, p.Log);
                p.Done.TrySetResult();
            }
            catch (Exception e) { p.Done.TrySetException(e); }
        }
    }

    private async Task SaveOneAsync(SandboxRecord record, SandboxLogEntry? log, LeaseFence? fence = null)
    {
        // One statement in the common case: a record is first written while Creating (insert),
        // later only changed (update). An update that finds no row falls back to an insert.
        var insert = record.Status == SandboxStatus.Creating;
        for (var attempt = 0; ; attempt++)
        {
            await using var db = Context();
            Stage(db, record, insert);
            if (log is not null) db.SandboxLogs.Add(FromLog(log));
            await StageOutboxAsync(db, [log]);
            try
            {
                await CommitAsync(db, [StoreChange.SandboxNote(record.SandboxId, record.Version)], fence);
                return;
            }
            catch (DbUpdateConcurrencyException) when (!insert)
            {
                // No row with the version this write was based on: a newer one, or none at all.
                await using var check = Context();
                if (await check.Sandboxes.AnyAsync(r => r.SandboxId == record.SandboxId)) throw new StaleSandboxWriteException(record.SandboxId, record.Version);
                if (attempt > 0) throw;
                insert = true;
            }
            catch (DbUpdateException) when (insert && attempt == 0) { insert = false; }
        }
    }

    /// <summary>An insert, or an update conditional on the stored version being the one before the record's.</summary>
    private static void Stage(PortalDbContext db, SandboxRecord record, bool insert)
    {
        var row = FromSandbox(record);
        if (insert) { db.Sandboxes.Add(row); return; }
        db.Sandboxes.Update(row).Property(x => x.Version).OriginalValue = record.Version - 1;
    }

    /// <summary>
    /// The outbox half of a save: for each event among <paramref name="logs"/>, a delivery per
    /// enabled webhook of its team that takes its type. Runs under the write lock, which webhook
    /// changes also take, so the webhooks seen are the ones committed when the save commits.
    /// </summary>
    private async Task StageOutboxAsync(PortalDbContext db, IEnumerable<SandboxLogEntry?> logs)
    {
        List<SandboxLogEntry>? events = null;
        foreach (var l in logs) if (l?.Event is not null) (events ??= []).Add(l);
        if (events is null) return;
        _enabledWebhooks ??= (await db.Webhooks.AsNoTracking().Where(w => w.Enabled).ToListAsync())
            .GroupBy(w => w.TeamId)
            .ToDictionary(g => g.Key, g => g.Select(w => (w.Id, Types: (IReadOnlySet<string>)EventTypes(w.EventsJson).ToHashSet(StringComparer.Ordinal))).ToArray());
        foreach (var l in events)
            if (_enabledWebhooks.TryGetValue(l.Event!.TeamId, out var hooks))
                foreach (var (id, types) in hooks)
                    if (types.Contains(l.Event.Type))
                        db.WebhookOutbox.Add(new WebhookOutboxRow
                        {
                            WebhookId = id, EventId = l.Event.Id, SandboxId = l.SandboxId, EventJson = l.Event.Json,
                            NextAttemptAt = Ms(l.Timestamp), CreatedAt = Ms(l.Timestamp),
                        });
    }

    /// <summary>
    /// The enabled webhooks by team (null: read them again), so a save costs no query for them.
    /// Read and reset only under the write lock, which every webhook change takes; this process
    /// is the database's only writer.
    /// </summary>
    private Dictionary<string, (string Id, IReadOnlySet<string> Types)[]>? _enabledWebhooks;

    public Task AddSandboxLogAsync(SandboxLogEntry log, CancellationToken ct) =>
        WriteAsync(db => { db.SandboxLogs.Add(FromLog(log)); return Task.CompletedTask; }, ct);

    public async Task<IReadOnlyList<SandboxLogEntry>> ListSandboxLogsAsync(string sandboxId, DateTimeOffset? from, int limit, bool newestFirst, CancellationToken ct)
    {
        await using var db = Context();
        var q = db.SandboxLogs.AsNoTracking().Where(l => l.SandboxId == sandboxId);
        if (from is { } f)
        {
            var ms = f.ToUnixTimeMilliseconds();
            q = newestFirst ? q.Where(l => l.Timestamp <= ms) : q.Where(l => l.Timestamp >= ms);
        }
        q = newestFirst ? q.OrderByDescending(l => l.Timestamp).ThenByDescending(l => l.Id) : q.OrderBy(l => l.Timestamp).ThenBy(l => l.Id);
        var rows = await q.Take(limit).ToListAsync(ct);
        return rows.Select(ToLog).ToList();
    }

    public async Task<IReadOnlyList<SandboxLifecycleEvent>> ListSandboxEventsAsync(SandboxEventQuery query, CancellationToken ct)
    {
        await using var db = Context();
        var q = db.SandboxLogs.AsNoTracking().Where(l => l.EventId != null);
        if (query.TeamId is { } team) q = q.Where(l => l.TeamId == team);
        if (query.SandboxId is { } id) q = q.Where(l => l.SandboxId == id);
        if (query.Types is { Count: > 0 } types) q = q.Where(l => types.Contains(l.EventType!));
        q = query.Ascending ? q.OrderBy(l => l.Timestamp).ThenBy(l => l.Id) : q.OrderByDescending(l => l.Timestamp).ThenByDescending(l => l.Id);
        var rows = await q.Skip(query.Offset).Take(query.Limit).ToListAsync(ct);
        return rows.Select(r => new SandboxLifecycleEvent(r.EventId!, r.EventType!, r.TeamId!, r.EventJson!)).ToList();
    }

    public async Task<int> DeleteSandboxLogsBeforeAsync(DateTimeOffset cutoff, CancellationToken ct)
    {
        var ms = Ms(cutoff);
        await _writeLock.WaitAsync(ct);
        try
        {
            await using var db = Context();
            return await db.SandboxLogs.Where(l => l.Timestamp < ms).ExecuteDeleteAsync(ct);
        }
        finally { _writeLock.Release(); }
    }

    // ---- webhooks ----

    public async Task<IReadOnlyList<Webhook>> ListWebhooksAsync(string? teamId, CancellationToken ct)
    {
        await using var db = Context();
        var q = db.Webhooks.AsNoTracking();
        if (teamId is not null) q = q.Where(w => w.TeamId == teamId);
        var rows = await q.OrderBy(w => w.CreatedAt).ThenBy(w => w.Id).ToListAsync(ct);
        return rows.Select(ToWebhook).ToList();
    }

    public async Task<Webhook?> FindWebhookAsync(string webhookId, CancellationToken ct)
    {
        await using var db = Context();
        var row = await db.Webhooks.AsNoTracking().FirstOrDefaultAsync(w => w.Id == webhookId, ct);
        return row is null ? null : ToWebhook(row);
    }

    public Task AddWebhookAsync(Webhook webhook, CancellationToken ct) =>
        WriteAsync(db => { db.Webhooks.Add(FromWebhook(webhook)); _enabledWebhooks = null; return Task.CompletedTask; }, ct, StoreChange.WebhooksNote);

    public Task UpdateWebhookAsync(Webhook webhook, CancellationToken ct) =>
        WriteAsync(async db =>
        {
            db.Webhooks.Update(FromWebhook(webhook));
            _enabledWebhooks = null;
            if (!webhook.Enabled)
                foreach (var row in await db.WebhookOutbox.Where(o => o.WebhookId == webhook.Id).ToListAsync(ct))
                    db.WebhookOutbox.Remove(row);
        }, ct, StoreChange.WebhooksNote);

    public async Task<bool> DeleteWebhookAsync(string webhookId, CancellationToken ct)
    {
        var found = false;
        await WriteAsync(async db =>
        {
            var row = await db.Webhooks.FirstOrDefaultAsync(w => w.Id == webhookId, ct);
            if (row is null) return;
            found = true;
            // Cascades (foreign keys on) take its outbox rows and delivery log.
            db.Webhooks.Remove(row);
            _enabledWebhooks = null;
        }, ct, StoreChange.WebhooksNote);
        return found;
    }

    public async Task<IReadOnlyList<WebhookDelivery>> ListWebhookOutboxAsync(long afterId, int limit, CancellationToken ct)
    {
        await using var db = Context();
        var rows = await db.WebhookOutbox.AsNoTracking().Where(o => o.Id > afterId).OrderBy(o => o.Id).Take(limit).ToListAsync(ct);
        return rows.Select(o => new WebhookDelivery
        {
            Id = o.Id, WebhookId = o.WebhookId, EventId = o.EventId, SandboxId = o.SandboxId, EventJson = o.EventJson,
            Attempts = o.Attempts, NextAttemptAt = At(o.NextAttemptAt), CreatedAt = At(o.CreatedAt),
        }).ToList();
    }

    public async Task RecordWebhookAttemptsAsync(IReadOnlyList<WebhookAttempt> attempts, int keepPerWebhook, CancellationToken ct)
    {
        if (attempts.Count == 0) return;
        await _writeLock.WaitAsync(ct);
        try
        {
            await using var db = Context();
            await using var tx = await db.Database.BeginTransactionAsync(CancellationToken.None);
            var hookIds = attempts.Select(a => a.WebhookId).Distinct().ToList();
            var live = (await db.Webhooks.AsNoTracking().Where(w => hookIds.Contains(w.Id)).Select(w => w.Id).ToListAsync(CancellationToken.None)).ToHashSet();
            attempts = attempts.Where(a => live.Contains(a.WebhookId)).ToList();
            // Done ones leave in one statement; failed ones (fewer) are rescheduled row by row.
            var done = attempts.Where(a => a.Outcome != WebhookDeliveryOutcome.Failed).Select(a => a.OutboxId).ToList();
            if (done.Count > 0) await db.WebhookOutbox.Where(o => done.Contains(o.Id)).ExecuteDeleteAsync(CancellationToken.None);
            var failed = attempts.Where(a => a.Outcome == WebhookDeliveryOutcome.Failed).GroupBy(a => a.OutboxId).ToDictionary(g => g.Key, g => g.Last());
            if (failed.Count > 0)
            {
                var ids = failed.Keys.ToList();
                foreach (var row in await db.WebhookOutbox.Where(o => ids.Contains(o.Id)).ToListAsync(CancellationToken.None))
                {
                    row.Attempts = failed[row.Id].Attempt;
                    row.NextAttemptAt = Ms(failed[row.Id].NextAttemptAt ?? failed[row.Id].At);
                }
            }
            foreach (var a in attempts) db.WebhookAttempts.Add(FromAttempt(a));
            await db.SaveChangesAsync(CancellationToken.None);
            foreach (var hook in live)
            {
                // The newest keepPerWebhook stay: everything at or below the first one past them goes.
                var cutoff = await db.WebhookAttempts.Where(a => a.WebhookId == hook).OrderByDescending(a => a.Id)
                    .Skip(keepPerWebhook).Select(a => (long?)a.Id).FirstOrDefaultAsync(CancellationToken.None);
                if (cutoff is { } c)
                    await db.WebhookAttempts.Where(a => a.WebhookId == hook && a.Id <= c).ExecuteDeleteAsync(CancellationToken.None);
            }
            await tx.CommitAsync(CancellationToken.None);
        }
        finally { _writeLock.Release(); }
    }

    public async Task<IReadOnlyList<WebhookAttempt>> ListWebhookAttemptsAsync(string webhookId, int limit, CancellationToken ct)
    {
        await using var db = Context();
        var rows = await db.WebhookAttempts.AsNoTracking().Where(a => a.WebhookId == webhookId).OrderByDescending(a => a.Id).Take(limit).ToListAsync(ct);
        return rows.Select(ToAttempt).ToList();
    }

    public void Dispose()
    {
        _writeLock.Dispose();
        _database.Dispose();
    }

    // ---- mapping ----

    private static long Ms(DateTimeOffset t) => t.ToUnixTimeMilliseconds();
    private static long? Ms(DateTimeOffset? t) => t?.ToUnixTimeMilliseconds();
    private static DateTimeOffset At(long ms) => DateTimeOffset.FromUnixTimeMilliseconds(ms);
    private static DateTimeOffset? At(long? ms) => ms is { } v ? DateTimeOffset.FromUnixTimeMilliseconds(v) : null;

    private static string Json(IReadOnlyDictionary<string, string> d) => JsonSerializer.Serialize(d);
    private static Dictionary<string, string> Dict(string json) =>
        string.IsNullOrEmpty(json) ? [] : JsonSerializer.Deserialize<Dictionary<string, string>>(json) ?? [];

    private static Team ToTeam(TeamRow r) => new() { TeamId = r.TeamId, Name = r.Name, IsAdmin = r.IsAdmin, CreatedAt = At(r.CreatedAt) };
    private static TeamRow FromTeam(Team t) => new() { TeamId = t.TeamId, Name = t.Name, IsAdmin = t.IsAdmin, CreatedAt = Ms(t.CreatedAt) };

    private static ApiKey ToKey(ApiKeyRow r) => new()
    {
        Id = r.Id, TeamId = r.TeamId, Name = r.Name, KeyHash = r.KeyHash, MaskSuffix = r.MaskSuffix,
        CreatedAt = At(r.CreatedAt), CreatedById = r.CreatedByKeyId, CreatedByName = r.CreatedByName,
        LastUsedAt = At(r.LastUsedAt), ExpiresAt = At(r.ExpiresAt), RevokedAt = At(r.RevokedAt),
    };

    private static ApiKeyRow FromKey(ApiKey k) => new()
    {
        Id = k.Id, TeamId = k.TeamId, Name = k.Name, KeyHash = k.KeyHash, MaskSuffix = k.MaskSuffix,
        CreatedAt = Ms(k.CreatedAt), CreatedByKeyId = k.CreatedById, CreatedByName = k.CreatedByName,
        LastUsedAt = Ms(k.LastUsedAt), ExpiresAt = Ms(k.ExpiresAt), RevokedAt = Ms(k.RevokedAt),
    };

    private static SandboxRecord ToSandbox(SandboxRow r) => new()
    {
        SandboxId = r.SandboxId, TeamId = r.TeamId, TemplateId = r.TemplateId, Alias = r.Alias, ClientId = r.ClientId,
        Metadata = Dict(r.MetadataJson), EnvdAccessToken = r.EnvdAccessToken,
        Status = Enum.Parse<SandboxStatus>(r.Status), CreatedAt = At(r.CreatedAt), StartedAt = At(r.StartedAt),
        EndAt = At(r.EndAt), EndedAt = At(r.EndedAt), AutoPause = r.AutoPause, AllowInternetAccess = r.AllowInternetAccess,
        CpuCount = r.CpuCount, MemoryMB = r.MemoryMB, DiskSizeMB = r.DiskSizeMB, EnvdVersion = r.EnvdVersion,
        ExecutionStartedAt = At(r.ExecutionStartedAt), Version = r.Version, Owner = r.Owner,
        Network = r.NetworkJson is null ? SandboxNetworkSettings.Default : JsonSerializer.Deserialize<SandboxNetworkSettings>(r.NetworkJson) ?? SandboxNetworkSettings.Default,
    };

    private static SandboxRow FromSandbox(SandboxRecord s) => new()
    {
        SandboxId = s.SandboxId, TeamId = s.TeamId, TemplateId = s.TemplateId, Alias = s.Alias, ClientId = s.ClientId,
        MetadataJson = Json(s.Metadata), EnvdAccessToken = s.EnvdAccessToken, Status = s.Status.ToString(),
        CreatedAt = Ms(s.CreatedAt), StartedAt = Ms(s.StartedAt), EndAt = Ms(s.EndAt), EndedAt = Ms(s.EndedAt),
        AutoPause = s.AutoPause, AllowInternetAccess = s.AllowInternetAccess, CpuCount = s.CpuCount,
        MemoryMB = s.MemoryMB, DiskSizeMB = s.DiskSizeMB, EnvdVersion = s.EnvdVersion,
        ExecutionStartedAt = Ms(s.ExecutionStartedAt), Version = s.Version, Owner = s.Owner,
        NetworkJson = s.Network == SandboxNetworkSettings.Default ? null : JsonSerializer.Serialize(s.Network),
    };

    private static SandboxLogEntry ToLog(SandboxLogRow r) =>
        new(r.SandboxId, At(r.Timestamp), r.Level, r.Message, Dict(r.FieldsJson))
        {
            Id = r.Id,
            Event = r.EventId is null ? null : new SandboxLifecycleEvent(r.EventId, r.EventType!, r.TeamId!, r.EventJson!),
        };

    private static SandboxLogRow FromLog(SandboxLogEntry l) => new()
    {
        SandboxId = l.SandboxId, Timestamp = Ms(l.Timestamp), Level = l.Level, Message = l.Message, FieldsJson = Json(l.Fields),
        EventId = l.Event?.Id, EventType = l.Event?.Type, TeamId = l.Event?.TeamId, EventJson = l.Event?.Json,
    };

    private static string[] EventTypes(string json) => JsonSerializer.Deserialize<string[]>(json) ?? [];

    private static Webhook ToWebhook(WebhookRow r) => new()
    {
        Id = r.Id, TeamId = r.TeamId, Name = r.Name, Url = r.Url, Enabled = r.Enabled, Events = EventTypes(r.EventsJson),
        SignatureSecret = r.SignatureSecret, CreatedAt = At(r.CreatedAt),
    };

    private static WebhookRow FromWebhook(Webhook w) => new()
    {
        Id = w.Id, TeamId = w.TeamId, Name = w.Name, Url = w.Url, Enabled = w.Enabled, EventsJson = JsonSerializer.Serialize(w.Events),
        SignatureSecret = w.SignatureSecret, CreatedAt = Ms(w.CreatedAt),
    };

    private static WebhookAttempt ToAttempt(WebhookAttemptRow r) => new()
    {
        Id = r.Id, OutboxId = r.OutboxId, WebhookId = r.WebhookId, EventId = r.EventId, SandboxId = r.SandboxId, DeliveryId = r.DeliveryId,
        Attempt = r.Attempt, At = At(r.At), Outcome = Enum.Parse<WebhookDeliveryOutcome>(r.Outcome), StatusCode = r.StatusCode,
        LatencyMs = r.LatencyMs, Error = r.Error, NextAttemptAt = At(r.NextAttemptAt),
    };

    private static WebhookAttemptRow FromAttempt(WebhookAttempt a) => new()
    {
        OutboxId = a.OutboxId, WebhookId = a.WebhookId, EventId = a.EventId, SandboxId = a.SandboxId, DeliveryId = a.DeliveryId,
        Attempt = a.Attempt, At = Ms(a.At), Outcome = a.Outcome.ToString(), StatusCode = a.StatusCode,
        LatencyMs = a.LatencyMs, Error = a.Error, NextAttemptAt = Ms(a.NextAttemptAt),
    };
}
