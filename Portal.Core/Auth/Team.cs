namespace Portal.Core.Auth;

/// <summary>A tenant: its keys see and act on its own sandboxes only (an admin team's on all).</summary>
public sealed record Team
{
    public required string TeamId { get; init; }
    public required string Name { get; init; }
    public bool IsAdmin { get; init; }
    public required DateTimeOffset CreatedAt { get; init; }
}

/// <summary>An API key as stored: only the SHA-256 of the secret, never the secret itself.</summary>
public sealed record ApiKey
{
    public required string Id { get; init; }
    public required string TeamId { get; init; }
    public required string Name { get; init; }
    /// <summary>Lowercase hex SHA-256 of the UTF-8 key.</summary>
    public required string KeyHash { get; init; }
    /// <summary>Last 4 characters of the key, for recognising it in lists (E2B's mask).</summary>
    public required string MaskSuffix { get; init; }
    public required DateTimeOffset CreatedAt { get; init; }
    /// <summary>Key that created this one; null for the bootstrap key.</summary>
    public string? CreatedByKeyId { get; init; }
    public string? CreatedByName { get; init; }
    public DateTimeOffset? LastUsedAt { get; init; }
    public DateTimeOffset? ExpiresAt { get; init; }
    public DateTimeOffset? RevokedAt { get; init; }
}

/// <summary>Who is calling: the team of the key presented.</summary>
public sealed record Caller(Team Team, ApiKey Key)
{
    public string TeamId => Team.TeamId;
    public bool IsAdmin => Team.IsAdmin;

    /// <summary>A team sees its own sandboxes; an admin sees all.</summary>
    public bool CanSee(string ownerTeamId) => IsAdmin || ownerTeamId == Team.TeamId;
}
