using Bunit;
using Portal.Tests.Api;
using Portal.Web.Dashboard.Components.Pages;

namespace Portal.Tests.Web.Dashboard.Pages;

public sealed class SandboxDetailsTests
{
    [Fact]
    public async Task ShowsMetadataAndTheLifecycleTimeline_LiveAsItChanges()
    {
        await using var t = await DashboardPageContext.StartAsync();
        t.SignInAs(t.Admin);
        var id = (string)(await t.Host.Admin.CreateSandboxAsync("""{"templateID":"base","metadata":{"stage":"test"}}"""))["sandboxID"]!;
        var page = t.Bunit.Render<SandboxDetails>(p => p.Add(x => x.SandboxId, id));
        page.WaitForAssertion(() => Assert.Contains("stage=test", page.Markup));
        Assert.Equal("running", page.Find("[data-testid=state]").TextContent.Trim());
        Assert.NotEmpty(page.FindAll("[data-testid=timeline]"));
        // The fake runtime has no envd behind the sandbox: the terminal says so instead of failing the page.
        page.WaitForAssertion(() => Assert.Contains("could not reach the sandbox", page.Find("[data-testid=terminal-status]").TextContent));

        Assert.Equal(204, (await t.Host.Admin.PostJsonAsync($"/sandboxes/{id}/pause")).Status);
        page.WaitForAssertion(() => Assert.Equal("paused", page.Find("[data-testid=state]").TextContent.Trim()), TimeSpan.FromSeconds(5));
        page.WaitForAssertion(() => Assert.Contains(page.FindAll("[data-testid=timeline]"), e => e.TextContent.Contains("paused")));
        Assert.NotNull(page.Find("[data-testid=terminal-unavailable]"));
    }

    [Fact]
    public async Task AnotherTeamsSandbox_IsNotFound()
    {
        await using var t = await DashboardPageContext.StartAsync();
        var (member, _) = await t.NewTeamAsync("navy");
        var id = (string)(await t.Host.Admin.CreateSandboxAsync())["sandboxID"]!;
        t.SignInAs(member);
        var page = t.Bunit.Render<SandboxDetails>(p => p.Add(x => x.SandboxId, id));
        page.WaitForAssertion(() => Assert.NotNull(page.Find("[data-testid=not-found]")));
        Assert.DoesNotContain("Lifecycle", page.Markup);
    }
}
