using Microsoft.Extensions.Time.Testing;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Portal.Core.Persistence;
using Portal.Core.Webhooks;
using Portal.Tests.Api;
using static Portal.Tests.Api.Http;

namespace Portal.Tests.Webhooks;

/// <summary>
/// Deliveries from the in-process portal to a receiver on 127.0.0.1: signed, in order per sandbox,
/// retried while the receiver fails or is down, given up (and recorded) past the window, and never
/// to a private address unless allowed.
/// </summary>
public class WebhookDeliveryTests
{
    private const string Secret = "whsec-delivery-test";
    private static readonly string[] Lifecycle = ["sandbox.lifecycle.created", "sandbox.lifecycle.paused", "sandbox.lifecycle.resumed", "sandbox.lifecycle.killed"];

    private static Task<PortalHost> StartAsync(TimeProvider? clock = null, params (string Key, string Value)[] settings)
    {
        var config = new Dictionary<string, string?>
        {
            ["Portal:Webhooks:AllowPrivateTargets"] = "true", // the receiver is on loopback
            ["Portal:Webhooks:PollInterval"] = "00:00:00.050",
        };
        foreach (var (k, v) in settings) config[k] = v;
        return PortalHost.StartAsync(config: config, clock: clock);
    }

    private static async Task<string> CreateWebhookAsync(HttpClient c, string url, IEnumerable<string>? events = null, bool enabled = true)
    {
        var body = new JsonObject
        {
            ["name"] = "test", ["url"] = url, ["enabled"] = enabled, ["signatureSecret"] = Secret,
            ["events"] = new JsonArray((events ?? Lifecycle).Select(e => (JsonNode?)e).ToArray()),
        };
        var (status, hook) = await c.PostJsonAsync("/events/webhooks", body.ToJsonString());
        Assert.True(status == 201, hook?.ToJsonString());
        return (string)hook!["id"]!;
    }

    /// <summary>create, setTimeout (not subscribed), pause, resume (connect), kill.</summary>
    private static async Task<string> LifecycleAsync(HttpClient c)
    {
        var id = (string)(await c.CreateSandboxAsync())["sandboxID"]!;
        Assert.Equal(204, (await c.PostJsonAsync($"/sandboxes/{id}/timeout", """{"timeout":900}""")).Status);
        Assert.Equal(204, (await c.PostJsonAsync($"/sandboxes/{id}/pause")).Status);
        Assert.Equal(201, (await c.PostJsonAsync($"/v2/sandboxes/{id}/connect", """{"timeout":60}""")).Status);
        Assert.Equal(204, (await c.DeleteJsonAsync($"/sandboxes/{id}")).Status);
        return id;
    }

    private static string[] Short(IEnumerable<WebhookReceiver.Delivery> ds) => ds.Select(d => d.Type["sandbox.lifecycle.".Length..]).ToArray();

    private static async Task<JsonArray> DeliveryLogAsync(HttpClient c, string hookId)
    {
        var (status, body) = await c.GetJsonAsync($"/events/webhooks/{hookId}/deliveries?limit=1000");
        Assert.Equal(200, status);
        return body!.AsArray();
    }

    [Fact]
    public async Task Deliveries_AreSigned_ExactlyTheEventsJson_InOrderPerSandbox()
    {
        await using var receiver = await WebhookReceiver.StartAsync(Secret);
        await using var host = await StartAsync();
        var hookId = await CreateWebhookAsync(host.Admin, receiver.Url);
        var ids = await Task.WhenAll(Enumerable.Range(0, 3).Select(_ => LifecycleAsync(host.Admin)));

        await receiver.WaitForAsync(r => r.Count >= 12, TimeSpan.FromSeconds(30), "12 deliveries");
        var got = receiver.Received.ToArray();
        Assert.Equal(12, got.Length);
        Assert.All(got, d =>
        {
            Assert.True(d.SignatureValid, $"bad signature {d.Signature}");
            Assert.Equal("v1", d.SignatureVersion);
            Assert.Equal(hookId, d.WebhookId);
        });
        Assert.Equal(12, got.Select(d => d.DeliveryId).Distinct().Count());
        foreach (var id in ids)
        {
            var mine = got.Where(d => d.SandboxId == id).ToList();
            Assert.Equal(["created", "paused", "resumed", "killed"], Short(mine));
            // Byte for byte what the events API returns for the same events (updated was not subscribed).
            var (_, events) = await host.Admin.GetJsonAsync($"/events/sandboxes/{id}?orderAsc=true&types=" + string.Join("&types=", Lifecycle));
            Assert.Equal(events!.AsArray().Select(e => e!.ToJsonString()), mine.Select(d => d.Body));
        }
        var log = await DeliveryLogAsync(host.Admin, hookId);
        Assert.Equal(12, log.Count);
        Assert.All(log, a => Assert.Equal(("delivered", 200), ((string)a!["outcome"]!, (int)a["statusCode"]!)));
        Assert.Equal(got.Select(d => d.DeliveryId).Order(), log.Select(a => (string)a!["deliveryID"]!).Order());
    }

