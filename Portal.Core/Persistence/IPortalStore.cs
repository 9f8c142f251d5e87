using Portal.Core.Auth;
using Portal.Core.Sandboxes;

namespace Portal.Core.Persistence;

/// <summary>
/// The portal's durable state: teams, API keys, sandbox records and their lifecycle logs.
/// One seam for the database (SQLite today; PostgreSQL can implement it later). Every
/// method commits before it returns, so an answer given to a client is never lost.
/// </summary>
public interface IPortalStore
{
    /// <summary>Creates or upgrades the schema. Called once at startup.</summary>
    Task InitializeAsync(CancellationToken ct);

    Task<IReadOnlyList<Team>> ListTeamsAsync(CancellationToken ct);
    Task<Team?> FindTeamAsync(string teamId, CancellationToken ct);
    Task AddTeamAsync(Team team, CancellationToken ct);

    /// <summary>Every key, revoked and expired included.</summary>
    Task<IReadOnlyList<ApiKey>> ListApiKeysAsync(CancellationToken ct);
    Task AddApiKeyAsync(ApiKey key, CancellationToken ct);
    /// <summary>Adds a team and its first key in one transaction.</summary>
    Task AddTeamWithKeyAsync(Team team, ApiKey key, CancellationToken ct);
    Task UpdateApiKeyAsync(ApiKey key, CancellationToken ct);

    /// <summary>Records still Creating, Running or Paused.</summary>
    Task<IReadOnlyList<SandboxRecord>> ListLiveSandboxesAsync(CancellationToken ct);
    Task<SandboxRecord?> FindSandboxAsync(string sandboxId, CancellationToken ct);
    /// <summary>
    /// Inserts or replaces the record, and appends <paramref name="log"/> in the same transaction.
    /// The record's <see cref="SandboxRecord.Version"/> must be the stored one + 1 (1 for a new one).
    /// </summary>
    /// <exception cref="StaleSandboxWriteException">a newer version is stored: nothing was written.</exception>
    Task SaveSandboxAsync(SandboxRecord record, SandboxLogEntry? log, CancellationToken ct);
    Task AddSandboxLogAsync(SandboxLogEntry log, CancellationToken ct);
    /// <summary>Log lines of a sandbox, oldest first, from <paramref name="from"/> (inclusive).</summary>
    Task<IReadOnlyList<SandboxLogEntry>> ListSandboxLogsAsync(string sandboxId, DateTimeOffset? from, int limit, bool newestFirst, CancellationToken ct);
    /// <summary>Lifecycle events (the log lines that record one), by <see cref="SandboxEventQuery"/>.</summary>
    Task<IReadOnlyList<SandboxLifecycleEvent>> ListSandboxEventsAsync(SandboxEventQuery query, CancellationToken ct);
    /// <summary>Retention: removes log lines (and the events they record) older than <paramref name="cutoff"/>.</summary>
    Task<int> DeleteSandboxLogsBeforeAsync(DateTimeOffset cutoff, CancellationToken ct);
}

/// <summary>Which events to list: a team's or a sandbox's (null = any), some types (empty = all), a page in time order.</summary>
public sealed record SandboxEventQuery(string? TeamId, string? SandboxId, IReadOnlyCollection<string> Types, int Offset, int Limit, bool Ascending);

/// <summary>A sandbox write based on an older version than the stored one; refused, nothing written.</summary>
public sealed class StaleSandboxWriteException(string sandboxId, long version)
    : Exception($"sandbox '{sandboxId}': version {version} is not the next one (another write came first); nothing was written")
{
    public string SandboxId { get; } = sandboxId;
}
