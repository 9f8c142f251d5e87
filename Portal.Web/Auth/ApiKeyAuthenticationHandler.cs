using System.Security.Claims;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;
using Portal.Core.Auth;
using Portal.Web.Apis;

namespace Portal.Web.Auth;

/// <summary>The E2B API key (<c>X-API-Key</c>) as an authentication scheme of its own.</summary>
public sealed class ApiKeyAuthenticationHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger, UrlEncoder encoder, ApiKeyService keys)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    public const string Header = "X-API-Key";

    protected override async Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        var presented = Request.Headers[Header].FirstOrDefault();
        if (string.IsNullOrEmpty(presented))
            return AuthenticateResult.Fail("missing API key: send it in the X-API-Key header (or a bearer token where sign-in by token is configured)");
        var (caller, error) = await keys.AuthenticateAsync(presented, Context.RequestAborted);
        if (caller is null) return AuthenticateResult.Fail(error!);
        return AuthenticateResult.Success(new AuthenticationTicket(CallerPrincipal.Create(Context, caller, Scheme.Name), Scheme.Name));
    }

    protected override async Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        // The result of this request's authentication (computed once per request): its reason is the message.
        var result = await HandleAuthenticateOnceSafeAsync();
        await ApiErrors.WriteAsync(Context, StatusCodes.Status401Unauthorized,
            result.Failure?.Message ?? "missing API key: send it in the X-API-Key header");
    }

    protected override Task HandleForbiddenAsync(AuthenticationProperties properties) =>
        ApiErrors.WriteAsync(Context, StatusCodes.Status403Forbidden, PortalAuthentication.ForbiddenMessage);
}

/// <summary>The caller as a <see cref="ClaimsPrincipal"/> (what policies look at) and as a <see cref="Caller"/> (what handlers use).</summary>
public static class CallerPrincipal
{
    public const string TeamClaim = "portal:team", RoleClaim = "portal:role", ActorKindClaim = "portal:actor", ActorNameClaim = "portal:actor-name";

    public static ClaimsPrincipal Create(HttpContext ctx, Caller caller, string scheme, IEnumerable<Claim>? extra = null)
    {
        ctx.Items[typeof(Caller)] = caller;
        var identity = new ClaimsIdentity(
        [
            new Claim(ClaimTypes.NameIdentifier, caller.Who.Id),
            new Claim(TeamClaim, caller.TeamId),
            new Claim(RoleClaim, caller.IsAdmin ? "admin" : "member"),
            new Claim(ActorKindClaim, caller.Who.Kind == ActorKind.ApiKey ? "api-key" : "user"),
            .. caller.Who.Name is { } name ? [new Claim(ActorNameClaim, name)] : Array.Empty<Claim>(),
            .. extra ?? [],
        ], scheme, ClaimTypes.NameIdentifier, RoleClaim);
        return new ClaimsPrincipal(identity);
    }

    /// <summary>
    /// The caller a principal made by <see cref="Create"/> stands for (Blazor components see the
    /// principal, not the request); null when it is not a caller or its team is gone.
    /// </summary>
    public static Caller? ToCaller(ClaimsPrincipal principal, ApiKeyService keys)
    {
        var teamId = principal.FindFirst(TeamClaim)?.Value;
        var id = principal.FindFirst(ClaimTypes.NameIdentifier)?.Value;
        if (teamId is null || id is null || keys.FindTeam(teamId) is not { } team) return null;
        var role = principal.FindFirst(RoleClaim)?.Value == "admin" ? CallerRole.Admin : CallerRole.Member;
        var kind = principal.FindFirst(ActorKindClaim)?.Value == "api-key" ? ActorKind.ApiKey : ActorKind.User;
        return new Caller(team, role, new Actor(kind, id, principal.FindFirst(ActorNameClaim)?.Value));
    }
}
