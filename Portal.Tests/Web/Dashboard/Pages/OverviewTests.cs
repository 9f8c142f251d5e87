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

    [Fact]
    public async Task CreatesChart_CountsTheCallersCreates_AndAdminsSeeFailures()
    {
        await using var t = await DashboardPageContext.StartAsync();
        var (member, key) = await t.NewTeamAsync("teal");
        for (var i = 0; i < 3; i++) await t.Host.Admin.CreateSandboxAsync();
        for (var i = 0; i < 2; i++) await t.Host.Client(key).CreateSandboxAsync();
        t.Host.Runtime.FailCreatesWith = new Portal.Core.Runtime.RuntimeCapacityException("limit of 0 sandboxes reached");
        Assert.Equal(429, (await t.Host.Admin.PostJsonAsync("/sandboxes", """{"templateID":"base"}""")).Status);
        t.Host.Runtime.FailCreatesWith = null;

        t.SignInAs(t.Admin);
        var admin = t.Bunit.Render<Overview>();
        admin.WaitForAssertion(() => Assert.Equal("5 created, 1 failed in the last 30 minutes", admin.Find("[data-testid=creates-total]").TextContent.Trim()));
        Assert.Contains("data-testid=\"creates-chart\"", admin.Markup);
        Assert.Contains("Failed", admin.Markup); // the failures series' legend

        t.SignInAs(member);
        var theirs = t.Bunit.Render<Overview>();
        theirs.WaitForAssertion(() => Assert.Equal("2 created in the last 30 minutes", theirs.Find("[data-testid=creates-total]").TextContent.Trim()));
        Assert.DoesNotContain("failed", theirs.Find("[data-testid=creates-total]").TextContent);
    }

    [Fact]
    public async Task WarmPools_ShowTheirFill_OrSayThereAreNone()
    {
        var runtime = new FakeSandboxRuntime();
        await using var t = await DashboardPageContext.StartAsync(runtime: runtime);
        t.SignInAs(t.Admin);
        var none = t.Bunit.Render<Overview>();
        Assert.NotNull(none.Find("[data-testid=no-warm-pools]"));

        runtime.WarmPools.Add(new Portal.Core.Runtime.WarmPoolFill("base", 1, 3));
        runtime.WarmPools.Add(new Portal.Core.Runtime.WarmPoolFill("python", 2, 2));
        var page = t.Bunit.Render<Overview>();
        Assert.Equal(["base: 1 of 3 ready", "python: 2 of 2 ready"], page.FindAll("[data-testid=warm-pool]").Select(e => e.TextContent.Trim()));
    }
}
