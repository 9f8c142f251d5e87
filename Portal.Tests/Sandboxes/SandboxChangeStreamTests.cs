using System.Threading.Channels;
using Microsoft.Extensions.DependencyInjection;
using Portal.Core.Sandboxes;
using Portal.Tests.Api;
using static Portal.Tests.Api.Http;

namespace Portal.Tests.Sandboxes;

public class SandboxChangeStreamTests
{
    private static SandboxRecord Record(string id, string team = "team_a", SandboxStatus status = SandboxStatus.Running, int seq = 0) => new()
    {
        SandboxId = id, TeamId = team, TemplateId = "base", ClientId = "c", Status = status,
        CreatedAt = DateTimeOffset.UnixEpoch, StartedAt = DateTimeOffset.UnixEpoch, EndAt = DateTimeOffset.UnixEpoch.AddSeconds(seq),
        Metadata = new Dictionary<string, string> { ["seq"] = seq.ToString() },
    };

    [Fact]
    public async Task Snapshot_ThenEveryChange_InOrder_WithNoGapOrOverlap_UnderConcurrentWriters()
    {
        var stream = new SandboxChangeStream();
        const int writers = 8, changesEach = 400;
        var start = new TaskCompletionSource();
        var writing = Enumerable.Range(0, writers).Select(w => Task.Run(async () =>
        {
            await start.Task;
            var id = $"sbx{w}";
            for (var i = 1; i <= changesEach; i++)
            {
                stream.Publish(Record(id, seq: i), SandboxChangeCause.DeadlineMoved);
                if (i % 50 == 0) await Task.Yield();
            }
            stream.Publish(Record(id, status: SandboxStatus.Killed, seq: changesEach + 1), SandboxChangeCause.Killed);
        })).ToArray();

        // Subscribers join at different moments while the writers run.
        var subscriptions = new List<SandboxSubscription>();
        start.SetResult();
        for (var k = 0; k < 20; k++)
        {
            subscriptions.Add(stream.Subscribe(_ => true, capacity: writers * (changesEach + 1)));
            await Task.Yield();
        }
        await Task.WhenAll(writing);

        foreach (var sub in subscriptions)
        {
            var last = sub.Snapshot.ToDictionary(c => c.Sandbox.SandboxId, c => c.Version);
            Assert.All(sub.Snapshot, c => Assert.Equal(SandboxChangeCause.Present, c.Cause));
            sub.Dispose();
            await foreach (var change in sub.Changes.ReadAllAsync(Ct))
            {
                var expected = last.GetValueOrDefault(change.Sandbox.SandboxId) + 1;
                Assert.Equal(expected, change.Version); // no gap, no repeat, no reordering per sandbox
                Assert.Equal(expected, int.Parse(change.Sandbox.Metadata["seq"]));
                last[change.Sandbox.SandboxId] = change.Version;
            }
            // A subscriber that joined before a sandbox ended saw its delete last.
            Assert.All(last.Values, v => Assert.Equal(changesEach + 1, v));
        }
        Assert.Equal(0, stream.SubscriberCount);
    }

    [Fact]
    public async Task ASubscriberThatFallsBehind_IsToldToResync_AndNeverSlowsPublishing()
    {
        var stream = new SandboxChangeStream();
        using var slow = stream.Subscribe(_ => true, capacity: 4);
        using var fine = stream.Subscribe(_ => true, capacity: 100);
        for (var i = 1; i <= 10; i++) stream.Publish(Record("sbx1", seq: i), SandboxChangeCause.DeadlineMoved);

        var received = new List<long>();
        var e = await Assert.ThrowsAsync<SandboxChangeStreamOverflowException>(async () =>
        {
            await foreach (var c in slow.Changes.ReadAllAsync(Ct)) received.Add(c.Version);
        });
        Assert.Equal([1, 2, 3, 4], received);
        Assert.Contains("subscribe again", e.Message);
        Assert.Equal(1, stream.SubscriberCount);
        Assert.Equal(10, fine.Changes.Count);

        // Subscribing again gives the current state.
        using var again = stream.Subscribe(_ => true, capacity: 4);
        Assert.Equal(10, Assert.Single(again.Snapshot).Version);
    }

