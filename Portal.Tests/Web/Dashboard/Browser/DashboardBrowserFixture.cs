using System.Diagnostics;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;
using Portal.Core.Auth;
using Portal.Core.Runtime;
using Portal.Tests.Api;
using Portal.Tests.Runtime.Local;
using Portal.Web.Auth;

namespace Portal.Tests.Web.Dashboard.Browser;

/// <summary>
/// The real portal in-process (Kestrel on a loopback port) over the real local runtime, and
/// Debian's Chromium driven by Playwright. Sandboxes are created by the real e2b SDK
/// (e2e/dashboard/sdk.mjs). Every page visited is scanned by axe-core (from npm) and
/// photographed at desktop and phone width into docs/screenshots.
/// </summary>
public sealed class DashboardBrowserFixture : IAsyncLifetime
{
    public const string AdminUser = "admin", AdminPassword = PortalHost.AdminPassword;
    private static readonly string[] ChromiumFlags =
        ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"];

    private readonly LocalRuntimeFixture _runtime = new();
    private IPlaywright? _playwright;

    public PortalHost Host { get; private set; } = null!;
    public IBrowser Browser { get; private set; } = null!;
    public static string RepoRoot => LocalRuntimeFixture.RepoRoot;
    public static string ScreenshotDir => Path.Combine(RepoRoot, "docs", "screenshots");

    public async ValueTask InitializeAsync()
    {
        await _runtime.InitializeAsync();
        Host = await PortalHost.StartAsync(
            config: new Dictionary<string, string?> { ["Portal:Webhooks:AllowPrivateTargets"] = "true" }, // the test's receiver is on loopback
            configure: b => b.Services.AddSingleton<ISandboxRuntime>(_runtime.Runtime));
        _playwright = await Playwright.CreateAsync();
        Browser = await _playwright.Chromium.LaunchAsync(new() { ExecutablePath = "/usr/bin/chromium", Headless = true, Args = ChromiumFlags });
    }

    public async ValueTask DisposeAsync()
    {
        if (Browser is not null) await Browser.CloseAsync();
        _playwright?.Dispose();
        if (Host is not null)
        {
            // Sandboxes outlive the portal by design: kill what the tests left.
            var sandboxes = Host.Services.GetRequiredService<Portal.Core.Sandboxes.SandboxService>();
            foreach (var s in sandboxes.Live.ToList())
                try { await sandboxes.Runtime.KillAsync(s.SandboxId, CancellationToken.None); } catch (Exception) { }
            await Host.DisposeAsync();
        }
        await _runtime.DisposeAsync();
    }

    /// <summary>A team with a member account and an API key, made through the services the pages use.</summary>
    public async Task<(Team Team, string User, string Password, string Key)> NewTeamWithMemberAsync(string name)
    {
        var keys = Host.Services.GetRequiredService<ApiKeyService>();
        var admin = new Caller(keys.AdminTeam!, CallerRole.Admin, new Actor(ActorKind.User, "test", "test"));
        var team = await keys.CreateTeamAsync(admin, name, CancellationToken.None);
        var key = await keys.CreateKeyAsync(admin, name + "-key", team.TeamId, null, CancellationToken.None);
        var user = name + "-member";
        const string password = "member-password-1";
        await using var scope = Host.Services.CreateAsyncScope();
        await scope.ServiceProvider.GetRequiredService<UserAccounts>().CreateAsync(admin, user, password, team.TeamId, UserRoles.Member);
        return (team, user, password, key.Secret);
    }

    public async Task<IPage> NewPageAsync()
    {
        var context = await Browser.NewContextAsync(new() { BaseURL = Host.BaseAddress.ToString(), ViewportSize = new() { Width = 1280, Height = 800 } });
        context.SetDefaultTimeout(60_000); // a bound, not a wait: the machine may be busy
        return await context.NewPageAsync();
    }

    public async Task<IPage> SignInAsync(string user = AdminUser, string password = AdminPassword)
    {
        var page = await NewPageAsync();
        await page.GotoAsync("/dashboard/login");
        await SubmitSignInAsync(page, user, password);
        await page.WaitForURLAsync("**/dashboard");
        await WaitInteractiveAsync(page);
        return page;
    }

