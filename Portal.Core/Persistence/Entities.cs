namespace Portal.Core.Persistence;

// Row shapes of the schema, SQLite and PostgreSQL alike. Times are Unix milliseconds (UTC) so they sort and
// compare in SQL; dictionaries are JSON text. Mapped to and from the domain records in
// EfPortalStore; nothing outside Portal.Core/Persistence sees them.

internal sealed class TeamRow
{
    public string TeamId { get; set; } = "";
    public string Name { get; set; } = "";
    public bool IsAdmin { get; set; }
    public long CreatedAt { get; set; }
}

internal sealed class ApiKeyRow
{
    public string Id { get; set; } = "";
    public string TeamId { get; set; } = "";
    public string Name { get; set; } = "";
    public string KeyHash { get; set; } = "";
    public string MaskSuffix { get; set; } = "";
    public long CreatedAt { get; set; }
    /// <summary>The creator's ID: an API key's ID or a signed-in user's subject (the column kept its first name).</summary>
    public string? CreatedByKeyId { get; set; }
    public string? CreatedByName { get; set; }
    public long? LastUsedAt { get; set; }
    public long? ExpiresAt { get; set; }
    public long? RevokedAt { get; set; }
}

internal sealed class SandboxRow
{
    public string SandboxId { get; set; } = "";
    public string TeamId { get; set; } = "";
    public string TemplateId { get; set; } = "";
    public string? Alias { get; set; }
    public string ClientId { get; set; } = "";
    public string MetadataJson { get; set; } = "{}";
    public string? EnvdAccessToken { get; set; }
    public string Status { get; set; } = "";
    public long CreatedAt { get; set; }
    public long StartedAt { get; set; }
    public long EndAt { get; set; }
    public long? EndedAt { get; set; }
    public bool AutoPause { get; set; }
    public bool AutoPauseFilesystem { get; set; }
    public bool AutoResume { get; set; }
    public bool AllowInternetAccess { get; set; }
    /// <summary><see cref="Sandboxes.SandboxNetworkSettings"/> as JSON; null = defaults.</summary>
    public string? NetworkJson { get; set; }
    public int CpuCount { get; set; }
    public int MemoryMB { get; set; }
    public int DiskSizeMB { get; set; }
    public string EnvdVersion { get; set; } = "";
    public long? ExecutionStartedAt { get; set; }
    public string? Owner { get; set; }
    public long Version { get; set; }
}

internal sealed class SandboxLogRow
{
    public long Id { get; set; }
    public string SandboxId { get; set; } = "";
    public long Timestamp { get; set; }
    public string Level { get; set; } = "";
    public string Message { get; set; } = "";
    public string FieldsJson { get; set; } = "{}";
    /// <summary>Set on the lines that record a lifecycle event: its ID, type, team and public JSON.</summary>
    public string? EventId { get; set; }
    public string? EventType { get; set; }
    public string? TeamId { get; set; }
    public string? EventJson { get; set; }
}

internal sealed class LeaseRow
{
    public string Name { get; set; } = "";
    public string Holder { get; set; } = "";
    /// <summary>The fencing token: grows by one each time the lease changes hands.</summary>
    public long Epoch { get; set; }
    public long ExpiresAt { get; set; }
}

internal sealed class WebhookRow
{
    public string Id { get; set; } = "";
    public string TeamId { get; set; } = "";
    public string Name { get; set; } = "";
    public string Url { get; set; } = "";
    public bool Enabled { get; set; }
    /// <summary>JSON array of event types.</summary>
    public string EventsJson { get; set; } = "[]";
    public string SignatureSecret { get; set; } = "";
    public long CreatedAt { get; set; }
}

/// <summary>The outbox: one row per (event, webhook) still to deliver, written with the event.</summary>
internal sealed class WebhookOutboxRow
{
    public long Id { get; set; }
    public string WebhookId { get; set; } = "";
    public string EventId { get; set; } = "";
    public string SandboxId { get; set; } = "";
    public string EventJson { get; set; } = "";
    public int Attempts { get; set; }
    public long NextAttemptAt { get; set; }
    public long CreatedAt { get; set; }
}

/// <summary>The delivery log: the last attempts per webhook.</summary>
internal sealed class WebhookAttemptRow
{
    public long Id { get; set; }
    public long OutboxId { get; set; }
    public string WebhookId { get; set; } = "";
    public string EventId { get; set; } = "";
    public string SandboxId { get; set; } = "";
    public string DeliveryId { get; set; } = "";
    public int Attempt { get; set; }
    public long At { get; set; }
    public string Outcome { get; set; } = "";
    public int? StatusCode { get; set; }
    public long LatencyMs { get; set; }
    public string? Error { get; set; }
    public long? NextAttemptAt { get; set; }
}

/// <summary>A snapshot (<see cref="Snapshots.SnapshotRecord"/>): a template taken from a sandbox, owned by a team.</summary>
internal sealed class SnapshotRow
{
    public string SnapshotId { get; set; } = "";
    public string TeamId { get; set; } = "";
    public string? Namespace { get; set; }
    public string? Name { get; set; }
    public string Tag { get; set; } = "";
    public string SourceSandboxId { get; set; } = "";
    public string ParentTemplateId { get; set; } = "";
    public bool Listed { get; set; }
    public long CreatedAt { get; set; }
    public long? RemovedAt { get; set; }
}
