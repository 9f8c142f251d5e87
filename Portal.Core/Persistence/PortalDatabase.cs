using System.Data.Common;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Npgsql;
using Portal.Core.Persistence.Postgres;
using Portal.Core.Persistence.Sqlite;

namespace Portal.Core.Persistence;

/// <summary>
/// Which database holds the store's rows: how to open a context on it and what it needs once at
/// startup. The store's queries are the same on every database; only this differs.
/// </summary>
internal abstract class PortalDatabase : IDisposable
{
    /// <summary>For logs and errors: the provider and where, never a password.</summary>
    public abstract string Description { get; }

    public abstract PortalDbContext Open();

    /// <summary>Creates or upgrades the schema (its own migrations), then what the database needs per file or server.</summary>
    public abstract Task InitializeAsync(CancellationToken ct);

    public abstract void Dispose();

    /// <summary>Whether other processes may write the same database (several replicas).</summary>
    public virtual bool IsShared => false;

    /// <summary>Inside a transaction: tells the other processes what it changed, delivered when it commits.</summary>
    public virtual Task NotifyAsync(PortalDbContext db, IReadOnlyList<string> notes) => Task.CompletedTask;

    /// <summary>Notes other processes sent; null each time listening (re)starts (anything may have been missed).</summary>
    public virtual IAsyncEnumerable<string?> ListenAsync(CancellationToken ct) => AsyncEnumerable.Empty<string?>();

    /// <summary>Holds the start-up lock until disposed: one process at a time seeds the database. One process per file needs none.</summary>
    public virtual Task<IAsyncDisposable> LockStartupAsync(CancellationToken ct) => Task.FromResult<IAsyncDisposable>(NoLock.Instance);

    private sealed class NoLock : IAsyncDisposable
    {
        public static readonly NoLock Instance = new();
        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}

/// <summary>One SQLite file in WAL mode: the embedded default, nothing to install or run.</summary>
internal sealed class SqliteDatabase : PortalDatabase
{
    private readonly DbContextOptions<SqlitePortalDbContext> _options;

    public SqliteDatabase(string path)
    {
        Path = System.IO.Path.GetFullPath(path);
        var cs = new SqliteConnectionStringBuilder
        {
            DataSource = Path,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Pooling = true,
            DefaultTimeout = 30,
        }.ToString();
        _options = new DbContextOptionsBuilder<SqlitePortalDbContext>()
            .UseSqlite(cs)
            .AddInterceptors(new PragmaInterceptor())
            .Options;
    }

    public string Path { get; }
    public override string Description => "SQLite " + Path;
    public override PortalDbContext Open() => new SqlitePortalDbContext(_options);

    public override async Task InitializeAsync(CancellationToken ct)
    {
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(Path)!);
        await using var db = Open();
        await db.Database.MigrateAsync(ct);
        // WAL is a property of the file: set once, kept across connections and restarts.
        await db.Database.ExecuteSqlRawAsync("PRAGMA journal_mode=WAL;", ct);
    }

    public override void Dispose() => SqliteConnection.ClearAllPools();

    /// <summary>Per-connection settings SQLite does not keep in the file.</summary>
    private sealed class PragmaInterceptor : DbConnectionInterceptor
    {
        // synchronous=NORMAL under WAL keeps every commit across a process crash.
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

/// <summary>
/// A PostgreSQL database, shared by every portal replica that names it. Replicas hear of each
/// other's writes by LISTEN/NOTIFY: a note sent in the writing transaction, delivered at commit.
/// </summary>
internal sealed class PostgresDatabase : PortalDatabase
{
    private readonly NpgsqlDataSource _source;
    private readonly NpgsqlDataSource _listenSource;
    private readonly DbContextOptions<PostgresPortalDbContext> _options;

