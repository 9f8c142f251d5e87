using System.Data.Common;
using System.Text.Json;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Portal.Core.Auth;
using Portal.Core.Sandboxes;

namespace Portal.Core.Persistence.Sqlite;

/// <summary>
/// <see cref="IPortalStore"/> on one SQLite file in WAL mode. Writes are serialised in the
/// process (SQLite has one writer anyway); sandbox saves that queue up meanwhile are committed
/// together (<see cref="SaveSandboxAsync"/>), every other write is its own transaction;
/// <c>synchronous=NORMAL</c> under WAL keeps every commit across a process crash.
/// </summary>
public sealed class SqlitePortalStore : IPortalStore, IDisposable
{
    private readonly DbContextOptions<PortalDbContext> _options;
    private readonly SemaphoreSlim _writeLock = new(1, 1);

    public SqlitePortalStore(string databasePath)
    {
        DatabasePath = Path.GetFullPath(databasePath);
        var cs = new SqliteConnectionStringBuilder
        {
            DataSource = DatabasePath,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Pooling = true,
            DefaultTimeout = 30,
        }.ToString();
        _options = new DbContextOptionsBuilder<PortalDbContext>()
            .UseSqlite(cs)
            .AddInterceptors(new PragmaInterceptor())
            .Options;
    }

    public string DatabasePath { get; }

    internal PortalDbContext Open() => new(_options);

