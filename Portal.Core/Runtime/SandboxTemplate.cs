namespace Portal.Core.Runtime;

/// <summary>A root filesystem plus the defaults sandboxes started from it get.</summary>
public sealed record SandboxTemplate
{
    /// <summary>Name used as E2B's <c>templateID</c> (e.g. <c>base</c>).</summary>
    public required string TemplateId { get; init; }
    public IReadOnlyList<string> Aliases { get; init; } = [];
    public int CpuCount { get; init; } = 2;
    public int MemoryMB { get; init; } = 512;
    public int DiskSizeMB { get; init; } = 2048;
    /// <summary>
    /// Command started (as root, <c>sh -c</c>) in every new sandbox beside envd and kept running
    /// (e.g. the code interpreter's server); null = none.
    /// </summary>
    public string? StartCommand { get; init; }
    /// <summary>
    /// Exits 0 once the start command is ready (e.g. answers on its port). A sandbox is handed out
    /// only after that, warm-pool sandboxes before they join the pool; null = ready when started.
    /// </summary>
    public string? ReadyCommand { get; init; }
    /// <summary>Sandboxes kept started and idle, so a create only claims one.</summary>
    public int WarmPoolSize { get; init; }
    /// <summary>
    /// Deleted by its owner while a sandbox paused to disk stands on it (that sandbox mounts the
    /// chain again when it resumes): no new sandbox starts from it, and it goes once none needs it.
    /// </summary>
    public bool Deleted { get; init; }
    /// <summary>
    /// Not listed and not offered to users (an unpacked image that template builds start from):
    /// found by ID only, by the runtime and the builds that use it.
    /// </summary>
    public bool Hidden { get; init; }
    /// <summary>
    /// What its sandboxes start with unless their create says otherwise: a snapshot's source
    /// sandbox's default user, directory and variables. A sandbox from a snapshot (or a fork) boots
    /// from the copied files, so without them it would fall back to <c>user</c> and its home.
    /// </summary>
    public string? DefaultUser { get; init; }
    /// <inheritdoc cref="DefaultUser"/>
    public string? DefaultWorkdir { get; init; }
    /// <summary>Variables its sandboxes start with; a create's own variables of the same name win.</summary>
    public IReadOnlyDictionary<string, string> EnvVars { get; init; } = new Dictionary<string, string>();
    /// <summary>
    /// The template this one was made from (a snapshot's or a build step's source). The runtime
    /// stacks this template's own files over its parent's; null for a template that stands alone.
    /// </summary>
    public string? ParentTemplateId { get; init; }
}

public interface ITemplateCatalog
{
    /// <summary>By ID or alias; null when unknown.</summary>
    Task<SandboxTemplate?> FindAsync(string templateIdOrAlias, CancellationToken ct);

    Task<IReadOnlyList<SandboxTemplate>> ListAsync(CancellationToken ct);
}

/// <summary>A template's warm pool: sandboxes ready to be claimed and the size the pool is kept at.</summary>
public sealed record WarmPoolFill(string TemplateId, int Ready, int Size);