    public PostgresDatabase(string connectionString)
    {
        var b = new NpgsqlConnectionStringBuilder(connectionString);
        Description = $"PostgreSQL {b.Host}:{b.Port}/{b.Database}";
        _source = NpgsqlDataSource.Create(b);
        // The listening connection only waits: keepalives find a dead server or network in
        // seconds, and the feed then restarts with a resync instead of waiting forever.
        _listenSource = NpgsqlDataSource.Create(new NpgsqlConnectionStringBuilder(b.ConnectionString) { KeepAlive = 5, Pooling = false });
        _options = new DbContextOptionsBuilder<PostgresPortalDbContext>().UseNpgsql(_source).Options;
    }

    public override bool IsShared => true;

    /// <summary>Any constant: the advisory lock key of every replica's start-up.</summary>
    private const long StartupLockKey = 0x5350_4f52_5441_4c01;

    /// <summary>
    /// A transaction-level advisory lock, in a transaction of its own on a connection of its own:
    /// released at its commit, or when this process dies (the server ends the session). Not a
    /// session-level lock: its release hung on a connection the client had closed and the server had not.
    /// </summary>
    public override async Task<IAsyncDisposable> LockStartupAsync(CancellationToken ct)
    {
        // Not the listening source: its keepalives time out on a connection a starved process
        // leaves idle in its transaction, and the broken connection failed the start-up.
        var conn = await _source.OpenConnectionAsync(ct);
        try
        {
            var tx = await conn.BeginTransactionAsync(ct);
            await using (var take = new NpgsqlCommand("SELECT pg_advisory_xact_lock(@k)", conn, tx))
            {
                take.Parameters.AddWithValue("k", StartupLockKey);
                await take.ExecuteNonQueryAsync(ct);
            }
            return new Held(conn, tx);
        }
        catch
        {
            await conn.DisposeAsync();
            throw;
        }
    }

    private sealed class Held(NpgsqlConnection conn, NpgsqlTransaction tx) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            // A connection broken meanwhile ended its session on the server, which released the lock too.
            try { await tx.CommitAsync(CancellationToken.None); }
            catch (NpgsqlException) { }
            finally { await conn.DisposeAsync(); }
        }
    }

    public override Task NotifyAsync(PortalDbContext db, IReadOnlyList<string> notes)
    {
        // One round trip for a whole group commit; a note is far below NOTIFY's 8000-byte limit.
        var array = notes.ToArray();
        return db.Database.ExecuteSqlAsync($"SELECT pg_notify({StoreChange.Channel}, n) FROM unnest({array}) AS n");
    }

    public override async IAsyncEnumerable<string?> ListenAsync([System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct)
    {
        var feed = System.Threading.Channels.Channel.CreateUnbounded<string?>(new() { SingleReader = true });
        _ = PumpAsync(feed.Writer, ct);
        await foreach (var note in feed.Reader.ReadAllAsync(ct)) yield return note;
    }

    private async Task PumpAsync(System.Threading.Channels.ChannelWriter<string?> feed, CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            try
            {
                await using var conn = await _listenSource.OpenConnectionAsync(ct);
                conn.Notification += (_, e) => feed.TryWrite(e.Payload);
                await using (var listen = new NpgsqlCommand($"LISTEN {StoreChange.Channel}", conn))
                    await listen.ExecuteNonQueryAsync(ct);
                feed.TryWrite(null); // listening from here on: what came before is read from the tables
                while (true) await conn.WaitAsync(ct);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested) { break; }
            catch (Exception)
            {
                try { await Task.Delay(TimeSpan.FromSeconds(1), ct); } catch (OperationCanceledException) { break; }
            }
        }
        feed.TryComplete();
    }

    public override string Description { get; }
    public override PortalDbContext Open() => new PostgresPortalDbContext(_options);

    public override async Task InitializeAsync(CancellationToken ct)
    {
        // Replicas starting together migrate one at a time under the start-up lock (LockStartupAsync).
        await using var db = Open();
        await db.Database.MigrateAsync(ct);
    }

    public override void Dispose()
    {
        _source.Dispose();
        _listenSource.Dispose();
    }
}