    [Fact]
    public async Task AFailingSandbox_HoldsBackOnlyItsOwnEvents_RetriedWithBackoff_ThenAllArriveInOrder()
    {
        await using var receiver = await WebhookReceiver.StartAsync(Secret);
        await using var host = await StartAsync(null, ("Portal:Webhooks:RetryInitialDelay", "00:00:00.100"), ("Portal:Webhooks:RetryMaxDelay", "00:00:00.800"));
        var hookId = await CreateWebhookAsync(host.Admin, receiver.Url);
        // The receiver fails every event of the sandbox marked by its metadata, until released.
        var release = false;
        receiver.Answer = d => d.Body.Contains("\"fail\":\"yes\"") && !Volatile.Read(ref release) ? 503 : 200;
        var failing = (string)(await host.Admin.CreateSandboxAsync("""{"templateID":"base","metadata":{"fail":"yes"}}"""))["sandboxID"]!;
        Assert.Equal(204, (await host.Admin.PostJsonAsync($"/sandboxes/{failing}/pause")).Status);
        Assert.Equal(201, (await host.Admin.PostJsonAsync($"/v2/sandboxes/{failing}/connect", """{"timeout":60}""")).Status);
        Assert.Equal(204, (await host.Admin.DeleteJsonAsync($"/sandboxes/{failing}")).Status);
        var healthy = await LifecycleAsync(host.Admin);

        await receiver.WaitForAsync(r => r.Count(d => d.SandboxId == healthy) == 4, TimeSpan.FromSeconds(30), "the healthy sandbox's events");
        // Several attempts with growing gaps (100 ms doubling to 800 ms, ±20%), only ever at the failing sandbox's first event.
        var until = DateTime.UtcNow.AddSeconds(30);
        while (receiver.Attempts.Count(d => d.SandboxId == failing) < 6 && DateTime.UtcNow < until) await Task.Delay(50, Ct);
        var tries = receiver.Attempts.Where(d => d.SandboxId == failing).ToList();
        Assert.True(tries.Count >= 6, $"only {tries.Count} attempts");
        Assert.All(tries, t => Assert.Equal("sandbox.lifecycle.created", t.Type));
        Assert.Single(tries.Select(t => t.EventId).Distinct());
        Assert.Equal(tries.Count, tries.Select(t => t.DeliveryId).Distinct().Count()); // unique per attempt
        Assert.DoesNotContain(receiver.Received, d => d.SandboxId == failing);

        var failed = (await DeliveryLogAsync(host.Admin, hookId)).Where(a => (string)a!["outcome"]! == "failed").OrderBy(a => (int)a!["attempt"]!).ToList();
        Assert.True(failed.Count >= 5);
        // The waits the dispatcher chose: 100 ms doubling to the 800 ms cap, each ±20%.
        var waits = failed.Select(a => (DateTimeOffset.Parse((string)a!["nextAttemptAt"]!) - DateTimeOffset.Parse((string)a["timestamp"]!)).TotalMilliseconds).ToList();
        double[] nominal = [100, 200, 400, 800, 800];
        for (var i = 0; i < 5; i++)
            Assert.True(waits[i] >= nominal[i] * 0.8 - 1 && waits[i] <= nominal[i] * 1.2 + 1, $"waits {string.Join(", ", waits.Select(w => $"{w:0}"))} ms");
        Assert.All(failed, a =>
        {
            Assert.Equal(503, (int)a!["statusCode"]!);
            Assert.Contains("503", (string)a["error"]!);
            Assert.NotNull(a["nextAttemptAt"]);
        });

        Volatile.Write(ref release, true);
        await receiver.WaitForAsync(r => r.Count(d => d.SandboxId == failing) == 4, TimeSpan.FromSeconds(30), "the failing sandbox's events once the receiver recovers");
        Assert.Equal(["created", "paused", "resumed", "killed"], Short(receiver.Received.Where(d => d.SandboxId == failing)));
        Assert.Equal(8, receiver.Received.Count);
    }

