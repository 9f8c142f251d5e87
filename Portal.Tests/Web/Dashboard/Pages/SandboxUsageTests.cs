using Bunit;
using Portal.Tests.Api;
using Portal.Web.Dashboard.Components.Pages;
using Portal.Web.Dashboard.Components.Shared;

namespace Portal.Tests.Web.Dashboard.Pages;

public sealed class SandboxUsageTests
{
    [Fact]
    public async Task NewSamples_RenderTheChartsOnly_NotTheWholeSandboxPage()
    {
        await using var t = await DashboardPageContext.StartAsync();
        t.SignInAs(t.Admin);
        var id = (string)(await t.Host.Admin.CreateSandboxAsync())["sandboxID"]!;
        var page = t.Bunit.Render<SandboxDetails>(p => p.Add(x => x.SandboxId, id));
        // The portal samples every 0.5 s in tests; the open page reads the samples every 5 s.
        page.WaitForAssertion(() => Assert.Contains("CPU 12.5% of 2 vCPU", page.Find("[data-testid=cpu-now]").TextContent), TimeSpan.FromSeconds(15));
        var usage = page.FindComponent<SandboxUsage>();
        // bUnit counts a component's renders with its children's; the actions bar renders whenever the
        // page does (it takes the sandbox record) and on nothing else.
        var actions = page.FindComponent<SandboxActions>();
        var (pageRenders, usageRenders) = (actions.RenderCount, usage.RenderCount);
        var shown = usage.Find("[data-testid=cpu-chart]").ParentElement!.TextContent;

        usage.WaitForAssertion(() => Assert.True(usage.RenderCount > usageRenders), TimeSpan.FromSeconds(15));
        Assert.NotEqual(shown, usage.Find("[data-testid=cpu-chart]").ParentElement!.TextContent); // more samples, a later "last at"
        Assert.Equal(pageRenders, actions.RenderCount);
    }

    [Fact]
    public async Task APausedSandbox_HasNoSamplesToShow()
    {
        await using var t = await DashboardPageContext.StartAsync();
        t.SignInAs(t.Admin);
        var id = (string)(await t.Host.Admin.CreateSandboxAsync())["sandboxID"]!;
        var page = t.Bunit.Render<SandboxDetails>(p => p.Add(x => x.SandboxId, id));
        page.WaitForAssertion(() => Assert.NotNull(page.Find("[data-testid=cpu-now]")), TimeSpan.FromSeconds(15));

        Assert.Equal(204, (await t.Host.Admin.PostJsonAsync($"/sandboxes/{id}/pause")).Status);
        page.WaitForAssertion(() => Assert.Contains("No samples yet (paused)", page.Find("[data-testid=no-metrics]").TextContent), TimeSpan.FromSeconds(5));
    }
}
