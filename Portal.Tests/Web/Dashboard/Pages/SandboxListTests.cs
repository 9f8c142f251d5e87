using Bunit;
using Portal.Tests.Api;
using Portal.Web.Dashboard.Components.Pages;

namespace Portal.Tests.Web.Dashboard.Pages;

public sealed class SandboxListTests
{
    [Fact]
    public async Task NoSandboxes_ShowsTheEmptyState()
    {
        await using var t = await DashboardPageContext.StartAsync();
        t.SignInAs(t.Admin);
        var page = t.Bunit.Render<SandboxList>();
        page.WaitForAssertion(() => Assert.NotNull(page.Find("[data-testid=empty]")));
    }

    [Fact]
    public async Task CreatedThroughTheApi_AppearsWithoutRerender_AndKilledDisappears()
    {
        await using var t = await DashboardPageContext.StartAsync();
        t.SignInAs(t.Admin);
        var page = t.Bunit.Render<SandboxList>();
        var id = (string)(await t.Host.Admin.CreateSandboxAsync("""{"templateID":"base","metadata":{"owner":"bunit"}}"""))["sandboxID"]!;
        page.WaitForAssertion(() => Assert.Contains(id, page.Find("[data-testid=sandbox-grid]").TextContent), TimeSpan.FromSeconds(5));
        Assert.Contains("owner=bunit", page.Markup);
        await t.Host.Admin.DeleteJsonAsync($"/sandboxes/{id}");
        page.WaitForAssertion(() => Assert.NotNull(page.Find("[data-testid=empty]")), TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task Member_SeesOnlyTheirTeam_AndNoTeamFilter()
    {
        await using var t = await DashboardPageContext.StartAsync();
        var (member, key) = await t.NewTeamAsync("red");
        var theirs = (string)(await t.Host.Client(key).CreateSandboxAsync())["sandboxID"]!;
        var others = (string)(await t.Host.Admin.CreateSandboxAsync())["sandboxID"]!;
        t.SignInAs(member);
        var page = t.Bunit.Render<SandboxList>();
        page.WaitForAssertion(() => Assert.Contains(theirs, page.Markup));
        Assert.DoesNotContain(others, page.Markup);
        Assert.Empty(page.FindAll("[data-testid=team-filter]"));
    }

    [Fact]
    public async Task Kill_AsksFirst_ThenKillsThroughTheService()
    {
        await using var t = await DashboardPageContext.StartAsync();
        t.SignInAs(t.Admin);
        var (dialogs, _) = t.RenderProviders();
        var id = (string)(await t.Host.Admin.CreateSandboxAsync())["sandboxID"]!;
        var page = t.Bunit.Render<SandboxList>();
        page.WaitForAssertion(() => Assert.Contains(id, page.Markup));

        _ = page.Find("[data-testid=kill]").ClickAsync(new()); // completes when the dialog is answered
        dialogs.WaitForAssertion(() => Assert.Contains("Kill it?", dialogs.Markup));
        Assert.Equal(200, (await t.Host.Admin.GetJsonAsync($"/sandboxes/{id}")).Status); // nothing before the answer
        await dialogs.FindAll("button").Single(b => b.TextContent.Trim() == "Kill").ClickAsync(new());
        page.WaitForAssertion(() => Assert.DoesNotContain(id, page.Markup), TimeSpan.FromSeconds(5));
        Assert.Equal(404, (await t.Host.Admin.GetJsonAsync($"/sandboxes/{id}")).Status);
    }

    [Fact]
    public async Task BulkKill_KillsEverySelectedSandbox_AfterOneConfirmation()
    {
        await using var t = await DashboardPageContext.StartAsync();
        t.SignInAs(t.Admin);
        var (dialogs, _) = t.RenderProviders();
        var ids = new List<string>();
        for (var i = 0; i < 3; i++) ids.Add((string)(await t.Host.Admin.CreateSandboxAsync())["sandboxID"]!);
        var page = t.Bunit.Render<SandboxList>();
        page.WaitForAssertion(() => Assert.All(ids, id => Assert.Contains(id, page.Markup)));
        Assert.True(page.Find("[data-testid=bulk-kill]").HasAttribute("disabled"));

        page.Find("thead input[type=checkbox]").Change(true); // select all
        page.WaitForAssertion(() => Assert.Contains("Kill selected (3)", page.Find("[data-testid=bulk-kill]").TextContent));
        _ = page.Find("[data-testid=bulk-kill]").ClickAsync(new()); // completes when the dialog is answered
        dialogs.WaitForAssertion(() => Assert.Contains("Kill 3 sandbox(es)?", dialogs.Markup));
        await dialogs.FindAll("button").Single(b => b.TextContent.Trim() == "Kill").ClickAsync(new());
        page.WaitForAssertion(() => Assert.NotNull(page.Find("[data-testid=empty]")), TimeSpan.FromSeconds(5));
        foreach (var id in ids) Assert.Equal(404, (await t.Host.Admin.GetJsonAsync($"/sandboxes/{id}")).Status);
    }

    [Fact]
    public async Task TenThousandSandboxes_RenderOnlyTheVisibleRows()
    {
        await using var t = await DashboardPageContext.StartAsync();
        t.SignInAs(t.Admin);
        var page = t.Bunit.Render<SandboxList>();
        // Straight into the change stream (10,000 creates through the API would only slow the test).
        var team = t.Keys.AdminTeam!.TeamId;
        for (var i = 0; i < 10_000; i++)
            t.Sandboxes.Changes.Publish(new Portal.Core.Sandboxes.SandboxRecord
            {
                SandboxId = $"bulk{i:D5}", TeamId = team, TemplateId = "base", ClientId = "c", Status = Portal.Core.Sandboxes.SandboxStatus.Running,
                CreatedAt = DateTimeOffset.UtcNow, StartedAt = DateTimeOffset.UtcNow, EndAt = DateTimeOffset.UtcNow.AddHours(1),
            }, Portal.Core.Sandboxes.SandboxChangeCause.Created);
        page.WaitForAssertion(() => Assert.Equal("10000 of 10000 shown", page.Find("[data-testid=shown-count]").TextContent.Trim()), TimeSpan.FromSeconds(10));
        Assert.InRange(page.FindAll("[data-testid=sandbox-link]").Count, 1, 200);
    }

    [Fact]
    public async Task ActionThatFails_ShowsTheServiceErrorInASnackbar()
    {
        await using var t = await DashboardPageContext.StartAsync();
        t.SignInAs(t.Admin);
        var (dialogs, snackbars) = t.RenderProviders();
        var id = (string)(await t.Host.Admin.CreateSandboxAsync())["sandboxID"]!;
        var page = t.Bunit.Render<SandboxList>();
        page.WaitForAssertion(() => Assert.Contains(id, page.Markup));
        // The runtime fails the pause: the page says why and the row stays running.
        t.Host.Runtime.Vanish(id);
        _ = page.Find("[data-testid=pause]").ClickAsync(new()); // completes when the dialog is answered
        dialogs.WaitForAssertion(() => Assert.Contains("Pause it?", dialogs.Markup));
        await dialogs.FindAll("button").Single(b => b.TextContent.Trim() == "Pause").ClickAsync(new());
        snackbars.WaitForAssertion(() => Assert.Contains("mud-alert-filled-error", snackbars.Markup), TimeSpan.FromSeconds(5));
    }
}
