using Portal.Core.Auth;
using Portal.Core.Persistence;
using Portal.Core.Sandboxes;
using Portal.Core.Webhooks;

namespace Portal.Tests.Webhooks;

/// <summary>The outbox is written by the sandbox save itself: with the event, or not at all.</summary>
public sealed class WebhookOutboxTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("portal-outbox-").FullName;
    private static CancellationToken Ct => TestContext.Current.CancellationToken;
    private static readonly DateTimeOffset Now = DateTimeOffset.FromUnixTimeMilliseconds(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());

    private static Webhook Hook(string id, string team, bool enabled = true, params string[] events) => new()
    {
        Id = id, TeamId = team, Name = id, Url = "http://192.0.2.1/", Enabled = enabled,
        Events = events.Length > 0 ? events : [SandboxEvents.Created, SandboxEvents.Killed], SignatureSecret = "12345678", CreatedAt = Now,
    };

    private static SandboxRecord Rec(string id, string team, long version, SandboxStatus status) => new()
    {
        Version = version, SandboxId = id, TeamId = team, TemplateId = "base", ClientId = "c", Status = status,
        CreatedAt = Now, StartedAt = Now, EndAt = Now.AddMinutes(5),
    };

    private static SandboxLogEntry WithEvent(SandboxRecord r, string type) =>
        new(r.SandboxId, Now, "info", type, new Dictionary<string, string>()) { Event = SandboxEvents.Make(type, r, Now) };

    [Fact]
    public async Task AnEvent_WritesOneDeliveryPerMatchingWebhook_InTheSameSave()
    {
        using var store = EfPortalStore.Sqlite(Path.Combine(_dir, "portal.db"));
        await store.InitializeAsync(Ct);
        foreach (var t in new[] { "team1", "team2" }) await store.AddTeamAsync(new Team { TeamId = t, Name = t, CreatedAt = Now }, Ct);
        await store.AddWebhookAsync(Hook("h-all", "team1"), Ct);
        await store.AddWebhookAsync(Hook("h-off", "team1", enabled: false), Ct);
        await store.AddWebhookAsync(Hook("h-paused-only", "team1", true, SandboxEvents.Paused), Ct);
        await store.AddWebhookAsync(Hook("h-other-team", "team2"), Ct);

        var creating = Rec("sbx1", "team1", 1, SandboxStatus.Creating);
        await store.SaveSandboxAsync(creating, null, Ct);
        var running = creating with { Version = 2, Status = SandboxStatus.Running };
        var created = WithEvent(running, SandboxEvents.Created);
        await store.SaveSandboxAsync(running, created, Ct);

        var outbox = await store.ListWebhookOutboxAsync(0, 100, Ct);
        var d = Assert.Single(outbox);
        Assert.Equal(("h-all", created.Event!.Id, "sbx1", created.Event.Json, 0), (d.WebhookId, d.EventId, d.SandboxId, d.EventJson, d.Attempts));

        // A stale save writes nothing: no event, no delivery.
        var stale = running with { Status = SandboxStatus.Killed };
        await Assert.ThrowsAsync<StaleSandboxWriteException>(() => store.SaveSandboxAsync(stale, WithEvent(stale, SandboxEvents.Killed), Ct));
        Assert.Single(await store.ListWebhookOutboxAsync(0, 100, Ct));

        // Group commit: saves committed together each bring their deliveries, in commit order.
        var ids = Enumerable.Range(0, 20).Select(i => $"g{i:00}").ToList();
        await Task.WhenAll(ids.Select(async id =>
        {
            var r = Rec(id, "team1", 1, SandboxStatus.Creating);
            await store.SaveSandboxAsync(r, null, Ct);
            var up = r with { Version = 2, Status = SandboxStatus.Running };
            await store.SaveSandboxAsync(up, WithEvent(up, SandboxEvents.Created), Ct);
            var dead = up with { Version = 3, Status = SandboxStatus.Killed };
            await store.SaveSandboxAsync(dead, WithEvent(dead, SandboxEvents.Killed), Ct);
        }));
        var all = await store.ListWebhookOutboxAsync(d.Id, 1000, Ct);
        Assert.Equal(40, all.Count);
        foreach (var id in ids)
            Assert.Equal(["created", "killed"], all.Where(x => x.SandboxId == id).Select(x => x.EventJson.Contains("lifecycle.created") ? "created" : "killed"));

        // Disabling drops the webhook's undelivered events; deleting takes the rest.
        await store.UpdateWebhookAsync(Hook("h-all", "team1", enabled: false), Ct);
        Assert.Empty(await store.ListWebhookOutboxAsync(0, 1000, Ct));
        Assert.True(await store.DeleteWebhookAsync("h-all", Ct));
        Assert.False(await store.DeleteWebhookAsync("h-all", Ct));
    }

    [Fact]
    public async Task Attempts_RescheduleOrRemove_AndTheLogKeepsTheNewest()
    {
        using var store = EfPortalStore.Sqlite(Path.Combine(_dir, "portal.db"));
        await store.InitializeAsync(Ct);
        await store.AddTeamAsync(new Team { TeamId = "team1", Name = "t", CreatedAt = Now }, Ct);
        await store.AddWebhookAsync(Hook("h", "team1"), Ct);
        var r = Rec("sbx1", "team1", 1, SandboxStatus.Creating);
        await store.SaveSandboxAsync(r, null, Ct);
        var up = r with { Version = 2, Status = SandboxStatus.Running };
        await store.SaveSandboxAsync(up, WithEvent(up, SandboxEvents.Created), Ct);
        var d = Assert.Single(await store.ListWebhookOutboxAsync(0, 10, Ct));

        WebhookAttempt A(int n, WebhookDeliveryOutcome o) => new()
        {
            OutboxId = d.Id, WebhookId = "h", EventId = d.EventId, SandboxId = "sbx1", DeliveryId = Guid.NewGuid().ToString(),
            Attempt = n, At = Now, Outcome = o, StatusCode = 503, LatencyMs = 1, Error = "503", NextAttemptAt = Now.AddSeconds(n),
        };
        await store.RecordWebhookAttemptsAsync([.. Enumerable.Range(1, 5).Select(n => A(n, WebhookDeliveryOutcome.Failed))], keepPerWebhook: 3, Ct);
        var rescheduled = Assert.Single(await store.ListWebhookOutboxAsync(0, 10, Ct));
        Assert.Equal((5, Now.AddSeconds(5)), (rescheduled.Attempts, rescheduled.NextAttemptAt));
        Assert.Equal([5, 4, 3], (await store.ListWebhookAttemptsAsync("h", 100, Ct)).Select(a => a.Attempt));

        await store.RecordWebhookAttemptsAsync([A(6, WebhookDeliveryOutcome.Delivered) with { StatusCode = 200, Error = null, NextAttemptAt = null }], 3, Ct);
        Assert.Empty(await store.ListWebhookOutboxAsync(0, 10, Ct));
        var log = await store.ListWebhookAttemptsAsync("h", 100, Ct);
        Assert.Equal([6, 5, 4], log.Select(a => a.Attempt));
        Assert.Equal((WebhookDeliveryOutcome.Delivered, (int?)200), (log[0].Outcome, log[0].StatusCode));
    }

    public void Dispose() => Directory.Delete(_dir, true);
}
