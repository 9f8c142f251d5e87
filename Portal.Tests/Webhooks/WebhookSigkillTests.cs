using Portal.Tests.Api;
using static Portal.Tests.Api.Http;

namespace Portal.Tests.Webhooks;

/// <summary>
/// The real portal process SIGKILLed while deliveries are in flight to a slow receiver, then
/// started again on the same data dir: every event arrives, in order per sandbox, and the only
/// repeats are the deliveries that were in flight (at most one per sandbox lane).
/// </summary>
[Collection(nameof(Portal.Tests.Runtime.Local.LocalRuntimeCollection))] // one set of real sandboxes at a time
public class WebhookSigkillTests
{
    private const string Secret = "whsec-sigkill-test";

    [Fact]
    public async Task SigkillMidDelivery_EverythingDeliveredAfterRestart_InOrder_RepeatsOnlyWhatWasInFlight()
    {
        var dir = PortalHost.NewDataDir();
        var port = PortalProcessRestartTests.FreePort();
        string[] args =
        [
            "--Portal:Webhooks:AllowPrivateTargets", "true", // the receiver is on loopback
            "--Portal:Webhooks:RetryInitialDelay", "00:00:00.200",
            "--Portal:Webhooks:PollInterval", "00:00:00.050",
        ];
        await using var receiver = await WebhookReceiver.StartAsync(Secret);
        // Held until every event exists, then slow: deliveries are in flight when the portal dies.
        receiver.Gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        receiver.Delay = TimeSpan.FromSeconds(1);
        PortalProcess? first = null, second = null;
        try
        {
            first = await PortalProcess.StartAsync(dir, port, args);
            using var admin = PortalProcessRestartTests.Client(port, PortalHost.AdminKey);
            var (status, hook) = await admin.PostJsonAsync("/events/webhooks", $$"""
                {"url":"{{receiver.Url}}","signatureSecret":"{{Secret}}","events":["sandbox.lifecycle.created","sandbox.lifecycle.updated","sandbox.lifecycle.killed"]}
                """);
            Assert.True(status == 201, hook?.ToJsonString());

            // Three sandboxes, four events each: created, updated, updated, killed.
            var ids = await Task.WhenAll(Enumerable.Range(0, 3).Select(async _ =>
            {
                var id = (string)(await admin.CreateSandboxAsync())["sandboxID"]!;
                Assert.Equal(204, (await admin.PostJsonAsync($"/sandboxes/{id}/timeout", """{"timeout":600}""")).Status);
                Assert.Equal(204, (await admin.PostJsonAsync($"/sandboxes/{id}/timeout", """{"timeout":900}""")).Status);
                Assert.Equal(204, (await admin.DeleteJsonAsync($"/sandboxes/{id}")).Status);
                return id;
            }));
            var expected = new Dictionary<string, string[]>();
            foreach (var id in ids)
                expected[id] = (await admin.GetJsonAsync($"/events/sandboxes/{id}?orderAsc=true")).Body!.AsArray().Select(e => (string)e!["id"]!).ToArray();
            Assert.All(expected.Values, e => Assert.Equal(4, e.Length));

            receiver.Gate.SetResult();
            // Mid-delivery: some delivered, some arrived at the receiver and not yet answered.
            var until = DateTime.UtcNow.AddSeconds(60);
            while (!(receiver.Received.Count >= 2 && receiver.Attempts.Count > receiver.Received.Count) && DateTime.UtcNow < until) await Task.Delay(10, Ct);
            Assert.True(receiver.Attempts.Count > receiver.Received.Count, "no delivery in flight to kill the portal in");
            first.Kill();
            var deliveredBeforeKill = receiver.Received.Count;
            Assert.True(deliveredBeforeKill < 12, "everything was delivered before the kill");

            receiver.Delay = TimeSpan.Zero;
            second = await PortalProcess.StartAsync(dir, port, args);
            await receiver.WaitForAsync(r => expected.Values.SelectMany(e => e).All(id => r.Any(d => d.EventId == id)), TimeSpan.FromSeconds(60),
                "every event after the restart");
            await Task.Delay(500, Ct); // anything still to come would be a repeat beyond the rule

            var got = receiver.Received.ToArray();
            Assert.All(got, d => Assert.True(d.SignatureValid));
            foreach (var id in ids)
            {
                var seq = got.Where(d => d.SandboxId == id).Select(d => d.EventId).ToList();
                // In order: a repeat can only be the delivery in flight, sent again right away.
                var collapsed = seq.Where((e, i) => i == 0 || seq[i - 1] != e).ToList();
                Assert.Equal(expected[id], collapsed);
                Assert.True(seq.Count - collapsed.Count <= 1, $"sandbox {id}: {seq.Count - collapsed.Count} repeats (at most its one in-flight delivery)");
            }
            Assert.True(await second.StopAsync(), "the portal did not stop on SIGTERM");
        }
        catch (Exception e)
        {
            throw new Xunit.Sdk.XunitException($"{e.Message}\n--- portal log (first run) ---\n{first?.Log}\n--- portal log (second run) ---\n{second?.Log}");
        }
        finally
        {
            if (first is not null) await first.DisposeAsync();
            if (second is not null) await second.DisposeAsync();
            try { Directory.Delete(dir, true); } catch (IOException) { }
        }
    }
}
