using Portal.Core.Auth;
using Portal.Core.Sandboxes;
using Portal.Core.Snapshots;
using Portal.Core.Webhooks;

namespace Portal.Core.Persistence;

/// <summary>
/// The portal's durable state: teams, API keys, sandbox records and their lifecycle logs.
/// One seam for the database (SQLite, or PostgreSQL shared by replicas). Every method commits
/// before it returns, so an answer given to a client is never lost.
/// </summary>
public partial interface IPortalStore
{
    /// <summary>Whether other processes (portal replicas) may write the same database: then cached views must be checked against it.</summary>
    bool IsShared { get; }

    /// <summary>Creates or upgrades the schema. Called once at startup.</summary>
    Task InitializeAsync(CancellationToken ct);

    /// <summary>
    /// Holds the start-up lock until disposed: replicas starting together on an empty database
    /// migrate and seed it (schema, admin team, key, account) one after the other, so the second
    /// finds the first's.
    /// </summary>
    Task<IAsyncDisposable> LockStartupAsync(CancellationToken ct);

    Task<IReadOnlyList<Team>> ListTeamsAsync(CancellationToken ct);
    Task<Team?> FindTeamAsync(string teamId, CancellationToken ct);
    Task AddTeamAsync(Team team, CancellationToken ct);

    /// <summary>Every key, revoked and expired included.</summary>
    Task<IReadOnlyList<ApiKey>> ListApiKeysAsync(CancellationToken ct);
    Task AddApiKeyAsync(ApiKey key, CancellationToken ct);
    /// <summary>Adds a team and its first key in one transaction.</summary>
    Task AddTeamWithKeyAsync(Team team, ApiKey key, CancellationToken ct);
    /// <summary>Records a key's last use: that column only, so a revocation another replica wrote meanwhile is never undone.</summary>
    Task TouchApiKeyAsync(string keyId, DateTimeOffset lastUsedAt, CancellationToken ct);
    /// <summary>Revokes a key (that column only).</summary>
    Task RevokeApiKeyAsync(string keyId, DateTimeOffset revokedAt, CancellationToken ct);

    /// <summary>Records still Creating, Running or Paused.</summary>
    Task<IReadOnlyList<SandboxRecord>> ListLiveSandboxesAsync(CancellationToken ct);
    Task<SandboxRecord?> FindSandboxAsync(string sandboxId, CancellationToken ct);
    /// <summary>
    /// Inserts or replaces the record, and appends <paramref name="log"/> in the same transaction.
    /// When the log line records a lifecycle event, the same transaction also writes one webhook
    /// delivery (outbox row) per enabled webhook of the sandbox's team that takes the event's type.
    /// The record's <see cref="SandboxRecord.Version"/> must be the stored one + 1 (1 for a new one).
    /// </summary>
    /// <exception cref="StaleSandboxWriteException">a newer version is stored: nothing was written.</exception>
    /// <exception cref="FencedWriteException">a <paramref name="fence"/> was given and its lease has changed hands: nothing was written.</exception>
    Task SaveSandboxAsync(SandboxRecord record, SandboxLogEntry? log, CancellationToken ct, LeaseFence? fence = null);

    /// <summary>
    /// Takes or renews lease <paramref name="name"/> for <paramref name="holder"/> until
    /// <paramref name="now"/> + <paramref name="duration"/>, when it is free, expired, or the holder's
    /// already. The fencing epoch, or null while another holds it.
    /// </summary>
    Task<long?> TryHoldLeaseAsync(string name, string holder, DateTimeOffset now, TimeSpan duration, CancellationToken ct);

    /// <summary>
    /// Records <paramref name="holder"/> as the holder of lease <paramref name="name"/> when
    /// leadership is decided elsewhere (a Kubernetes Lease): the epoch is one higher whenever the
    /// holder changes, so fenced writes of the previous holder are refused from now on. Returns
    /// the holder's epoch.
    /// </summary>
    Task<long> RecordLeaseHolderAsync(string name, string holder, DateTimeOffset now, TimeSpan duration, CancellationToken ct);

    /// <summary>Whether someone holds lease <paramref name="name"/> at <paramref name="now"/>.</summary>
    Task<bool> IsLeaseHeldAsync(string name, DateTimeOffset now, CancellationToken ct);
    Task AddSandboxLogAsync(SandboxLogEntry log, CancellationToken ct);
    /// <summary>Log lines of a sandbox, oldest first, from <paramref name="from"/> (inclusive).</summary>
    Task<IReadOnlyList<SandboxLogEntry>> ListSandboxLogsAsync(string sandboxId, DateTimeOffset? from, int limit, bool newestFirst, CancellationToken ct);
    /// <summary>Lifecycle events (the log lines that record one), by <see cref="SandboxEventQuery"/>.</summary>
    Task<IReadOnlyList<SandboxLifecycleEvent>> ListSandboxEventsAsync(SandboxEventQuery query, CancellationToken ct);
    /// <summary>
    /// What other processes sharing this database commit (other portal replicas on PostgreSQL),
    /// starting with <see cref="StoreChange.Resync"/> once it is following and again after any
    /// interruption. Completes at once on a database only this process uses (SQLite).
    /// </summary>
    IAsyncEnumerable<StoreChange> WatchOthersAsync(CancellationToken ct);

