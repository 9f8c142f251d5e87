using Bunit;
using Portal.Tests.Api;
using Portal.Web.Dashboard.Components.Pages;

namespace Portal.Tests.Web.Dashboard.Pages;

public sealed class OverviewTests
{
    [Fact]
    public async Task Counts_FollowTheChangeStream_PerRole()
    {
        await using var t = await DashboardPageContext.StartAsync();
        var (member, key) = await t.NewTeamAsync("gold");
        await t.Host.Admin.CreateSandboxAsync();
        var paused = (string)(await t.Host.Admin.CreateSandboxAsync())["sandboxID"]!;
        await t.Host.Admin.PostJsonAsync($"/sandboxes/{paused}/pause");
        await t.Host.Client(key).CreateSandboxAsync();

        t.SignInAs(t.Admin);
        var admin = t.Bunit.Render<Overview>();
        admin.WaitForAssertion(() => Assert.Equal("2", admin.Find("[data-testid=count-running]").TextContent));
        Assert.Equal("1", admin.Find("[data-testid=count-paused]").TextContent);

        await t.Host.Client(key).CreateSandboxAsync();
        admin.WaitForAssertion(() => Assert.Equal("3", admin.Find("[data-testid=count-running]").TextContent), TimeSpan.FromSeconds(5));
        Assert.Equal("1", admin.Find("[data-testid=creates-per-minute]").TextContent); // seen since the page opened
        Assert.Contains(admin.FindAll("[data-testid=create-outcome]"), c => c.TextContent.Contains("success: 4"));

        t.SignInAs(member);
        var theirs = t.Bunit.Render<Overview>();
        Assert.Equal("2", theirs.Find("[data-testid=count-running]").TextContent);
        Assert.Equal("0", theirs.Find("[data-testid=count-paused]").TextContent);
        Assert.Empty(theirs.FindAll("[data-testid=create-outcome]")); // the portal-wide figures are for admins
    }
}
