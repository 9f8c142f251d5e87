using System.Collections.Concurrent;
using System.Security.Cryptography;
using Microsoft.Extensions.Logging;
using Portal.Core.Persistence;

namespace Portal.Core.Auth;

/// <summary>A key just created: the only moment its secret exists outside the caller's hands.</summary>
public sealed record CreatedApiKey(ApiKey Key, string Secret);

/// <summary>
/// Teams and API keys. Keys are checked against an in-memory copy of the stored hashes
/// (refreshed on every change, so a revoke takes effect on the next request); the secret
/// itself is never stored. Comparison is on the SHA-256 of the presented key, in constant time.
/// </summary>
public sealed class ApiKeyService(IPortalStore store, TimeProvider clock, ILogger<ApiKeyService> log)
{
    private static readonly TimeSpan LastUsedResolution = TimeSpan.FromMinutes(1);
    private readonly ConcurrentDictionary<string, ApiKey> _byHash = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, Team> _teams = new(StringComparer.Ordinal);

    /// <summary>Reads teams and keys from the store: at startup, and whenever another replica changed them.</summary>
    public async Task LoadAsync(CancellationToken ct)
    {
        foreach (var t in await store.ListTeamsAsync(ct)) _teams[t.TeamId] = t;
        foreach (var k in await store.ListApiKeysAsync(ct))
        {
            // A last use recorded here after the read is kept (the revocation, if any, wins anyway).
            _byHash.AddOrUpdate(k.KeyHash, k, (_, mine) =>
                k with { LastUsedAt = Later(k.LastUsedAt, mine.LastUsedAt) });
        }
    }

    private static DateTimeOffset? Later(DateTimeOffset? a, DateTimeOffset? b) => a is null ? b : b is null ? a : a >= b ? a : b;

    /// <summary>
    /// First start: an admin team and key. Returns the new secret to show once, or null when
    /// the store already had teams. A configured key (PORTAL_ADMIN_API_KEY) is used instead of a
    /// generated one, and added to the admin team later too if it is not known yet.
    /// </summary>
    public async Task<string?> BootstrapAsync(string? configuredAdminKey, CancellationToken ct)
    {
        if (_teams.IsEmpty)
        {
            var now = Now();
            var team = new Team { TeamId = NewId("team"), Name = "admin", IsAdmin = true, CreatedAt = now };
            var secret = string.IsNullOrEmpty(configuredAdminKey) ? ApiKeyFormat.Generate() : configuredAdminKey;
            var key = NewKey(team.TeamId, "admin (bootstrap)", secret, now, null, null);
            await store.AddTeamWithKeyAsync(team, key, ct);
            _teams[team.TeamId] = team;
            _byHash[key.KeyHash] = key;
            log.LogInformation("Created admin team {TeamId} and its first API key {KeyId}", team.TeamId, key.Id);
            return secret;
        }

        if (!string.IsNullOrEmpty(configuredAdminKey))
        {
            var hash = ApiKeyFormat.Hash(configuredAdminKey);
            if (_byHash.TryGetValue(hash, out var existing))
            {
                if (existing.RevokedAt is not null)
                    log.LogWarning("PORTAL_ADMIN_API_KEY names key {KeyId}, which was revoked; it stays revoked", existing.Id);
            }
            else
            {
                var admin = AdminTeam!;
                var key = NewKey(admin.TeamId, "admin (PORTAL_ADMIN_API_KEY)", configuredAdminKey, Now(), null, null);
                await store.AddApiKeyAsync(key, ct);
                _byHash[key.KeyHash] = key;
                log.LogInformation("Added the configured admin key as {KeyId}", key.Id);
            }
        }
        return null;
    }

    /// <summary>The caller behind <paramref name="presented"/>, or why not (a message for an unauthenticated caller).</summary>
    public async Task<(Caller? Caller, string? Error)> AuthenticateAsync(string? presented, CancellationToken ct)
    {
        if (string.IsNullOrEmpty(presented))
            return (null, "missing API key: send it in the X-API-Key header");
        var hashBytes = ApiKeyFormat.HashBytes(presented);
        var hashHex = Convert.ToHexStringLower(hashBytes);
        // The lookup is keyed by the hash (an attacker cannot steer it); the final check is constant time.
        if (!_byHash.TryGetValue(hashHex, out var key) ||
            !CryptographicOperations.FixedTimeEquals(hashBytes, Convert.FromHexString(key.KeyHash)))
            return (null, "invalid API key");
        if (key.RevokedAt is not null) return (null, "API key has been revoked");
        var now = Now();
        if (key.ExpiresAt is { } exp && exp <= now) return (null, "API key has expired");
        if (!_teams.TryGetValue(key.TeamId, out var team)) return (null, "invalid API key");

        if (key.LastUsedAt is null || now - key.LastUsedAt.Value >= LastUsedResolution)
        {
            key = key with { LastUsedAt = now };
            _byHash[hashHex] = key;
            try { await store.TouchApiKeyAsync(key.Id, now, ct); }
            catch (Exception e) when (e is not OperationCanceledException) { log.LogWarning(e, "Could not record last use of key {KeyId}", key.Id); }
        }
        return (Caller.ForKey(team, key), null);
    }

