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
    /// <summary>Who created this key (<see cref="Actor.Id"/>: an API key's ID or a user's subject); null for the bootstrap key.</summary>
    public string? CreatedById { get; init; }
    public string? CreatedByName { get; init; }
    public DateTimeOffset? LastUsedAt { get; init; }
    public DateTimeOffset? ExpiresAt { get; init; }
    public DateTimeOffset? RevokedAt { get; init; }
}

public enum CallerRole { Member, Admin }

public enum ActorKind { ApiKey, User }

/// <summary>Who acts: an API key (by its ID and name) or a signed-in user (by the token's subject and name).</summary>
public sealed record Actor(ActorKind Kind, string Id, string? Name);

/// <summary>
/// Who is calling, however they signed in: a team, a role in it, and who acts. An admin sees and
/// acts on every team; a member on its own team only.
/// </summary>
public sealed record Caller(Team Team, CallerRole Role, Actor Who)
{
    public string TeamId => Team.TeamId;
    public bool IsAdmin => Role == CallerRole.Admin;

    /// <summary>A team sees its own sandboxes; an admin sees all.</summary>
    public bool CanSee(string ownerTeamId) => IsAdmin || ownerTeamId == Team.TeamId;

    /// <summary>An API key acts for its team: as admin when the team is the admin team.</summary>
    public static Caller ForKey(Team team, ApiKey key) =>
        new(team, team.IsAdmin ? CallerRole.Admin : CallerRole.Member, new Actor(ActorKind.ApiKey, key.Id, key.Name));
}