    /// <summary>Retention: removes log lines (and the events they record) older than <paramref name="cutoff"/>.</summary>
    Task<int> DeleteSandboxLogsBeforeAsync(DateTimeOffset cutoff, CancellationToken ct);

    /// <summary>A team's webhooks (null: every team's), oldest first.</summary>
    Task<IReadOnlyList<Webhook>> ListWebhooksAsync(string? teamId, CancellationToken ct);
    Task<Webhook?> FindWebhookAsync(string webhookId, CancellationToken ct);
    Task AddWebhookAsync(Webhook webhook, CancellationToken ct);
    /// <summary>Replaces the webhook; disabling it drops its undelivered events in the same transaction.</summary>
    Task UpdateWebhookAsync(Webhook webhook, CancellationToken ct);
    /// <summary>Deletes the webhook with its undelivered events and delivery log; false if there was none.</summary>
    Task<bool> DeleteWebhookAsync(string webhookId, CancellationToken ct);
    /// <summary>Undelivered events with an outbox ID above <paramref name="afterId"/>, in ID (= commit) order.</summary>
    Task<IReadOnlyList<WebhookDelivery>> ListWebhookOutboxAsync(long afterId, int limit, CancellationToken ct);
    /// <summary>
    /// Records attempts in one transaction: each joins its webhook's delivery log (only the newest
    /// <paramref name="keepPerWebhook"/> are kept); a delivered or given-up one leaves the outbox, a
    /// failed one keeps its row with the attempt count and next attempt time. Attempts of webhooks
    /// deleted meanwhile are dropped.
    /// </summary>
    Task RecordWebhookAttemptsAsync(IReadOnlyList<WebhookAttempt> attempts, int keepPerWebhook, CancellationToken ct);
    /// <summary>A webhook's delivery log, newest first.</summary>
    Task<IReadOnlyList<WebhookAttempt>> ListWebhookAttemptsAsync(string webhookId, int limit, CancellationToken ct);

    /// <summary>
    /// Adds a snapshot; in the same transaction, marks removed (as of its creation) the current
    /// snapshots of its team that carry the same name and tag: a name taken again points at the new copy, as E2B's.
    /// Returns the IDs it marked removed.
    /// </summary>
    Task<IReadOnlyList<string>> AddSnapshotAsync(SnapshotRecord snapshot, CancellationToken ct);
    /// <summary>The snapshot, removed or not; null when unknown (or already swept).</summary>
    Task<SnapshotRecord?> FindSnapshotAsync(string snapshotId, CancellationToken ct);
    /// <summary>Snapshots by <see cref="SnapshotQuery"/>, newest first (ties by ID), at most <see cref="SnapshotQuery.Limit"/>.</summary>
    Task<IReadOnlyList<SnapshotRecord>> ListSnapshotsAsync(SnapshotQuery query, CancellationToken ct);
    /// <summary>Marks current snapshots removed at <paramref name="at"/>; returns the IDs it marked (those already removed are not).</summary>
    Task<IReadOnlyList<string>> RemoveSnapshotsAsync(IReadOnlyCollection<string> snapshotIds, DateTimeOffset at, CancellationToken ct);
    /// <summary>Forgets a removed snapshot once the runtime has dropped its template; false if there was no such removed row.</summary>
    Task<bool> DeleteRemovedSnapshotAsync(string snapshotId, CancellationToken ct);
}

/// <summary>Which events to list: a team's or a sandbox's (null = any), some types (empty = all), a page in time order.</summary>
public sealed record SandboxEventQuery(string? TeamId, string? SandboxId, IReadOnlyCollection<string> Types, int Offset, int Limit, bool Ascending);

/// <summary>A lease as held at one epoch: a write carrying it is refused once the lease changed hands.</summary>
public sealed record LeaseFence(string Name, string Holder, long Epoch);

/// <summary>A write under a lease that has changed hands since (a deposed leader's late write); refused, nothing written.</summary>
public sealed class FencedWriteException(LeaseFence fence)
    : Exception($"lease '{fence.Name}' is no longer held by '{fence.Holder}' at epoch {fence.Epoch}; nothing was written")
{
    public LeaseFence Fence { get; } = fence;
}

/// <summary>A sandbox write based on an older version than the stored one; refused, nothing written.</summary>
public sealed class StaleSandboxWriteException(string sandboxId, long version)
    : Exception($"sandbox '{sandboxId}': version {version} is not the next one (another write came first); nothing was written")
{
    public string SandboxId { get; } = sandboxId;
}