    /// <summary>A team by ID (for callers signed in by a token that names it).</summary>
    public Team? FindTeam(string teamId) => _teams.TryGetValue(teamId, out var t) ? t : null;

    /// <summary>The first admin team (the one created at first start).</summary>
    public Team? AdminTeam => _teams.Values.Where(t => t.IsAdmin).OrderBy(t => t.CreatedAt).FirstOrDefault();

    public IReadOnlyList<Team> ListTeams(Caller caller) =>
        _teams.Values.Where(t => caller.IsAdmin || t.TeamId == caller.TeamId).OrderBy(t => t.CreatedAt).ToList();

    public async Task<Team> CreateTeamAsync(Caller caller, string? name, CancellationToken ct)
    {
        if (!caller.IsAdmin) throw DomainException.PermissionDenied("only an admin key can create teams");
        name = ValidateName(name, "name");
        var team = new Team { TeamId = NewId("team"), Name = name, CreatedAt = Now() };
        await store.AddTeamAsync(team, ct);
        _teams[team.TeamId] = team;
        return team;
    }

    public IReadOnlyList<ApiKey> ListKeys(Caller caller, string? teamId)
    {
        var scope = ResolveTeam(caller, teamId, allowAllForAdmin: true);
        return _byHash.Values
            .Where(k => k.RevokedAt is null && (scope is null || k.TeamId == scope))
            .OrderBy(k => k.CreatedAt).ThenBy(k => k.Id).ToList();
    }

    public async Task<CreatedApiKey> CreateKeyAsync(Caller caller, string? name, string? teamId, DateTimeOffset? expiresAt, CancellationToken ct)
    {
        name = ValidateName(name, "name");
        var team = ResolveTeam(caller, teamId, allowAllForAdmin: false)!;
        var now = Now();
        if (expiresAt is { } e && e <= now) throw DomainException.InvalidArgument("expiresAt must be in the future");
        var secret = ApiKeyFormat.Generate();
        var key = NewKey(team, name, secret, now, caller.Who, expiresAt);
        await store.AddApiKeyAsync(key, ct);
        _byHash[key.KeyHash] = key;
        return new CreatedApiKey(key, secret);
    }

    public async Task RevokeAsync(Caller caller, string keyId, CancellationToken ct)
    {
        var key = _byHash.Values.FirstOrDefault(k => k.Id == keyId && k.RevokedAt is null && caller.CanSee(k.TeamId))
            ?? throw DomainException.NotFound($"API key '{keyId}' not found");
        if (_teams.TryGetValue(key.TeamId, out var team) && team.IsAdmin &&
            !_byHash.Values.Any(k => k.Id != key.Id && k.TeamId == key.TeamId && IsActive(k)))
            throw DomainException.Conflict("this is the last active admin key: create another admin key before revoking it");
        var revoked = key with { RevokedAt = Now() };
        await store.RevokeApiKeyAsync(key.Id, revoked.RevokedAt!.Value, ct);
        _byHash[key.KeyHash] = revoked;
    }

    private bool IsActive(ApiKey k) => k.RevokedAt is null && (k.ExpiresAt is null || k.ExpiresAt > Now());

    /// <summary>The team a key operation applies to; null = all (admin listing without a filter).</summary>
    private string? ResolveTeam(Caller caller, string? teamId, bool allowAllForAdmin)
    {
        if (string.IsNullOrEmpty(teamId)) return caller.IsAdmin && allowAllForAdmin ? null : caller.TeamId;
        if (teamId == caller.TeamId) return teamId;
        if (!caller.IsAdmin || !_teams.ContainsKey(teamId)) throw DomainException.NotFound($"team '{teamId}' not found");
        return teamId;
    }

    private static string ValidateName(string? name, string field)
    {
        name = name?.Trim();
        if (string.IsNullOrEmpty(name)) throw DomainException.InvalidArgument($"'{field}' is required");
        if (name.Length > 200) throw DomainException.InvalidArgument($"'{field}' is longer than 200 characters");
        return name;
    }

    private static ApiKey NewKey(string teamId, string name, string secret, DateTimeOffset now, Actor? creator, DateTimeOffset? expiresAt) => new()
    {
        Id = Guid.NewGuid().ToString(),
        TeamId = teamId,
        Name = name,
        KeyHash = ApiKeyFormat.Hash(secret),
        MaskSuffix = secret[^4..],
        CreatedAt = now,
        CreatedById = creator?.Id,
        CreatedByName = creator?.Name,
        ExpiresAt = expiresAt,
    };

    private DateTimeOffset Now() => Clock.TruncateToMs(clock.GetUtcNow());

    private static string NewId(string prefix) => prefix + "_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8));
}