    [Fact]
    public async Task ReceiverDownForMinutes_EverythingDeliveredAfterwards()
    {
        // A fake clock stands in for the minutes: the default schedule (1 s doubling to 5 min).
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var receiver = await WebhookReceiver.StartAsync(Secret);
        await using var host = await StartAsync(clock);
        var hookId = await CreateWebhookAsync(host.Admin, receiver.Url);
        await receiver.StopAsync(); // connections refused from here on

        var ids = new[] { await LifecycleAsync(host.Admin), await LifecycleAsync(host.Admin) };
        async Task<int> FailedAsync() => (await DeliveryLogAsync(host.Admin, hookId)).Count(a => (string)a!["outcome"]! == "failed");
        var until = DateTime.UtcNow.AddSeconds(30);
        while (await FailedAsync() < 2 && DateTime.UtcNow < until) await Task.Delay(50, Ct);
        // At least three minutes down, in 10 s steps (each lets due retries run), until each
        // sandbox's first event has been tried six times (bounded: an hour of fake time).
        JsonArray log = [];
        for (var t = 0; t < 3600; t += 10)
        {
            clock.Advance(TimeSpan.FromSeconds(10));
            await Task.Delay(150, Ct);
            if (t < 180) continue;
            log = await DeliveryLogAsync(host.Admin, hookId);
            if (log.GroupBy(a => (string)a!["eventID"]!).Count(g => g.Count() >= 6) == 2) break;
        }
        Assert.All(log, a => Assert.Equal("failed", (string)a!["outcome"]!));
        var perEvent = log.GroupBy(a => (string)a!["eventID"]!).ToList();
        Assert.Equal(2, perEvent.Count); // only each sandbox's first event was tried: the rest wait behind it
        Assert.All(perEvent, g => Assert.True(g.Count() >= 6, $"{g.Count()} attempts"));
        Assert.All(log, a => Assert.Contains("refused", (string)a!["error"]!, StringComparison.OrdinalIgnoreCase));
        // Waits grow: the newest attempt's next attempt is further off than the first one's was.
        var first = perEvent[0].OrderBy(a => (int)a!["attempt"]!).ToList();
        TimeSpan Wait(JsonNode a) => DateTimeOffset.Parse((string)a["nextAttemptAt"]!) - DateTimeOffset.Parse((string)a["timestamp"]!);
        Assert.True(Wait(first[^1]!) > Wait(first[0]!) * 8, $"{Wait(first[0]!)} then {Wait(first[^1]!)}");

        await receiver.StartAsync(receiver.Port);
        clock.Advance(TimeSpan.FromMinutes(7)); // past the longest wait (5 min + 20%)
        await receiver.WaitForAsync(r => r.Count >= 8, TimeSpan.FromSeconds(30), "all 8 events after the receiver came back");
        foreach (var id in ids) Assert.Equal(["created", "paused", "resumed", "killed"], Short(receiver.Received.Where(d => d.SandboxId == id)));
        Assert.All(receiver.Received, d => Assert.True(d.SignatureValid));
    }

