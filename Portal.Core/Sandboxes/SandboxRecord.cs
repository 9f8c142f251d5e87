namespace Portal.Core.Sandboxes;

/// <summary>Where a sandbox is in its life, as the control plane records it.</summary>
public enum SandboxStatus
{
    /// <summary>Record written, runtime still starting it; never listed or routed to.</summary>
    Creating,
    Running,
    Paused,
    /// <summary>Killed, expired or died; kept for its logs only.</summary>
    Killed,
}

/// <summary>
/// The control plane's record of one sandbox (immutable; every change is a new copy that is
/// written to the store before it becomes visible).
/// </summary>
public sealed record SandboxRecord
{
    public required string SandboxId { get; init; }
    public required string TeamId { get; init; }
    public required string TemplateId { get; init; }
    /// <summary>The name the caller asked for when it was an alias of <see cref="TemplateId"/>.</summary>
    public string? Alias { get; init; }
    public required string ClientId { get; init; }
    public IReadOnlyDictionary<string, string> Metadata { get; init; } = new Dictionary<string, string>();
    /// <summary>envd's <c>X-Access-Token</c>; null for an unsecured (v1 <c>secure:false</c>) sandbox.</summary>
    public string? EnvdAccessToken { get; init; }
    public required SandboxStatus Status { get; init; }
    public required DateTimeOffset CreatedAt { get; init; }
    public required DateTimeOffset StartedAt { get; init; }
    /// <summary>The deadline: at this instant the sandbox is killed, or paused with <see cref="AutoPause"/>.</summary>
    public required DateTimeOffset EndAt { get; init; }
    public DateTimeOffset? EndedAt { get; init; }
    public bool AutoPause { get; init; }
    /// <summary>
    /// E2B's <c>autoPauseMemory:false</c>: the deadline's pause stops the processes and frees the
    /// memory, keeping the files (the resume boots it again); false = the pause keeps memory.
    /// </summary>
    public bool AutoPauseFilesystem { get; init; }
    /// <summary>E2B's <c>autoResume.enabled</c>: traffic to it while paused resumes it (any way in).</summary>
    public bool AutoResume { get; init; }
    /// <summary>Whether the runtime gave it a way out (false where networking is off).</summary>
    public bool AllowInternetAccess { get; init; }
    /// <summary>E2B's network settings as sent (egress rules, ingress token, host mask).</summary>
    public SandboxNetworkSettings Network { get; init; } = SandboxNetworkSettings.Default;
    public int CpuCount { get; init; }
    public int MemoryMB { get; init; }
    public int DiskSizeMB { get; init; }
    public string EnvdVersion { get; init; } = "";
    /// <summary>
    /// The stored version: 1 when first written, one more with every write. A write must carry the
    /// stored version + 1, so a stale copy can never overwrite a newer state (the store refuses it).
    /// </summary>
    public long Version { get; init; }
    /// <summary>When its current run began: the create, or the last resume (E2B's "execution").</summary>
    public DateTimeOffset? ExecutionStartedAt { get; init; }
    /// <summary>
    /// The replica that made it (its <see cref="Coordination.LeaderLease.Holder"/> name). While it is
    /// still Creating, no other replica touches it as long as that replica's heartbeat lease holds
    /// and the create's own time (<see cref="SandboxOptions.RuntimeCallTimeout"/>) has not run out.
    /// </summary>
    public string? Owner { get; init; }

    public bool IsLive => Status is SandboxStatus.Running or SandboxStatus.Paused;
}

/// <summary>
/// One lifecycle line of a sandbox (its logs). A line that records a lifecycle event (created,
/// paused, resumed, updated, killed) carries it in <see cref="Event"/>: the events API and the
/// webhooks read the same rows the logs do, written in the same transaction as the change.
/// </summary>
public sealed record SandboxLogEntry(
    string SandboxId,
    DateTimeOffset Timestamp,
    string Level,
    string Message,
    IReadOnlyDictionary<string, string> Fields)
{
    public long Id { get; init; }
    public SandboxLifecycleEvent? Event { get; init; }
}

/// <summary>A sampled metrics point of a sandbox.</summary>
public sealed record SandboxMetricSample(
    DateTimeOffset Timestamp,
    int CpuCount,
    double CpuUsedPct,
    long MemUsed,
    long MemTotal,
    long MemCache,
    long DiskUsed,
    long DiskTotal);
