using System.Security.Claims;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.Tokens;
using Portal.Core.Auth;
using Portal.Web.Apis;

namespace Portal.Web.Auth;

/// <summary>
/// Sign-in as ASP.NET Core authentication schemes that compose: <c>ApiKey</c> (E2B's
/// <c>X-API-Key</c>), when <c>Portal:Auth:Jwt</c> is configured <c>Bearer</c> (JWTs from an
/// identity provider), and the dashboard's session cookie (<see cref="CookieSignIn"/>). The
/// default scheme picks by what the request carries; every control-plane route group requires
/// <see cref="CallerPolicy"/>. Failures are answered in the E2B error shape (the dashboard's own
/// pages redirect to its sign-in page instead).
/// </summary>
public static class PortalAuthentication
{
    public const string Scheme = "Portal", ApiKeyScheme = "ApiKey", BearerScheme = JwtBearerDefaults.AuthenticationScheme;
    /// <summary>Any signed-in caller (a team's member or an admin).</summary>
    public const string CallerPolicy = "Caller";
    /// <summary>An admin (a key of the admin team, or a token with role admin).</summary>
    public const string AdminPolicy = "Admin";
    /// <summary>What a signed-in caller is told when a route needs more than its role (either scheme).</summary>
    internal const string ForbiddenMessage = "this needs an admin API key, an admin token or an admin's sign-in";

