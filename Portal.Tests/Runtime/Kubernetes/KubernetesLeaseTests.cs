using Microsoft.Extensions.Time.Testing;
using Portal.Core.Auth;
using Portal.Core.Coordination;
using Portal.Core.Persistence;
using Portal.Core.Sandboxes;
using Portal.Tests.Persistence;

namespace Portal.Tests.Runtime.Kubernetes;

/// <summary>
/// Leader election through a coordination.k8s.io Lease on the FAKE API server (resourceVersion
/// conflicts answered 409), with the fence kept in the store: one holder at a time, a takeover
/// once the Lease has run out, and the deposed holder's late write refused by the store.
/// </summary>
public sealed class KubernetesLeaseTests : IAsyncLifetime
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;
    private static readonly TimeSpan Term = TimeSpan.FromSeconds(15);
    private readonly string _dir = Directory.CreateTempSubdirectory("portal-k8s-lease-").FullName;
    private readonly FakeTimeProvider _clock = new(DateTimeOffset.UtcNow);
    private FakeCluster _cluster = null!;
    private EfPortalStore _store = null!;

    public async ValueTask InitializeAsync()
    {
        _cluster = await FakeCluster.StartAsync(realEnvd: false);
        _store = TestDatabase.Store(_dir);
        await _store.InitializeAsync(Ct);
    }

    private KubernetesLeaseArbiter Arbiter() => new(_cluster.Client(), FakeCluster.Namespace, _store, _clock);

    private k8s.Models.V1Lease Lease(string name) =>
        k8s.KubernetesJson.Deserialize<k8s.Models.V1Lease>(_cluster.Store.Get("leases", FakeCluster.Namespace, KubernetesLeaseArbiter.Prefix + name).ToJsonString());

    [Fact]
    public async Task OneHolderAtATime_TakenOverOnlyOnceItRunsOut_WithTheEpochOneHigher()
    {
        var (a, b) = (Arbiter(), Arbiter());
        Assert.Equal(1, await a.TryHoldAsync("reaper", "a", Term, Ct));
        Assert.Null(await b.TryHoldAsync("reaper", "b", Term, Ct));
        _clock.Advance(TimeSpan.FromSeconds(10));
        Assert.Equal(1, await a.TryHoldAsync("reaper", "a", Term, Ct)); // renewed: runs to +25 s
        _clock.Advance(TimeSpan.FromSeconds(10));
        Assert.Null(await b.TryHoldAsync("reaper", "b", Term, Ct));
        Assert.Equal("a", Lease("reaper").Spec.HolderIdentity);

        _clock.Advance(TimeSpan.FromSeconds(6)); // a stopped renewing: run out
        Assert.Equal(2, await b.TryHoldAsync("reaper", "b", Term, Ct));
        Assert.Null(await a.TryHoldAsync("reaper", "a", Term, Ct));
        var lease = Lease("reaper");
        Assert.Equal("b", lease.Spec.HolderIdentity);
        Assert.Equal(1, lease.Spec.LeaseTransitions);
        Assert.Equal(15, lease.Spec.LeaseDurationSeconds);
        Assert.Equal(1, await a.TryHoldAsync("pools", "a", Term, Ct)); // leases are independent
    }

    [Fact]
    public async Task ReplicasTakingAnExpiredLeaseAtOnce_OneWins_TheOthersGet409()
    {
        var first = Arbiter();
        Assert.Equal(1, await first.TryHoldAsync("reaper", "gone", Term, Ct));
        _clock.Advance(Term + TimeSpan.FromSeconds(1));
        var updatesBefore = _cluster.Server.Requests.Count(r => r.Resource == "leases" && r.Verb == "update");
        var results = await Task.WhenAll(Enumerable.Range(0, 8).Select(i => Task.Run(() => Arbiter().TryHoldAsync("reaper", $"r{i}", Term, Ct))));
        var winners = results.Select((epoch, i) => (epoch, i)).Where(x => x.epoch is not null).ToList();
        var (epoch, winner) = Assert.Single(winners);
        Assert.Equal(2, epoch);
        Assert.Equal($"r{winner}", Lease("reaper").Spec.HolderIdentity);
        // Every loser read the Lease before the winner's update landed, or after (and saw it held).
        Assert.True(_cluster.Server.Requests.Count(r => r.Resource == "leases" && r.Verb == "update") - updatesBefore >= 1);
    }

    [Fact]
    public async Task ADeposedHoldersLateWrite_IsRefusedByTheStore()
    {
        var now = DateTimeOffset.FromUnixTimeMilliseconds(_clock.GetUtcNow().ToUnixTimeMilliseconds());
        await _store.AddTeamAsync(new Team { TeamId = "team1", Name = "t", CreatedAt = now }, Ct);
        var running = new SandboxRecord
        {
            Version = 1, SandboxId = "sbx1", TeamId = "team1", TemplateId = "base", ClientId = "c",
            Status = SandboxStatus.Running, CreatedAt = now, StartedAt = now, EndAt = now.AddSeconds(1),
        };
        await _store.SaveSandboxAsync(running, null, Ct);

        // Through LeaderLease, as the portal's services hold it.
        var (a, b) = (new LeaderLease(_store, _clock, Arbiter()), new LeaderLease(_store, _clock, Arbiter()));
        var old = await a.HoldAsync("reaper", Term, Ct);
        Assert.NotNull(old);
        _clock.Advance(Term + TimeSpan.FromSeconds(1)); // a is paused (GC, a stalled network): its Lease runs out
        var current = await b.HoldAsync("reaper", Term, Ct);
        Assert.NotNull(current);
        Assert.Equal(old.Epoch + 1, current.Epoch);

        var killed = running with { Version = 2, Status = SandboxStatus.Killed, EndedAt = now.AddSeconds(2) };
        await Assert.ThrowsAsync<FencedWriteException>(() => _store.SaveSandboxAsync(killed, null, Ct, old));
        Assert.Equal(SandboxStatus.Running, (await _store.FindSandboxAsync("sbx1", Ct))!.Status);
        Assert.Null(await a.HoldAsync("reaper", Term, Ct)); // and a learns it lost at its next renewal
        await _store.SaveSandboxAsync(killed, null, Ct, current);
        Assert.Equal(SandboxStatus.Killed, (await _store.FindSandboxAsync("sbx1", Ct))!.Status);
    }

    public async ValueTask DisposeAsync()
    {
        _store.Dispose();
        await _cluster.DisposeAsync();
        TestDatabase.Drop(_dir);
        Directory.Delete(_dir, true);
    }
}
