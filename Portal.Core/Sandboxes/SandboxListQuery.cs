namespace Portal.Core.Sandboxes;

public sealed record SandboxListQuery
{
    public IReadOnlyDictionary<string, string>? Metadata { get; init; }
    /// <summary>Running and/or Paused.</summary>
    public IReadOnlySet<SandboxStatus> States { get; init; } = new HashSet<SandboxStatus> { SandboxStatus.Running, SandboxStatus.Paused };
    public bool Ascending { get; init; }
    public DateTimeOffset? StartedAfter { get; init; }
    public string? Template { get; init; }
    /// <summary>Null = everything (no pagination).</summary>
    public int? Limit { get; init; }
    public string? NextToken { get; init; }
}

public sealed record SandboxPage(IReadOnlyList<SandboxRecord> Items, string? NextToken);
