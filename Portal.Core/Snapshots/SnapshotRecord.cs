namespace Portal.Core.Snapshots;

/// <summary>
/// A sandbox's filesystem taken as a template (E2B's snapshot): its ID is the runtime's template ID,
/// so sandboxes start from it like from any template. A fork's copy is one too, never listed.
/// </summary>
public sealed record SnapshotRecord
{
    /// <summary>The runtime template holding the copy; E2B's raw snapshot template ID.</summary>
    public required string SnapshotId { get; init; }
    public required string TeamId { get; init; }
    /// <summary>The team's slug when it was named (E2B's <c>namespace</c>); null for an unnamed snapshot.</summary>
    public string? Namespace { get; init; }
    /// <summary>The alias it was named with (<c>my-snapshot</c>); null when unnamed.</summary>
    public string? Name { get; init; }
    /// <summary>E2B's tag (<c>default</c> unless the name said <c>:tag</c>).</summary>
    public string Tag { get; init; } = SnapshotNames.DefaultTag;
    /// <summary>The sandbox it was taken from.</summary>
    public required string SourceSandboxId { get; init; }
    /// <summary>The template that sandbox ran on: the copy holds only the changes over it.</summary>
    public required string ParentTemplateId { get; init; }
    /// <summary>False for the copy a fork starts from: never listed, never usable by name or ID.</summary>
    public bool Listed { get; init; } = true;
    public required DateTimeOffset CreatedAt { get; init; }
    /// <summary>
    /// Set once it is deleted (or, for a fork's copy, once the forks started): gone for every caller
    /// from then on; the row stays only until the runtime has removed the template too, which it
    /// refuses while another template still stacks on this one.
    /// </summary>
    public DateTimeOffset? RemovedAt { get; init; }

    /// <summary>E2B's <c>snapshotID</c>: <c>namespace/name:tag</c> when named, else <c>id:default</c>.</summary>
    public string PublicId => Name is null ? $"{SnapshotId}:{Tag}" : $"{Namespace}/{Name}:{Tag}";

    /// <summary>E2B's <c>names</c>: the full name without the tag, or none.</summary>
    public IReadOnlyList<string> Names => Name is null ? [] : [$"{Namespace}/{Name}"];
}

/// <summary>Which snapshots to list: one team's (null = every team's), filters, a page newest first.</summary>
public sealed record SnapshotQuery
{
    public string? TeamId { get; init; }
    public string? SourceSandboxId { get; init; }
    public string? SnapshotId { get; init; }
    public string? Namespace { get; init; }
    public string? Name { get; init; }
    /// <summary>Null = any tag.</summary>
    public string? Tag { get; init; }
    /// <summary>Listed ones only (false: fork copies too).</summary>
    public bool ListedOnly { get; init; } = true;
    /// <summary>Removed ones instead of current ones (the sweep's view).</summary>
    public bool Removed { get; init; }
    /// <summary>Strictly after this (created at ms, ID), in the newest-first order.</summary>
    public (long CreatedAtMs, string SnapshotId)? After { get; init; }
    public int Limit { get; init; } = 100;
}

/// <summary>One page of <c>GET /snapshots</c>.</summary>
public sealed record SnapshotPage(IReadOnlyList<SnapshotRecord> Items, string? NextToken);
