namespace Portal.Core.Templates;

/// <summary>A team's template in the registry: its names and the builds its tags point at.</summary>
public sealed record TemplateRecord
{
    /// <summary>20 characters of <c>[a-z0-9]</c>, E2B's <c>templateID</c>.</summary>
    public required string TemplateId { get; init; }
    public required string TeamId { get; init; }
    /// <summary>Names (aliases) without tags, unique across all teams; usually one.</summary>
    public IReadOnlyList<string> Names { get; init; } = [];
    public bool Public { get; init; }
    public int CpuCount { get; init; }
    public int MemoryMB { get; init; }
    public int DiskSizeMB { get; init; }
    public required DateTimeOffset CreatedAt { get; init; }
    public required DateTimeOffset UpdatedAt { get; init; }
    /// <summary>Who asked for it first (an API key's or user's ID and name).</summary>
    public string? CreatedById { get; init; }
    public string? CreatedByName { get; init; }
    public long SpawnCount { get; init; }
    public DateTimeOffset? LastSpawnedAt { get; init; }
    public int BuildCount { get; init; }
}

public enum TemplateBuildStatus { Waiting, Building, Ready, Error }

/// <summary>The state a step leaves behind for the next ones and for the template's sandboxes.</summary>
public sealed record BuildState
{
    public IReadOnlyDictionary<string, string> Env { get; init; } = new Dictionary<string, string>();
    public string User { get; init; } = "user";
    /// <summary>Null = the user's home.</summary>
    public string? Workdir { get; init; }
}

/// <summary>One build of a template: its request, progress and, when ready, the runtime template it made.</summary>
public sealed record TemplateBuild
{
    public required string BuildId { get; init; }
    public required string TemplateId { get; init; }
    public required string TeamId { get; init; }
    public required TemplateBuildStatus Status { get; init; }
    public required DateTimeOffset CreatedAt { get; init; }
    public DateTimeOffset? FinishedAt { get; init; }
    /// <summary>Tags the build gets once it is ready (<c>default</c> included unless others were asked for).</summary>
    public IReadOnlyList<string> Tags { get; init; } = [];
    /// <summary>The start request as received (E2B's TemplateBuildStartV2 JSON); null while waiting for it.</summary>
    public string? RequestJson { get; init; }
    public string? ReasonMessage { get; init; }
    /// <summary>"base", "1".."N", "finalize".</summary>
    public string? ReasonStep { get; init; }
    /// <summary>The runtime template sandboxes of this build start from (set when ready).</summary>
    public string? RuntimeTemplateId { get; init; }
    /// <summary>The build sandbox while one runs (so a restart can remove it).</summary>
    public string? BuildSandboxId { get; init; }
    public BuildState? Result { get; init; }
    public string? StartCmd { get; init; }
    public string? ReadyCmd { get; init; }
    /// <summary>The cached layers the build stands on (kept while a build of the team uses them).</summary>
    public IReadOnlyList<string> LayerKeys { get; init; } = [];
    public int CpuCount { get; init; }
    public int MemoryMB { get; init; }
}

public sealed record BuildLogEntry(DateTimeOffset Timestamp, string Level, string Message, string? Step);

/// <summary>A cached layer: what running one step on a parent layer gave (a runtime template and the state).</summary>
public sealed record TemplateLayer(string Key, string TeamId, string RuntimeTemplateId, BuildState State, DateTimeOffset CreatedAt);

public sealed record TemplateTag(string Tag, string BuildId, DateTimeOffset CreatedAt);
