using Portal.Core.Auth;
using Portal.Core.Sandboxes;
using Portal.Core.Webhooks;

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
    /// When the log line records a lifecycle event, the same transaction also writes one webhook
    /// delivery (outbox row) per enabled webhook of the sandbox's team that takes the event's type.
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
}

/// <summary>Which events to list: a team's or a sandbox's (null = any), some types (empty = all), a page in time order.</summary>
public sealed record SandboxEventQuery(string? TeamId, string? SandboxId, IReadOnlyCollection<string> Types, int Offset, int Limit, bool Ascending);

/// <summary>A sandbox write based on an older version than the stored one; refused, nothing written.</summary>
public sealed class StaleSandboxWriteException(string sandboxId, long version)
    : Exception($"sandbox '{sandboxId}': version {version} is not the next one (another write came first); nothing was written")
{
    public string SandboxId { get; } = sandboxId;
}
