using System.Security.Cryptography;
using Microsoft.AspNetCore.Identity;
using Microsoft.EntityFrameworkCore;
using Portal.Core;
using Portal.Core.Auth;

namespace Portal.Web.Auth;

/// <summary>A dashboard account as pages list it (never its password hash).</summary>
public sealed record UserSummary(string Id, string UserName, string TeamId, string TeamName, string Role, DateTimeOffset? LockedOutUntil);

/// <summary>
/// Dashboard accounts on ASP.NET Core Identity: the first admin, and admins creating users in a
/// team as admin or member. Scoped (Identity's <see cref="UserManager{TUser}"/> is).
/// </summary>
public sealed class UserAccounts(UserManager<PortalUser> users, ApiKeyService keys, TimeProvider clock)
{
    public static bool IsValidUserName(string? name) =>
        !string.IsNullOrEmpty(name) && name.Length <= 64 && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-' or '@');

    /// <summary>A password for a generated account: 20 characters of 120 random bits.</summary>
    public static string GeneratePassword() => Convert.ToBase64String(RandomNumberGenerator.GetBytes(15)).Replace('+', '-').Replace('/', '_');

    /// <summary>
    /// First start (no account yet): the admin account in the admin team. Returns the password
    /// when it was generated (to show once), null when configured or when accounts exist.
    /// </summary>
    public async Task<(bool Created, string? GeneratedPassword)> BootstrapAsync(string userName, string? configuredPassword, CancellationToken ct)
    {
        if (await users.Users.AnyAsync(ct)) return (false, null);
        var adminTeam = keys.AdminTeam ?? throw new InvalidOperationException("no admin team: the API keys are bootstrapped first");
        var password = string.IsNullOrEmpty(configuredPassword) ? GeneratePassword() : configuredPassword;
        await CreateCoreAsync(userName, password, adminTeam.TeamId, UserRoles.Admin);
        return (true, string.IsNullOrEmpty(configuredPassword) ? password : null);
    }

    public async Task<IReadOnlyList<UserSummary>> ListAsync(Caller caller, CancellationToken ct)
    {
        var query = users.Users.AsNoTracking();
        if (!caller.IsAdmin) query = query.Where(u => u.TeamId == caller.TeamId);
        var list = await query.OrderBy(u => u.UserName).ToListAsync(ct);
        return list.Select(u => new UserSummary(u.Id, u.UserName!, u.TeamId, keys.FindTeam(u.TeamId)?.Name ?? u.TeamId, u.Role,
            u.LockoutEnd is { } end && end > clock.GetUtcNow() ? end : null)).ToList();
    }

    /// <summary>An admin creates an account in a team, as admin or member.</summary>
    public async Task<UserSummary> CreateAsync(Caller caller, string? userName, string? password, string? teamId, string? role)
    {
        if (!caller.IsAdmin) throw DomainException.PermissionDenied("only an admin can create accounts");
        userName = userName?.Trim();
        if (!IsValidUserName(userName)) throw DomainException.InvalidArgument("the user name must be 1-64 letters, digits or '.', '_', '-', '@'");
        if (!UserRoles.IsValid(role)) throw DomainException.InvalidArgument("the role must be 'admin' or 'member'");
        if (string.IsNullOrEmpty(teamId) || keys.FindTeam(teamId) is not { } team) throw DomainException.InvalidArgument("choose an existing team");
        if (string.IsNullOrEmpty(password)) throw DomainException.InvalidArgument("a password is required");
        var user = await CreateCoreAsync(userName!, password, team.TeamId, role!);
        return new UserSummary(user.Id, user.UserName!, team.TeamId, team.Name, user.Role, null);
    }

    private async Task<PortalUser> CreateCoreAsync(string userName, string password, string teamId, string role)
    {
        var user = new PortalUser { UserName = userName, TeamId = teamId, Role = role, CreatedAt = clock.GetUtcNow().ToUnixTimeMilliseconds() };
        var result = await users.CreateAsync(user, password);
        if (!result.Succeeded)
        {
            var message = string.Join("; ", result.Errors.Select(e => e.Description));
            throw result.Errors.Any(e => e.Code == nameof(IdentityErrorDescriber.DuplicateUserName))
                ? DomainException.Conflict(message) : DomainException.InvalidArgument(message);
        }
        return user;
    }
}
