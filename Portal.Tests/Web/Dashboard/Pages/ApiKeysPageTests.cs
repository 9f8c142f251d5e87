using Bunit;
using Portal.Tests.Api;
using Portal.Web.Dashboard.Components.Pages;

namespace Portal.Tests.Web.Dashboard.Pages;

public sealed class ApiKeysPageTests
{
    [Fact]
    public async Task Create_ShowsTheSecretOnce_AndTheKeyWorks()
    {
        await using var t = await DashboardPageContext.StartAsync();
        t.SignInAs(t.Admin);
        var page = t.Bunit.Render<ApiKeys>();
        page.Find("[data-testid=key-name]").Change("ci");
        await page.Find("[data-testid=create-key] ").ClickAsync(new());
        var secret = page.Find("[data-testid=new-key-secret]").TextContent.Trim();
        Assert.Matches("^e2b_[0-9a-f]{40}$", secret);
        Assert.Contains("ci", page.Find("[data-testid=key-table]").TextContent);
        Assert.Equal(200, (await t.Host.Client(secret).GetJsonAsync("/v2/sandboxes")).Status);

        // Rendered again (a reload): the secret is gone, only its mask remains.
        var again = t.Bunit.Render<ApiKeys>();
        Assert.DoesNotContain(secret, again.Markup);
        Assert.Contains("e2b_…" + secret[^4..], again.Markup);
    }

    [Fact]
    public async Task Member_SeesOnlyTheirTeamsKeys_AndCannotPickATeam()
    {
        await using var t = await DashboardPageContext.StartAsync();
        var (member, _) = await t.NewTeamAsync("green");
        t.SignInAs(member);
        var page = t.Bunit.Render<ApiKeys>();
        Assert.Contains("green-key", page.Markup);
        Assert.DoesNotContain("admin (bootstrap)", page.Markup);
        Assert.DoesNotContain(">Team<", page.Markup);
    }

    [Fact]
    public async Task EmptyName_IsRefusedWithTheServiceMessage()
    {
        await using var t = await DashboardPageContext.StartAsync();
        t.SignInAs(t.Admin);
        var (_, snackbars) = t.RenderProviders();
        var page = t.Bunit.Render<ApiKeys>();
        await page.Find("[data-testid=create-key]").ClickAsync(new());
        snackbars.WaitForAssertion(() => Assert.Contains("'name' is required", snackbars.Markup));
        Assert.Empty(page.FindAll("[data-testid=new-key-secret]"));
    }

    [Fact]
    public async Task Revoke_AsksFirst_ThenTheKeyIsRefused()
    {
        await using var t = await DashboardPageContext.StartAsync();
        var (member, key) = await t.NewTeamAsync("teal");
        t.SignInAs(member);
        var (dialogs, _) = t.RenderProviders();
        var page = t.Bunit.Render<ApiKeys>();
        _ = page.Find("[data-testid=revoke]").ClickAsync(new()); // completes when the dialog is answered
        dialogs.WaitForAssertion(() => Assert.Contains("Revoke 'teal-key'?", dialogs.Markup));
        await dialogs.FindAll("button").Single(b => b.TextContent.Trim() == "Revoke").ClickAsync(new());
        page.WaitForAssertion(() => Assert.NotNull(page.Find("[data-testid=empty]")));
        Http.AssertError(await t.Host.Client(key).GetJsonAsync("/v2/sandboxes"), 401, "revoked");
    }
}