    [Fact]
    public void AFilter_KeepsOtherTeamsOut_OfSnapshotAndChanges()
    {
        var stream = new SandboxChangeStream();
        stream.Publish(Record("a1", team: "team_a"), SandboxChangeCause.Created);
        using var b = stream.Subscribe(r => r.TeamId == "team_b");
        stream.Publish(Record("a2", team: "team_a"), SandboxChangeCause.Created);
        stream.Publish(Record("b1", team: "team_b"), SandboxChangeCause.Created);
        Assert.Empty(b.Snapshot);
        Assert.True(b.Changes.TryRead(out var only));
        Assert.Equal("b1", only.Sandbox.SandboxId);
        Assert.False(b.Changes.TryRead(out _));
    }

    [Fact]
    public async Task EveryStateChange_OfTheService_PublishesExactlyOneChange()
    {
        await using var host = await PortalHost.StartAsync();
        var stream = host.Services.GetRequiredService<SandboxChangeStream>();
        using var sub = stream.Subscribe(_ => true);
        var id = (string)(await host.Admin.CreateSandboxAsync("""{"templateID":"base","timeout":600}"""))["sandboxID"]!;
        Assert.Equal(204, (await host.Admin.PostJsonAsync($"/sandboxes/{id}/timeout", """{"timeout":900}""")).Status);
        Assert.Equal(204, (await host.Admin.PostJsonAsync($"/sandboxes/{id}/refreshes", """{"duration":3600}""")).Status);
        Assert.Equal(204, (await host.Admin.PostJsonAsync($"/sandboxes/{id}/pause")).Status);
        Assert.Equal(201, (await host.Admin.PostJsonAsync($"/v2/sandboxes/{id}/connect", """{"timeout":60}""")).Status);
        Assert.Equal(200, (await host.Admin.PostJsonAsync($"/v2/sandboxes/{id}/connect", """{"timeout":7200}""")).Status);
        Assert.Equal(204, (await host.Admin.DeleteJsonAsync($"/sandboxes/{id}")).Status);
        // A refused change (already paused: 409) and a no-op (a shorter connect) publish nothing.

        var causes = new List<(SandboxChangeCause Cause, long Version, SandboxStatus Status)>();
        while (causes.Count < 7 && await sub.Changes.WaitToReadAsync(Ct))
            while (sub.Changes.TryRead(out var c)) causes.Add((c.Cause, c.Version, c.Sandbox.Status));
        Assert.Equal(
        [
            (SandboxChangeCause.Created, 1, SandboxStatus.Running),
            (SandboxChangeCause.DeadlineMoved, 2, SandboxStatus.Running),
            (SandboxChangeCause.DeadlineMoved, 3, SandboxStatus.Running),
            (SandboxChangeCause.Paused, 4, SandboxStatus.Paused),
            (SandboxChangeCause.Resumed, 5, SandboxStatus.Running),
            (SandboxChangeCause.DeadlineMoved, 6, SandboxStatus.Running),
            (SandboxChangeCause.Killed, 7, SandboxStatus.Killed),
        ], causes);
        Assert.False(sub.Changes.TryRead(out _));
    }

    [Fact]
    public async Task ADeadline_AndADeath_InTheRuntime_PublishTheirChange()
    {
        await using var host = await PortalHost.StartAsync();
        var stream = host.Services.GetRequiredService<SandboxChangeStream>();
        using var sub = stream.Subscribe(_ => true);
        var expiring = (string)(await host.Admin.CreateSandboxAsync("""{"templateID":"base","timeout":1}"""))["sandboxID"]!;
        var dying = (string)(await host.Admin.CreateSandboxAsync("""{"templateID":"base","timeout":600}"""))["sandboxID"]!;
        await host.Runtime.SimulateDeathAsync(dying);

        var ends = new Dictionary<string, SandboxChangeCause>();
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(15));
        await foreach (var c in sub.Changes.ReadAllAsync(timeout.Token))
        {
            if (c.IsDelete) ends[c.Sandbox.SandboxId] = c.Cause;
            if (ends.Count == 2) break;
        }
        Assert.Equal(SandboxChangeCause.Killed, ends[expiring]);
        Assert.Equal(SandboxChangeCause.Died, ends[dying]);
    }
}
