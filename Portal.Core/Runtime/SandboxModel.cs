namespace Portal.Core.Runtime;

public static class SandboxPorts
{
    /// <summary>envd's port inside every sandbox (the E2B SDKs assume it).</summary>
    public const int Envd = 49983;

    /// <summary>The code interpreter's port (Jupyter bridge) in code-interpreter templates.</summary>
    public const int CodeInterpreter = 49999;
}

/// <summary>What a pause keeps (E2B's <c>memory</c> flag of pause and <c>autoPauseMemory</c> of create).</summary>
public enum SandboxPauseMode
{
    /// <summary>Processes and memory kept (frozen); resume continues where they stopped.</summary>
    Memory,
    /// <summary>Processes stopped and memory freed, files kept; resume boots the sandbox again.</summary>
    Filesystem,
}

public enum SandboxState
{
    Running,
    Paused,
    /// <summary>Gone: killed, crashed or removed; kept only in events.</summary>
    Dead,
}

/// <summary>What the control plane asks a runtime to start.</summary>
public sealed record SandboxSpec
{
    /// <summary>Chosen by the control plane: lowercase letters and digits only.</summary>
    public required string SandboxId { get; init; }
    public required string TemplateId { get; init; }
    /// <summary>Null = the template's default.</summary>
    public int? CpuCount { get; init; }
    public int? MemoryMB { get; init; }
    public IReadOnlyDictionary<string, string> EnvVars { get; init; } = new Dictionary<string, string>();
    /// <summary>Token envd then requires in <c>X-Access-Token</c>; null = none.</summary>
    public string? EnvdAccessToken { get; init; }
    /// <summary>Outbound network access (E2B's <c>allow_internet_access</c>); false is also in <see cref="Egress"/> as a deny of everything.</summary>
    public bool AllowInternetAccess { get; init; }
    /// <summary>Outbound rules (E2B's network.allowOut / denyOut).</summary>
    public SandboxEgress Egress { get; init; } = SandboxEgress.Open;
    /// <summary>The user commands and file transfers run as when the client names none; null = <c>user</c> (a built template's last USER).</summary>
    public string? DefaultUser { get; init; }
    /// <summary>Where commands start when the client names no directory; null = the user's home (a built template's WORKDIR).</summary>
    public string? DefaultWorkdir { get; init; }
}

/// <summary>A sandbox as the runtime knows it.</summary>
public sealed record SandboxInstance
{
    public required string SandboxId { get; init; }
    public required string TemplateId { get; init; }
    public required SandboxState State { get; init; }
    public required DateTimeOffset StartedAt { get; init; }
    public required int CpuCount { get; init; }
    public required int MemoryMB { get; init; }
    public required int DiskSizeMB { get; init; }
    /// <summary>Version of the envd inside, semver (the SDKs gate features on it).</summary>
    public required string EnvdVersion { get; init; }
    public bool InternetAccess { get; init; }
}

public sealed record SandboxMetrics
{
    public required DateTimeOffset Timestamp { get; init; }
    public required int CpuCount { get; init; }
    public required double CpuUsedPct { get; init; }
    public required long MemUsed { get; init; }
    public required long MemTotal { get; init; }
    public long MemCache { get; init; }
    public required long DiskUsed { get; init; }
    public required long DiskTotal { get; init; }
}

public enum SandboxEventKind
{
    Created,
    Paused,
    Resumed,
    Killed,
    Died,
    /// <summary>A process in the sandbox was killed for exceeding its memory limit; the sandbox lives on.</summary>
    MemoryLimitHit,
}

/// <summary>A state change; <see cref="Sandbox"/> is the state after it.</summary>
public sealed record SandboxEvent(SandboxEventKind Kind, SandboxInstance Sandbox, DateTimeOffset At, string? Reason = null);