    public static IServiceCollection AddPortalAuthentication(this IServiceCollection services, IConfiguration config)
    {
        services.AddOptions<JwtOptions>().Bind(config.GetSection(JwtOptions.Section)).ValidateOnStart();
        services.AddSingleton<IValidateOptions<JwtOptions>, JwtOptionsValidator>();
        var jwt = config.GetSection(JwtOptions.Section).Get<JwtOptions>() ?? new JwtOptions();

        var auth = services.AddAuthentication(Scheme)
            .AddPolicyScheme(Scheme, "API key, bearer token or dashboard session", o => o.ForwardDefaultSelector = ctx =>
            {
                // A credential the request carries explicitly wins over a session cookie.
                if (!string.IsNullOrEmpty(ctx.Request.Headers[ApiKeyAuthenticationHandler.Header])) return ApiKeyScheme;
                if (jwt.Enabled && ctx.Request.Headers.Authorization.ToString().StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
                    return BearerScheme;
                return CookieSignIn.Applies(ctx) ? CookieSignIn.Scheme : ApiKeyScheme;
            })
            .AddScheme<AuthenticationSchemeOptions, ApiKeyAuthenticationHandler>(ApiKeyScheme, null);
        if (jwt.Enabled) auth.AddJwtBearer(BearerScheme, _ => { });
        CookieSignIn.Add(services, auth, config);
        services.AddOptions<JwtBearerOptions>(BearerScheme).Configure<IOptions<JwtOptions>>((o, portal) => ConfigureBearer(o, portal.Value));

        services.AddAuthorizationBuilder()
            .AddPolicy(CallerPolicy, p => p.AddAuthenticationSchemes(Scheme).RequireAuthenticatedUser().RequireClaim(CallerPrincipal.TeamClaim))
            .AddPolicy(AdminPolicy, p => p.AddAuthenticationSchemes(Scheme).RequireAuthenticatedUser().RequireClaim(CallerPrincipal.RoleClaim, "admin"));
        return services;
    }

    /// <summary>The caller of a route behind <see cref="CallerPolicy"/>.</summary>
    public static Caller Caller(this HttpContext ctx) =>
        ctx.Items[typeof(Caller)] as Caller ?? throw new InvalidOperationException("no caller: the route does not require the Caller policy");

    private static void ConfigureBearer(JwtBearerOptions o, JwtOptions jwt)
    {
        if (!jwt.Enabled) return;
        o.MapInboundClaims = false; // claim names as the token has them (TeamClaim, RoleClaim are configured by those names)
        if (!string.IsNullOrWhiteSpace(jwt.Authority)) o.Authority = jwt.Authority;
        o.Audience = jwt.Audience;
        o.TokenValidationParameters = new TokenValidationParameters
        {
            ValidateIssuer = true,
            ValidIssuer = string.IsNullOrWhiteSpace(jwt.Issuer) ? null : jwt.Issuer,
            ValidateAudience = true,
            ValidAudience = jwt.Audience,
            ValidateLifetime = true,
            RequireExpirationTime = true,
            RequireSignedTokens = true,
            ValidateIssuerSigningKey = true,
            IssuerSigningKeys = jwt.ParseSigningKeys(),
            ClockSkew = jwt.ClockSkew,
        };
        o.Events = new JwtBearerEvents
        {
            OnTokenValidated = ctx =>
            {
                var principal = ctx.Principal!;
                var keys = ctx.HttpContext.RequestServices.GetRequiredService<ApiKeyService>();
                var teamId = principal.FindFirst(jwt.TeamClaim)?.Value;
                if (string.IsNullOrEmpty(teamId)) { ctx.Fail($"the token has no '{jwt.TeamClaim}' claim naming a team"); return Task.CompletedTask; }
                if (keys.FindTeam(teamId) is not { } team) { ctx.Fail($"the token's team '{teamId}' does not exist"); return Task.CompletedTask; }
                var roleText = principal.FindFirst(jwt.RoleClaim)?.Value;
                CallerRole role;
                if (string.IsNullOrEmpty(roleText) || roleText == "member") role = CallerRole.Member;
                else if (roleText == "admin") role = CallerRole.Admin;
                else { ctx.Fail($"the token's '{jwt.RoleClaim}' claim must be 'admin' or 'member' (got '{roleText}')"); return Task.CompletedTask; }
                var subject = principal.FindFirst("sub")?.Value;
                if (string.IsNullOrEmpty(subject)) { ctx.Fail("the token has no 'sub' claim"); return Task.CompletedTask; }
                var caller = new Caller(team, role, new Actor(ActorKind.User, subject, principal.FindFirst(jwt.NameClaim)?.Value));
                ctx.Principal = CallerPrincipal.Create(ctx.HttpContext, caller, BearerScheme);
                return Task.CompletedTask;
            },
            OnChallenge = async ctx =>
            {
                ctx.HandleResponse();
                await ApiErrors.WriteAsync(ctx.HttpContext, StatusCodes.Status401Unauthorized, "invalid bearer token: " + Describe(ctx.AuthenticateFailure));
            },
            OnForbidden = ctx => ApiErrors.WriteAsync(ctx.HttpContext, StatusCodes.Status403Forbidden, ForbiddenMessage),
        };
    }

    /// <summary>Why a token was refused, in words a client can act on (never the token itself).</summary>
    private static string Describe(Exception? failure) => failure switch
    {
        null => "missing or unreadable token",
        SecurityTokenExpiredException => "the token has expired",
        SecurityTokenNotYetValidException => "the token is not valid yet",
        SecurityTokenInvalidIssuerException => "the token's issuer is not accepted",
        SecurityTokenInvalidAudienceException => "the token's audience is not accepted",
        SecurityTokenSignatureKeyNotFoundException or SecurityTokenInvalidSignatureException => "the token's signature does not verify",
        SecurityTokenNoExpirationException => "the token has no expiry",
        SecurityTokenMalformedException => "the token is malformed",
        AuthenticationFailureException => failure.Message, // our own checks of the claims (ctx.Fail)
        _ => "the token is malformed or cannot be validated", // never the library's internal wording
    };
}

public static class CallerRouteExtensions
{
    /// <summary>Every route of the group needs a signed-in caller (API key or bearer token).</summary>
    public static RouteGroupBuilder RequireCaller(this RouteGroupBuilder group)
    {
        group.RequireAuthorization(PortalAuthentication.CallerPolicy);
        return group;
    }
}
