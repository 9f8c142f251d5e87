using Microsoft.AspNetCore.Identity;

namespace Portal.Core.Auth;

/// <summary>
/// A dashboard account: an ASP.NET Core Identity user (hashed password, lockout, security stamp)
/// that belongs to one team with a role. Signed in, it is a <see cref="Caller"/> like an API key:
/// <see cref="CallerRole.Admin"/> sees and acts on every team, a member on its own team only.
/// </summary>
/// <remarks>
/// <see cref="IdentityUser"/> comes from Microsoft.Extensions.Identity.Stores (no ASP.NET Core
/// dependency), so the entity can live beside the store that persists it.
/// </remarks>
public sealed class PortalUser : IdentityUser
{
    public string TeamId { get; set; } = "";
    /// <summary>"admin" or "member" (<see cref="UserRoles"/>).</summary>
    public string Role { get; set; } = UserRoles.Member;
    public long CreatedAt { get; set; }

    public CallerRole CallerRole => Role == UserRoles.Admin ? CallerRole.Admin : CallerRole.Member;
}

public static class UserRoles
{
    public const string Admin = "admin", Member = "member";

    public static bool IsValid(string? role) => role is Admin or Member;
}
