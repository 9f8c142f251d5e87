using Bunit;
using Portal.Web.Dashboard.Components.Pages;

namespace Portal.Tests.Web.Dashboard.Pages;

public sealed class UsersPageTests
{
    [Fact]
    public async Task Member_SeesTheirTeamsAccounts_AndNoCreateForms()
    {
        await using var t = await DashboardPageContext.StartAsync();
        var (member, _) = await t.NewTeamAsync("plum");
        t.SignInAs(member);
        var page = t.Bunit.Render<Users>();
        Assert.NotNull(page.Find("[data-testid=member-note]"));
        Assert.Empty(page.FindAll("[data-testid=create-user]"));
        Assert.DoesNotContain(">admin<", page.Find("[data-testid=user-table]").InnerHtml); // the admin account is another team's
    }

    [Fact]
    public async Task Admin_CreatesAUser_AndASignInWithItWorks()
    {
        await using var t = await DashboardPageContext.StartAsync();
        t.SignInAs(t.Admin);
        t.RenderProviders();
        var page = t.Bunit.Render<Users>();
        page.Find("[data-testid=user-name]").Change("carol");
        page.Find("[data-testid=user-password]").Change("carol-password-1");
        await page.Find("[data-testid=create-user]").ClickAsync(new());
        page.WaitForAssertion(() => Assert.Contains("carol", page.Find("[data-testid=user-table]").TextContent));
        var (status, _) = await Portal.Tests.Web.Auth.CookieSignInTests.SignInAsync(t.Host, "carol", "carol-password-1");
        Assert.Equal(302, status);
    }

    [Fact]
    public async Task ShortPassword_IsRefusedWithIdentitysMessage()
    {
        await using var t = await DashboardPageContext.StartAsync();
        t.SignInAs(t.Admin);
        var (_, snackbars) = t.RenderProviders();
        var page = t.Bunit.Render<Users>();
        page.Find("[data-testid=user-name]").Change("dave");
        page.Find("[data-testid=user-password]").Change("short");
        await page.Find("[data-testid=create-user]").ClickAsync(new());
        snackbars.WaitForAssertion(() => Assert.Contains("at least 10 characters", snackbars.Markup));
        Assert.DoesNotContain("dave", page.Find("[data-testid=user-table]").TextContent);
    }
}
