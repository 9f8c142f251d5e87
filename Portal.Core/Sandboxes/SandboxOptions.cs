namespace Portal.Core.Sandboxes;

/// <summary>Configuration section <c>Portal:Sandboxes</c>.</summary>
public sealed class SandboxOptions
{
    public const string Section = "Portal:Sandboxes";

    /// <summary>Lifetime when a v2 create or a connect sends no <c>timeout</c> (E2B: 300 s).</summary>
    public int DefaultTimeoutSeconds { get; set; } = 300;
    /// <summary>Lifetime when a v1 create sends no <c>timeout</c> (E2B's documented v1 default: 15 s).</summary>
    public int V1DefaultTimeoutSeconds { get; set; } = 15;
    /// <summary>Longest lifetime any request may ask for (default 30 days).</summary>
    public int MaxTimeoutSeconds { get; set; } = 30 * 24 * 3600;
    /// <summary>How often deadlines are checked.</summary>
    public TimeSpan DeadlineCheckInterval { get; set; } = TimeSpan.FromSeconds(1);
    /// <summary>
    /// How long the deadline reaper's lease lasts: among replicas sharing a database only its
    /// holder reaps, and when the holder dies another takes over within this (renewed every check).
    /// </summary>
    public TimeSpan ReaperLeaseDuration { get; set; } = TimeSpan.FromSeconds(15);
    /// <summary>How often running sandboxes' metrics are sampled for <c>/sandboxes/{id}/metrics</c>.</summary>
    public TimeSpan MetricsSampleInterval { get; set; } = TimeSpan.FromSeconds(5);
    /// <summary>Samples kept per sandbox (oldest dropped first).</summary>
    public int MetricsHistorySize { get; set; } = 720;
    /// <summary>
    /// Longest a runtime call (create, pause, resume, kill) may take before the control plane gives
    /// up on it (a deadline error) and releases the sandbox's lock; the call may still finish in the background.
    /// </summary>
    public TimeSpan RuntimeCallTimeout { get; set; } = TimeSpan.FromMinutes(2);
    /// <summary>How long lifecycle logs and events are kept (E2B: 7 days).</summary>
    public int EventRetentionDays { get; set; } = 7;
    /// <summary>The <c>clientID</c> field of every sandbox (deprecated by E2B, still required by its SDKs).</summary>
    public string ClientId { get; set; } = "sandboxportal";
}
