using Portal.Core.Auth;
using Portal.Core.Persistence;
using Portal.Core.Sandboxes;

namespace Portal.Tests.Persistence;

/// <summary>Leases in the store (on SQLite, and on PostgreSQL in scripts/test.sh's second pass): one holder at a time, and a deposed holder's late write is refused.</summary>
public sealed class LeaseTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("portal-lease-").FullName;
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task OneHolderAtATime_AndTheEpochGrowsWhenItChangesHands()
    {
        using var store = TestDatabase.Store(_dir);
        await store.InitializeAsync(Ct);
        var t0 = DateTimeOffset.UtcNow;
        var lease = TimeSpan.FromSeconds(10);
        Assert.Equal(1, await store.TryHoldLeaseAsync("reaper", "a", t0, lease, Ct));
        Assert.Null(await store.TryHoldLeaseAsync("reaper", "b", t0.AddSeconds(5), lease, Ct));
        Assert.Equal(1, await store.TryHoldLeaseAsync("reaper", "a", t0.AddSeconds(9), lease, Ct)); // renewed to t0+19
        Assert.Null(await store.TryHoldLeaseAsync("reaper", "b", t0.AddSeconds(15), lease, Ct));
        Assert.Equal(2, await store.TryHoldLeaseAsync("reaper", "b", t0.AddSeconds(20), lease, Ct));
        Assert.Null(await store.TryHoldLeaseAsync("reaper", "a", t0.AddSeconds(21), lease, Ct));
        Assert.Equal(1, await store.TryHoldLeaseAsync("other", "a", t0.AddSeconds(21), lease, Ct)); // leases are independent
    }

    [Fact]
    public async Task ADeposedHoldersLateWrite_IsRefused_AndWritesNothing()
    {
        using var store = TestDatabase.Store(_dir);
        await store.InitializeAsync(Ct);
        var now = DateTimeOffset.FromUnixTimeMilliseconds(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
        await store.AddTeamAsync(new Team { TeamId = "team1", Name = "t", CreatedAt = now }, Ct);
        var running = new SandboxRecord
        {
            Version = 1, SandboxId = "sbx1", TeamId = "team1", TemplateId = "base", ClientId = "c",
            Status = SandboxStatus.Running, CreatedAt = now, StartedAt = now, EndAt = now.AddSeconds(1),
        };
        await store.SaveSandboxAsync(running, null, Ct);

        var old = new LeaseFence("reaper", "a", (await store.TryHoldLeaseAsync("reaper", "a", now, TimeSpan.FromSeconds(10), Ct))!.Value);
        var current = new LeaseFence("reaper", "b", (await store.TryHoldLeaseAsync("reaper", "b", now.AddSeconds(11), TimeSpan.FromSeconds(10), Ct))!.Value);
        var killed = running with { Version = 2, Status = SandboxStatus.Killed, EndedAt = now.AddSeconds(12) };
        var log = new SandboxLogEntry("sbx1", now.AddSeconds(12), "info", "killed: its timeout was reached", new Dictionary<string, string>());

        await Assert.ThrowsAsync<FencedWriteException>(() => store.SaveSandboxAsync(killed, log, Ct, old));
        Assert.Equal(SandboxStatus.Running, (await store.FindSandboxAsync("sbx1", Ct))!.Status);
        Assert.Empty(await store.ListSandboxLogsAsync("sbx1", null, 10, false, Ct));

        await store.SaveSandboxAsync(killed, log, Ct, current);
        Assert.Equal(SandboxStatus.Killed, (await store.FindSandboxAsync("sbx1", Ct))!.Status);
    }

    public void Dispose()
    {
        TestDatabase.Drop(_dir);
        Directory.Delete(_dir, true);
    }
}
