namespace Portal.Core.Webhooks;

/// <summary>
/// A team's webhook: every lifecycle event of the team's sandboxes whose type is in
/// <see cref="Events"/> is POSTed to <see cref="Url"/> while <see cref="Enabled"/>, signed with
/// <see cref="SignatureSecret"/> (which the API never returns).
/// </summary>
public sealed record Webhook
{
    public required string Id { get; init; }
    public required string TeamId { get; init; }
    public required string Name { get; init; }
    public required string Url { get; init; }
    public required bool Enabled { get; init; }
    public required IReadOnlyList<string> Events { get; init; }
    public required string SignatureSecret { get; init; }
    public required DateTimeOffset CreatedAt { get; init; }
}

/// <summary>
/// One event still to be delivered to one webhook (a row of the outbox, written in the same
/// transaction as the event). <see cref="Id"/> grows in commit order, which is the delivery
/// order of one sandbox's events.
/// </summary>
public sealed record WebhookDelivery
{
    public required long Id { get; init; }
    public required string WebhookId { get; init; }
    public required string EventId { get; init; }
    public required string SandboxId { get; init; }
    /// <summary>The event's public JSON: the exact body POSTed (and signed).</summary>
    public required string EventJson { get; init; }
    /// <summary>Attempts made so far.</summary>
    public required int Attempts { get; init; }
    public required DateTimeOffset NextAttemptAt { get; init; }
    /// <summary>When the event was written; the retry window (<c>GiveUpAfter</c>) counts from here.</summary>
    public required DateTimeOffset CreatedAt { get; init; }
}

public enum WebhookDeliveryOutcome
{
    /// <summary>The receiver answered 2xx: the delivery leaves the outbox.</summary>
    Delivered,
    /// <summary>Failed; retried at <see cref="WebhookAttempt.NextAttemptAt"/>.</summary>
    Failed,
    /// <summary>Failed, and the retry window is over: the delivery leaves the outbox undelivered.</summary>
    GivenUp,
}

/// <summary>One attempt at a delivery, as the delivery log keeps it (the dashboard's view).</summary>
public sealed record WebhookAttempt
{
    public long Id { get; init; }
    public required long OutboxId { get; init; }
    public required string WebhookId { get; init; }
    public required string EventId { get; init; }
    public required string SandboxId { get; init; }
    /// <summary>The <c>e2b-delivery-id</c> header of this attempt (unique per attempt).</summary>
    public required string DeliveryId { get; init; }
    /// <summary>1 for the first attempt.</summary>
    public required int Attempt { get; init; }
    public required DateTimeOffset At { get; init; }
    public required WebhookDeliveryOutcome Outcome { get; init; }
    /// <summary>The receiver's status code; null when no answer came (refused, timeout, blocked target).</summary>
    public int? StatusCode { get; init; }
    public required long LatencyMs { get; init; }
    public string? Error { get; init; }
    /// <summary>When the next attempt is due (Failed only).</summary>
    public DateTimeOffset? NextAttemptAt { get; init; }
}