    [Fact]
    public async Task PastTheWindow_AnEventIsGivenUp_Recorded_AndTheNextOnesFollow()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var receiver = await WebhookReceiver.StartAsync(Secret);
        receiver.Answer = d => d.Type == "sandbox.lifecycle.created" ? 500 : 200;
        await using var host = await StartAsync(clock, ("Portal:Webhooks:GiveUpAfter", "00:01:00"));
        var hookId = await CreateWebhookAsync(host.Admin, receiver.Url);
        var id = await LifecycleAsync(host.Admin);
        for (var i = 0; i < 10; i++)
        {
            clock.Advance(TimeSpan.FromSeconds(10));
            await Task.Delay(150, Ct);
        }
        await receiver.WaitForAsync(r => r.Count == 3, TimeSpan.FromSeconds(30), "the events after the given-up one");
        Assert.Equal(["paused", "resumed", "killed"], Short(receiver.Received));
        var log = await DeliveryLogAsync(host.Admin, hookId);
        var gaveUp = Assert.Single(log, a => (string)a!["outcome"]! == "given_up");
        Assert.Contains("given up", (string)gaveUp!["error"]!);
        Assert.Contains("Portal:Webhooks:GiveUpAfter", (string)gaveUp["error"]!);
        Assert.Equal(id, (string)gaveUp["sandboxID"]!);
    }

    [Fact]
    public async Task AReceiverThatNeverAnswers_DoesNotHoldUpTheApi()
    {
        await using var receiver = await WebhookReceiver.StartAsync(Secret);
        receiver.Delay = TimeSpan.FromMinutes(2); // holds every request (the portal gives up at RequestTimeout)
        await using var host = await StartAsync(null, ("Portal:Webhooks:RequestTimeout", "00:01:00"), ("Portal:Webhooks:MaxConcurrency", "2"));
        await CreateWebhookAsync(host.Admin, receiver.Url);
        // More lanes than the concurrency limit, all held by the receiver: every API call still completes.
        var ids = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => LifecycleAsync(host.Admin)));
        Assert.Equal(4, ids.Distinct().Count());
        Assert.Empty(receiver.Received); // nothing answered while the API did all of that
        var until = DateTime.UtcNow.AddSeconds(30);
        while (receiver.Attempts.Count < 2 && DateTime.UtcNow < until) await Task.Delay(50, Ct);
        Assert.Equal(2, receiver.Attempts.Count); // bounded: two in flight, the rest wait in the outbox
    }

    [Fact]
    public async Task DisabledOrOtherTeamsWebhooks_GetNothing()
    {
        await using var on = await WebhookReceiver.StartAsync(Secret);
        await using var off = await WebhookReceiver.StartAsync(Secret);
        await using var host = await StartAsync();
        await CreateWebhookAsync(host.Admin, on.Url, ["sandbox.lifecycle.created"]);
        await CreateWebhookAsync(host.Admin, off.Url, enabled: false);
        var (_, team) = await host.Admin.PostJsonAsync("/teams", """{"name":"other"}""");
        var (_, key) = await host.Admin.PostJsonAsync("/api-keys", $$"""{"name":"k","teamID":"{{(string)team!["teamID"]!}}"}""");
        await using var otherReceiver = await WebhookReceiver.StartAsync(Secret);
        await CreateWebhookAsync(host.Client((string)key!["key"]!), otherReceiver.Url);

        await LifecycleAsync(host.Admin);
        await on.WaitForAsync(r => r.Count == 1, TimeSpan.FromSeconds(30), "the created event");
        await LifecycleAsync(host.Admin);
        await on.WaitForAsync(r => r.Count == 2, TimeSpan.FromSeconds(30), "the second created event");
        Assert.Equal(["created", "created"], Short(on.Received));
        Assert.Empty(off.Attempts);
        Assert.Empty(otherReceiver.Attempts);
    }

    [Fact]
    public async Task AtConnectTime_APrivateAddressIsRefused_AndRecordedAsAFailedDelivery()
    {
        // A name that resolved to a public address when saved and to loopback now (DNS rebinding)
        // looks like this to the dispatcher: a stored URL whose host is private at connect time.
        await using var receiver = await WebhookReceiver.StartAsync(Secret);
        await using var host = await PortalHost.StartAsync(config: new Dictionary<string, string?> { ["Portal:Webhooks:PollInterval"] = "00:00:00.050" });
        var store = host.Services.GetRequiredService<IPortalStore>();
        var admin = (await store.ListTeamsAsync(Ct)).Single(t => t.IsAdmin);
        var url = $"http://localhost:{receiver.Port}/hook";
        await store.AddWebhookAsync(new Webhook
        {
            Id = Guid.NewGuid().ToString(), TeamId = admin.TeamId, Name = "rebound", Url = url, Enabled = true,
            Events = Lifecycle, SignatureSecret = Secret, CreatedAt = DateTimeOffset.UtcNow,
        }, Ct);
        host.Services.GetRequiredService<WebhookDispatcher>().WebhooksChanged();
        var hookId = (string)(await host.Admin.GetJsonAsync("/events/webhooks")).Body!.AsArray().Single()!["id"]!;

        await host.Admin.CreateSandboxAsync();
        JsonArray log = [];
        var until = DateTime.UtcNow.AddSeconds(30);
        while ((log = await DeliveryLogAsync(host.Admin, hookId)).Count == 0 && DateTime.UtcNow < until) await Task.Delay(50, Ct);
        var attempt = Assert.Single(log);
        Assert.Equal("failed", (string)attempt!["outcome"]!);
        Assert.Null(attempt["statusCode"]);
        Assert.Contains("target refused", (string)attempt["error"]!);
        Assert.Contains("loopback", (string)attempt["error"]!);
        Assert.Empty(receiver.Attempts);
    }
}
