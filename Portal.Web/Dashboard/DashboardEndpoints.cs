using Portal.Core.Envd;
using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Identity;
using MudBlazor.Services;
using Portal.Core.Auth;
using Portal.Web.Apis;
using Portal.Web.Dashboard.Components;
using Portal.Web.Dashboard.Envd;

namespace Portal.Web.Dashboard;

/// <summary>
/// The admin dashboard: Blazor Server (interactive server rendering) with MudBlazor in the
/// portal's own process and port, under <see cref="DashboardPaths"/>.
/// </summary>
public static class DashboardEndpoints
{
    public static IServiceCollection AddDashboard(this IServiceCollection services)
    {
        services.AddRazorComponents().AddInteractiveServerComponents();
        services.AddSingleton<Microsoft.AspNetCore.Components.Server.Circuits.CircuitHandler, CircuitTelemetry>();
        services.AddCascadingAuthenticationState();
        services.AddMudServices();
        services.AddAntiforgery(o => o.Cookie.Name = "portal_antiforgery");
        services.AddScoped<DashboardSession>();
        services.AddSingleton<Terminal.TerminalSessions>();
        services.AddSingleton<Model.PortalSettingsReader>();
        return services;
    }

    /// <summary>After authentication and authorization: antiforgery, static assets, pages, sign-out.</summary>
    public static void MapDashboard(this WebApplication app)
    {
        app.UseAntiforgery();
        app.MapStaticAssets(StaticAssetsManifest());
        app.MapRazorComponents<App>().AddInteractiveServerRenderMode();
        app.MapFileDownload();
        app.MapPost(DashboardPaths.SignOut, async (HttpContext ctx, IAntiforgery antiforgery, SignInManager<PortalUser> signIn) =>
        {
            if (!await antiforgery.IsRequestValidAsync(ctx)) return ApiErrors.Result(400, "sign-out needs the page's antiforgery token");
            await signIn.SignOutAsync();
            return Results.Redirect(DashboardPaths.SignIn);
        });
    }

    /// <summary>
    /// The static-asset manifest of this assembly (not of the entry assembly: tests host the app
    /// from their own executable).
    /// </summary>
    private static string? StaticAssetsManifest()
    {
        var path = Path.Combine(AppContext.BaseDirectory, typeof(DashboardEndpoints).Assembly.GetName().Name + ".staticwebassets.endpoints.json");
        return File.Exists(path) ? path : null;
    }
}
