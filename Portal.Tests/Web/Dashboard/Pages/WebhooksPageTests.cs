using Bunit;
using Microsoft.Extensions.DependencyInjection;
using Portal.Core.Sandboxes;
using Portal.Core.Webhooks;
using Portal.Tests.Api;
using Portal.Tests.Webhooks;
using WebhooksPage = Portal.Web.Dashboard.Components.Pages.Webhooks;

namespace Portal.Tests.Web.Dashboard.Pages;

public sealed class WebhooksPageTests
{
    private const string Secret = "page-test-secret";
    private static readonly Dictionary<string, string?> Loopback = new() { ["Portal:Webhooks:AllowPrivateTargets"] = "true" };

    private static WebhookService Hooks(DashboardPageContext t) => t.Host.Services.GetRequiredService<WebhookService>();

    /// <summary>A webhook made through the service (to a closed loopback port: no sandbox events are made, nothing is sent).</summary>
    private static Task<Webhook> AddAsync(DashboardPageContext t, Portal.Core.Auth.Caller owner, string name) =>
        Hooks(t).CreateAsync(owner, new WebhookInput(name, "http://127.0.0.1:9/" + name, true, [SandboxEvents.Created], Secret), CancellationToken.None);

    [Fact]
    public async Task NoWebhooks_ShowsTheEmptyState()
    {
        await using var t = await DashboardPageContext.StartAsync();
        t.SignInAs(t.Admin);
        var page = t.Bunit.Render<WebhooksPage>();
        Assert.NotNull(page.Find("[data-testid=empty]"));
        Assert.Empty(page.FindAll("[data-testid=hook-table]"));
    }

    [Fact]
    public async Task Create_ToALoopbackReceiver_ListsTheDeliveryWithStatusAndLatency()
    {
        await using var receiver = await WebhookReceiver.StartAsync(Secret);
        await using var t = await DashboardPageContext.StartAsync(Loopback);
        t.SignInAs(t.Admin);
        var (_, snackbars) = t.RenderProviders();
        var page = t.Bunit.Render<WebhooksPage>();
        page.Find("[data-testid=hook-name]").Change("ci-hook");
        page.Find("[data-testid=hook-url]").Change(receiver.Url);
        page.Find("[data-testid=hook-secret]").Change(Secret);
        await page.Find("[data-testid=save-hook]").ClickAsync(new());
        snackbars.WaitForAssertion(() => Assert.Contains("Created webhook ci-hook", snackbars.Markup));
        var hook = Assert.Single(await Hooks(t).ListAsync(t.Admin, CancellationToken.None));
        Assert.Equal(receiver.Url, hook.Url);
        Assert.Equal(SandboxEvents.Types.Order(), hook.Events.Order()); // every type unless narrowed
        Assert.DoesNotContain(Secret, page.Markup);

        await page.Find("[data-testid=show-deliveries]").ClickAsync(new());
        Assert.NotNull(page.Find("[data-testid=no-deliveries]"));
        var id = (string)(await t.Host.Admin.CreateSandboxAsync())["sandboxID"]!;
        await receiver.WaitForAsync(r => r.Any(d => d.SandboxId == id), TimeSpan.FromSeconds(30), "the created event");
        // The open list refreshes by itself.
        page.WaitForAssertion(() => Assert.Equal(id, page.Find("[data-testid=delivery-sandbox]").TextContent.Trim()), TimeSpan.FromSeconds(30));
        Assert.Equal("delivered", page.Find("[data-testid=delivery-outcome]").TextContent.Trim());
        Assert.Equal("200", page.Find("[data-testid=delivery-status]").TextContent.Trim());
        Assert.Matches(@"^\d+ ms$", page.Find("[data-testid=delivery-latency]").TextContent.Trim());
    }

    [Fact]
    public async Task LoopbackUrl_IsRefusedByDefault_WithTheGuardsMessage_AndNothingIsCreated()
    {
        await using var t = await DashboardPageContext.StartAsync();
        t.SignInAs(t.Admin);
        var (_, snackbars) = t.RenderProviders();
        var page = t.Bunit.Render<WebhooksPage>();
        page.Find("[data-testid=hook-url]").Change("http://127.0.0.1:9/hook");
        page.Find("[data-testid=hook-secret]").Change(Secret);
        await page.Find("[data-testid=save-hook]").ClickAsync(new());
        snackbars.WaitForAssertion(() => Assert.Contains("127.0.0.1", snackbars.Markup));
        Assert.Empty(await Hooks(t).ListAsync(t.Admin, CancellationToken.None));
        Assert.NotNull(page.Find("[data-testid=empty]"));
    }

