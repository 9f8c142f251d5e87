using System.Security.Claims;
using Bunit;
using Bunit.TestDoubles;
using Microsoft.Extensions.DependencyInjection;
using MudBlazor;
using MudBlazor.Services;
using Portal.Core.Auth;
using Portal.Core.Sandboxes;
using Portal.Tests.Api;
using Portal.Web.Auth;
using Portal.Web.Dashboard;

namespace Portal.Tests.Web.Dashboard.Pages;

/// <summary>
/// bUnit over the real portal services (a <see cref="PortalHost"/> with the fake runtime): pages
/// render against the real change stream, sandbox service, keys and accounts, as a signed-in
/// admin or member.
/// </summary>
public sealed class DashboardPageContext : IAsyncDisposable
{
    private readonly AsyncServiceScope _scope;

    private DashboardPageContext(PortalHost host)
    {
        Host = host;
        _scope = host.Services.CreateAsyncScope();
        Bunit = new BunitContext();
        Bunit.JSInterop.Mode = JSRuntimeMode.Loose;
        Bunit.Services.AddMudServices();
        Bunit.Services.AddSingleton(host.Services.GetRequiredService<SandboxService>());
        Bunit.Services.AddSingleton(host.Services.GetRequiredService<PortalTelemetry>());
        Bunit.Services.AddSingleton(Keys);
        Bunit.Services.AddSingleton(host.Services.GetRequiredService<Portal.Core.Webhooks.WebhookService>());
        Bunit.Services.AddSingleton(_scope.ServiceProvider.GetRequiredService<UserAccounts>());
        Bunit.Services.AddScoped<DashboardSession>();
        Bunit.Services.AddSingleton(host.Services.GetRequiredService<Portal.Core.Runtime.ISandboxRuntime>());
        Bunit.Services.AddSingleton<Portal.Web.Dashboard.Terminal.TerminalSessions>();
        Bunit.Services.AddSingleton(host.Services.GetRequiredService<Portal.Web.Dashboard.Model.PortalSettingsReader>());
        Auth = Bunit.AddAuthorization();
        // Pages follow the change stream only when interactive (the circuit), as in the app.
        Bunit.Renderer.SetRendererInfo(new Microsoft.AspNetCore.Components.RendererInfo("Server", isInteractive: true));
    }

    public PortalHost Host { get; }
    public BunitContext Bunit { get; }
    public BunitAuthorizationContext Auth { get; }
    public ApiKeyService Keys => Host.Services.GetRequiredService<ApiKeyService>();
    public SandboxService Sandboxes => Host.Services.GetRequiredService<SandboxService>();
    public Caller Admin => new(Keys.AdminTeam!, CallerRole.Admin, new Actor(ActorKind.User, "u-admin", "admin"));

    public static async Task<DashboardPageContext> StartAsync(IDictionary<string, string?>? config = null, FakeSandboxRuntime? runtime = null) =>
        new(await PortalHost.StartAsync(runtime, config: config));

    /// <summary>Signs the page's user in as <paramref name="caller"/> (the claims the session cookie yields).</summary>
    public void SignInAs(Caller caller)
    {
        Auth.SetAuthorized(caller.Who.Name ?? caller.Who.Id);
        Auth.SetClaims(
            new Claim(ClaimTypes.NameIdentifier, caller.Who.Id),
            new Claim(CallerPrincipal.TeamClaim, caller.TeamId),
            new Claim(CallerPrincipal.RoleClaim, caller.IsAdmin ? "admin" : "member"),
            new Claim(CallerPrincipal.ActorKindClaim, "user"),
            new Claim(CallerPrincipal.ActorNameClaim, caller.Who.Name ?? ""));
    }

    /// <summary>A new team, its member (as a caller) and a key of it.</summary>
    public async Task<(Caller Member, string Key)> NewTeamAsync(string name)
    {
        var team = await Keys.CreateTeamAsync(Admin, name, CancellationToken.None);
        var key = await Keys.CreateKeyAsync(Admin, name + "-key", team.TeamId, null, CancellationToken.None);
        return (new Caller(team, CallerRole.Member, new Actor(ActorKind.User, "u-" + name, name + "-member")), key.Secret);
    }

    /// <summary>The providers MudBlazor's dialogs, popovers and snackbars render into (the layout's job in the app).</summary>
    public (IRenderedComponent<MudDialogProvider> Dialogs, IRenderedComponent<MudSnackbarProvider> Snackbars) RenderProviders()
    {
        Bunit.Render<MudPopoverProvider>();
        return (Bunit.Render<MudDialogProvider>(), Bunit.Render<MudSnackbarProvider>());
    }

    public async ValueTask DisposeAsync()
    {
        await Bunit.DisposeAsync();
        await _scope.DisposeAsync();
        await Host.DisposeAsync();
    }
}