    public static async Task SubmitSignInAsync(IPage page, string user, string password)
    {
        await page.FillAsync("#username", user);
        await page.FillAsync("#password", password);
        await page.ClickAsync("button[type=submit]");
    }

    /// <summary>Opens a dashboard page and waits for its circuit: before that, clicks are lost.</summary>
    public static async Task GotoAsync(IPage page, string path)
    {
        await page.GotoAsync(path);
        await WaitInteractiveAsync(page);
    }

    public static Task WaitInteractiveAsync(IPage page) =>
        page.Locator("[data-testid=interactive]").WaitForAsync(new() { State = WaitForSelectorState.Attached });

    /// <summary>axe-core (e2e/node_modules/axe-core, from npm) on the page as it is: no serious or critical violation.</summary>
    public static async Task AssertAccessibleAsync(IPage page, string what)
    {
        await page.AddScriptTagAsync(new() { Path = Path.Combine(RepoRoot, "e2e", "node_modules", "axe-core", "axe.min.js") });
        var violations = await page.EvaluateAsync<JsonElement>("""
            async () => {
              const r = await axe.run(document, { resultTypes: ['violations'] });
              return r.violations.filter(v => v.impact === 'serious' || v.impact === 'critical')
                .map(v => `${v.impact} ${v.id}: ${v.help} at ${v.nodes.slice(0, 3).map(n => n.target.join(' ') + ' (' + (n.any[0]?.message ?? '') + ')').join(' | ')}`);
            }
            """);
        Assert.True(violations.GetArrayLength() == 0, $"{what}: {violations}");
    }

    /// <summary>docs/screenshots/NAME-desktop.png and NAME-phone.png (390 px wide), the whole page (the sandbox page is longer than a screen).</summary>
    public static async Task ScreenshotAsync(IPage page, string name)
    {
        Directory.CreateDirectory(ScreenshotDir);
        // From the top: a full-page picture of a scrolled page draws the fixed bar and drawer mid-page.
        await page.EvaluateAsync("() => window.scrollTo(0, 0)");
        await page.ScreenshotAsync(new() { Path = Path.Combine(ScreenshotDir, name + "-desktop.png"), FullPage = true });
        var size = page.ViewportSize!;
        await page.SetViewportSizeAsync(390, 844);
        await page.WaitForTimeoutAsync(300); // the responsive layout settles (drawer, table cards)
        await page.ScreenshotAsync(new() { Path = Path.Combine(ScreenshotDir, name + "-phone.png"), FullPage = true });
        await page.SetViewportSizeAsync(size.Width, size.Height);
    }

    /// <summary>Runs e2e/dashboard/sdk.mjs (the real e2b SDK): exit code and output.</summary>
    public Task<(int Exit, string Out, string Err)> SdkAsync(params string[] args) => SdkAtAsync(Host.BaseAddress.ToString().TrimEnd('/'), args);

    /// <summary>The same, with the SDK's API and sandbox URL set to <paramref name="url"/>.</summary>
    public async Task<(int Exit, string Out, string Err)> SdkAtAsync(string url, params string[] args)
    {
        var psi = new ProcessStartInfo("node") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = Path.Combine(RepoRoot, "e2e") };
        psi.ArgumentList.Add(Path.Combine(RepoRoot, "e2e", "dashboard", "sdk.mjs"));
        psi.ArgumentList.Add(args[0]);
        psi.ArgumentList.Add(url);
        foreach (var a in args[1..]) psi.ArgumentList.Add(a);
        psi.Environment.Remove("E2B_DEBUG");
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        try { await p.WaitForExitAsync(timeout.Token); }
        catch (OperationCanceledException) { p.Kill(true); throw new TimeoutException("the SDK script did not finish in 90 s: " + await stderr); }
        return (p.ExitCode, (await stdout).Trim(), (await stderr).Trim());
    }

    public async Task<string> CreateWithSdkAsync(string apiKey, params string[] metadata)
    {
        var (exit, output, error) = await SdkAsync(["create", apiKey, .. metadata]);
        Assert.True(exit == 0, $"SDK create failed ({exit}): {error}");
        return output;
    }
}

[CollectionDefinition(Name)]
public sealed class DashboardBrowserCollection : ICollectionFixture<DashboardBrowserFixture>
{
    public const string Name = "dashboard browser";
}