    [Fact]
    public async Task MissingSecret_IsRefusedWithTheServiceMessage()
    {
        await using var t = await DashboardPageContext.StartAsync();
        t.SignInAs(t.Admin);
        var (_, snackbars) = t.RenderProviders();
        var page = t.Bunit.Render<WebhooksPage>();
        page.Find("[data-testid=hook-url]").Change("https://hooks.example.com/x");
        await page.Find("[data-testid=save-hook]").ClickAsync(new());
        snackbars.WaitForAssertion(() => Assert.Contains("'signatureSecret' is required", snackbars.Markup));
        Assert.Empty(await Hooks(t).ListAsync(t.Admin, CancellationToken.None));
    }

    [Fact]
    public async Task Disable_Edit_AndDelete_GoThroughTheService()
    {
        await using var t = await DashboardPageContext.StartAsync(Loopback);
        var (member, _) = await t.NewTeamAsync("amber");
        var hook = await AddAsync(t, member, "first");
        t.SignInAs(member);
        var (dialogs, snackbars) = t.RenderProviders();
        var page = t.Bunit.Render<WebhooksPage>();

        page.Find("[data-testid=hook-toggle]").Change(false);
        snackbars.WaitForAssertion(() => Assert.Contains("first disabled", snackbars.Markup));
        Assert.False((await Hooks(t).GetAsync(member, hook.Id, CancellationToken.None)).Enabled);

        await page.Find("[data-testid=edit-hook]").ClickAsync(new());
        Assert.Equal("first", page.Find("[data-testid=hook-name]").GetAttribute("value"));
        page.Find("[data-testid=hook-name]").Change("renamed");
        await page.Find("[data-testid=save-hook]").ClickAsync(new());
        page.WaitForAssertion(() => Assert.Equal("renamed", page.Find("[data-testid=hook-row-name]").TextContent.Trim()));
        var saved = await Hooks(t).GetAsync(member, hook.Id, CancellationToken.None);
        Assert.Equal(("renamed", hook.Url, Secret, false), (saved.Name, saved.Url, saved.SignatureSecret, saved.Enabled)); // an empty secret keeps the old one

        _ = page.Find("[data-testid=delete-hook]").ClickAsync(new()); // completes when the dialog is answered
        dialogs.WaitForAssertion(() => Assert.Contains("Delete 'renamed'?", dialogs.Markup));
        await dialogs.FindAll("button").Single(b => b.TextContent.Trim() == "Delete").ClickAsync(new());
        page.WaitForAssertion(() => Assert.NotNull(page.Find("[data-testid=empty]")));
        Assert.Empty(await Hooks(t).ListAsync(member, CancellationToken.None));
    }

    [Fact]
    public async Task Member_SeesOnlyTheirTeamsWebhooks_AdminSeesAllWithTheirTeam()
    {
        await using var t = await DashboardPageContext.StartAsync(Loopback);
        var (member, _) = await t.NewTeamAsync("olive");
        await AddAsync(t, member, "olive-hook");
        await AddAsync(t, t.Admin, "admin-hook");

        t.SignInAs(member);
        var page = t.Bunit.Render<WebhooksPage>();
        var names = page.FindAll("[data-testid=hook-row-name]").Select(e => e.TextContent.Trim()).ToList();
        Assert.Equal(["olive-hook"], names);
        Assert.DoesNotContain(">Team<", page.Markup);

        t.SignInAs(t.Admin);
        var adminPage = t.Bunit.Render<WebhooksPage>();
        Assert.Equal(["admin-hook", "olive-hook"], adminPage.FindAll("[data-testid=hook-row-name]").Select(e => e.TextContent.Trim()).Order());
        Assert.Contains(">Team<", adminPage.Markup);
        Assert.Contains("olive", adminPage.Find("[data-testid=hook-table]").TextContent);
    }

    [Fact]
    public async Task DeliveriesOfAWebhookDeletedMeanwhile_ShowAnError()
    {
        await using var t = await DashboardPageContext.StartAsync(Loopback);
        t.SignInAs(t.Admin);
        var hook = await AddAsync(t, t.Admin, "gone");
        var page = t.Bunit.Render<WebhooksPage>();
        await Hooks(t).DeleteAsync(t.Admin, hook.Id, CancellationToken.None); // another tab, or the API
        await page.Find("[data-testid=show-deliveries]").ClickAsync(new());
        Assert.Contains("not found", page.Find("[data-testid=deliveries-error]").TextContent);
    }
}