    public async Task InitializeAsync(CancellationToken ct)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(DatabasePath)!);
        await using var db = Open();
        await db.Database.MigrateAsync(ct);
        // WAL is a property of the file: set once, kept across connections and restarts.
        await db.Database.ExecuteSqlRawAsync("PRAGMA journal_mode=WAL;", ct);
    }

    private async Task WriteAsync(Func<PortalDbContext, Task> work, CancellationToken ct)
    {
        await _writeLock.WaitAsync(ct);
        try
        {
            await using var db = Open();
            await work(db);
            await db.SaveChangesAsync(CancellationToken.None); // once started, a write is not abandoned
        }
        finally { _writeLock.Release(); }
    }

    // ---- teams ----

    public async Task<IReadOnlyList<Team>> ListTeamsAsync(CancellationToken ct)
    {
        await using var db = Open();
        var rows = await db.Teams.AsNoTracking().OrderBy(t => t.CreatedAt).ToListAsync(ct);
        return rows.Select(ToTeam).ToList();
    }

    public async Task<Team?> FindTeamAsync(string teamId, CancellationToken ct)
    {
        await using var db = Open();
        var row = await db.Teams.AsNoTracking().FirstOrDefaultAsync(t => t.TeamId == teamId, ct);
        return row is null ? null : ToTeam(row);
    }

    public Task AddTeamAsync(Team team, CancellationToken ct) =>
        WriteAsync(db => { db.Teams.Add(FromTeam(team)); return Task.CompletedTask; }, ct);

    public Task AddTeamWithKeyAsync(Team team, ApiKey key, CancellationToken ct) =>
        WriteAsync(db => { db.Teams.Add(FromTeam(team)); db.ApiKeys.Add(FromKey(key)); return Task.CompletedTask; }, ct);

    // ---- keys ----

    public async Task<IReadOnlyList<ApiKey>> ListApiKeysAsync(CancellationToken ct)
    {
        await using var db = Open();
        var rows = await db.ApiKeys.AsNoTracking().OrderBy(k => k.CreatedAt).ToListAsync(ct);
        return rows.Select(ToKey).ToList();
    }

    public Task AddApiKeyAsync(ApiKey key, CancellationToken ct) =>
        WriteAsync(db => { db.ApiKeys.Add(FromKey(key)); return Task.CompletedTask; }, ct);

    public Task UpdateApiKeyAsync(ApiKey key, CancellationToken ct) =>
        WriteAsync(db => { db.ApiKeys.Update(FromKey(key)); return Task.CompletedTask; }, ct);

    // ---- sandboxes ----

    public async Task<IReadOnlyList<SandboxRecord>> ListLiveSandboxesAsync(CancellationToken ct)
    {
        var killed = nameof(SandboxStatus.Killed);
        await using var db = Open();
        var rows = await db.Sandboxes.AsNoTracking().Where(s => s.Status != killed).ToListAsync(ct);
        return rows.Select(ToSandbox).ToList();
    }

    public async Task<SandboxRecord?> FindSandboxAsync(string sandboxId, CancellationToken ct)
    {
        await using var db = Open();
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
    public async Task SaveSandboxAsync(SandboxRecord record, SandboxLogEntry? log, CancellationToken ct)
    {
        ct.ThrowIfCancellationRequested();
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
                await using var db = Open();
                foreach (var p in batch)
                {
                    Stage(db, p.Record, insert: p.Record.Status == SandboxStatus.Creating);
                    if (p.Log is not null) db.SandboxLogs.Add(FromLog(p.Log));
                }
                await db.SaveChangesAsync(CancellationToken.None);
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

    private async Task SaveOneAsync(SandboxRecord record, SandboxLogEntry? log)
    {
        // One statement in the common case: a record is first written while Creating (insert),
        // later only changed (update). An update that finds no row falls back to an insert.
        var insert = record.Status == SandboxStatus.Creating;
        for (var attempt = 0; ; attempt++)
        {
            await using var db = Open();
            Stage(db, record, insert);
            if (log is not null) db.SandboxLogs.Add(FromLog(log));
            try
            {
                await db.SaveChangesAsync(CancellationToken.None);
                return;
            }
            catch (DbUpdateConcurrencyException) when (!insert)
            {
                // No row with the version this write was based on: a newer one, or none at all.
                await using var check = Open();
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

    public Task AddSandboxLogAsync(SandboxLogEntry log, CancellationToken ct) =>
        WriteAsync(db => { db.SandboxLogs.Add(FromLog(log)); return Task.CompletedTask; }, ct);

    public async Task<IReadOnlyList<SandboxLogEntry>> ListSandboxLogsAsync(string sandboxId, DateTimeOffset? from, int limit, bool newestFirst, CancellationToken ct)
    {
        await using var db = Open();
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
        await using var db = Open();
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
            await using var db = Open();
            return await db.SandboxLogs.Where(l => l.Timestamp < ms).ExecuteDeleteAsync(ct);
        }
        finally { _writeLock.Release(); }
    }

    public void Dispose()
    {
        _writeLock.Dispose();
        SqliteConnection.ClearAllPools();
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
        ExecutionStartedAt = At(r.ExecutionStartedAt), Version = r.Version,
    };

    private static SandboxRow FromSandbox(SandboxRecord s) => new()
    {
        SandboxId = s.SandboxId, TeamId = s.TeamId, TemplateId = s.TemplateId, Alias = s.Alias, ClientId = s.ClientId,
        MetadataJson = Json(s.Metadata), EnvdAccessToken = s.EnvdAccessToken, Status = s.Status.ToString(),
        CreatedAt = Ms(s.CreatedAt), StartedAt = Ms(s.StartedAt), EndAt = Ms(s.EndAt), EndedAt = Ms(s.EndedAt),
        AutoPause = s.AutoPause, AllowInternetAccess = s.AllowInternetAccess, CpuCount = s.CpuCount,
        MemoryMB = s.MemoryMB, DiskSizeMB = s.DiskSizeMB, EnvdVersion = s.EnvdVersion,
        ExecutionStartedAt = Ms(s.ExecutionStartedAt), Version = s.Version,
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

    /// <summary>Per-connection settings SQLite does not keep in the file.</summary>
    private sealed class PragmaInterceptor : DbConnectionInterceptor
    {
        private const string Sql = "PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=30000; PRAGMA foreign_keys=ON;";

        public override void ConnectionOpened(DbConnection connection, ConnectionEndEventData eventData)
        {
            using var cmd = connection.CreateCommand();
            cmd.CommandText = Sql;
            cmd.ExecuteNonQuery();
        }

        public override async Task ConnectionOpenedAsync(DbConnection connection, ConnectionEndEventData eventData, CancellationToken cancellationToken = default)
        {
            await using var cmd = connection.CreateCommand();
            cmd.CommandText = Sql;
            await cmd.ExecuteNonQueryAsync(cancellationToken);
        }
    }
}
