using System.Security.Claims;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Identity;
using Portal.Core.Auth;
using Portal.Core.Persistence;
using Portal.Web.Apis;
using Portal.Web.Dashboard;

namespace Portal.Web.Auth;

/// <summary>
/// The dashboard's sign-in: ASP.NET Core Identity accounts (<see cref="PortalUser"/>, hashed
/// passwords, lockout after <see cref="MaxFailedAttempts"/> failures) and a session cookie that
/// is one more scheme of the "Portal" policy scheme. A signed-in user becomes a caller principal
/// (team, role, actor) like an API key, checked against the stored account on every request so
/// a locked or removed account loses its session at once.
/// </summary>
public static class CookieSignIn
{
    /// <summary>Identity's application scheme, which <see cref="SignInManager{TUser}"/> signs in with.</summary>
    public static readonly string Scheme = IdentityConstants.ApplicationScheme;
    public const string CookieName = "portal_session";
    public const int MaxFailedAttempts = 5;
    public static readonly TimeSpan LockoutDuration = TimeSpan.FromMinutes(15);

    /// <summary>Dashboard pages, or any request that carries the session cookie (the Blazor hub, API calls from the page).</summary>
    public static bool Applies(HttpContext ctx) =>
        DashboardPaths.IsDashboard(ctx.Request.Path) || ctx.Request.Cookies.ContainsKey(CookieName);

    internal static void Add(IServiceCollection services, AuthenticationBuilder auth, IConfiguration config)
    {
        services.AddOptions<DashboardOptions>().Bind(config.GetSection(DashboardOptions.Section)).ValidateOnStart();
        services.AddSingleton<Microsoft.Extensions.Options.IValidateOptions<DashboardOptions>, DashboardOptionsValidator>();
        services.AddIdentityCore<PortalUser>(o =>
            {
                o.Lockout.AllowedForNewUsers = true;
                o.Lockout.MaxFailedAccessAttempts = MaxFailedAttempts;
                o.Lockout.DefaultLockoutTimeSpan = LockoutDuration;
                // Length over character classes (NIST SP 800-63B).
                o.Password.RequiredLength = DashboardOptions.MinPasswordLength;
                o.Password.RequireDigit = o.Password.RequireLowercase = o.Password.RequireUppercase = o.Password.RequireNonAlphanumeric = false;
                o.User.AllowedUserNameCharacters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._@";
            })
            .AddSignInManager()
            .AddPortalUserStore();
        services.AddScoped<UserAccounts>();

        auth.AddCookie(Scheme, o =>
        {
            o.Cookie.Name = CookieName;
            o.Cookie.HttpOnly = true;
            o.Cookie.SameSite = SameSiteMode.Strict;
            o.Cookie.SecurePolicy = CookieSecurePolicy.SameAsRequest;
            o.ExpireTimeSpan = TimeSpan.FromHours(8);
            o.SlidingExpiration = true;
            o.LoginPath = DashboardPaths.SignIn;
            o.AccessDeniedPath = DashboardPaths.SignIn;
            o.Events = new CookieAuthenticationEvents
            {
                OnValidatePrincipal = ValidateAsync,
                // API callers get E2B's answers, never a redirect to a page.
                OnRedirectToLogin = ctx => DashboardPaths.IsDashboard(ctx.Request.Path)
                    ? Redirect(ctx)
                    : ApiErrors.WriteAsync(ctx.HttpContext, StatusCodes.Status401Unauthorized, "sign-in required: the dashboard session is missing or has expired"),
                OnRedirectToAccessDenied = ctx => DashboardPaths.IsDashboard(ctx.Request.Path)
                    ? Redirect(ctx)
                    : ApiErrors.WriteAsync(ctx.HttpContext, StatusCodes.Status403Forbidden, PortalAuthentication.ForbiddenMessage),
            };
        });
    }

    private static Task Redirect(RedirectContext<CookieAuthenticationOptions> ctx)
    {
        ctx.Response.Redirect(ctx.RedirectUri);
        return Task.CompletedTask;
    }

    /// <summary>The cookie's account still exists, is not locked out and has the same security stamp: it becomes a caller.</summary>
    private static async Task ValidateAsync(CookieValidatePrincipalContext ctx)
    {
        var services = ctx.HttpContext.RequestServices;
        var users = services.GetRequiredService<UserManager<PortalUser>>();
        var keys = services.GetRequiredService<ApiKeyService>();
        var principal = ctx.Principal!;
        var userId = users.GetUserId(principal);
        var user = userId is null ? null : await users.FindByIdAsync(userId);
        var stamp = principal.FindFirst(users.Options.ClaimsIdentity.SecurityStampClaimType)?.Value;
        if (user is null || await users.IsLockedOutAsync(user) || (users.SupportsUserSecurityStamp && stamp != await users.GetSecurityStampAsync(user))
            || keys.FindTeam(user.TeamId) is not { } team)
        {
            ctx.RejectPrincipal();
            await ctx.HttpContext.SignOutAsync(Scheme);
            return;
        }
        var caller = new Caller(team, user.CallerRole, new Actor(ActorKind.User, user.Id, user.UserName));
        // The stamp stays in the principal so a renewed cookie still carries it.
        ctx.ReplacePrincipal(CallerPrincipal.Create(ctx.HttpContext, caller, Scheme,
            stamp is null ? null : [new Claim(users.Options.ClaimsIdentity.SecurityStampClaimType, stamp)]));
    }
}
