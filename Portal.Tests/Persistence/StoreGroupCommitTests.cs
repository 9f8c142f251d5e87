using Microsoft.EntityFrameworkCore;
using Portal.Core.Auth;
using Portal.Core.Persistence;
using Portal.Core.Sandboxes;

namespace Portal.Tests.Persistence;

/// <summary>The store commits concurrent sandbox saves together (a create burst): every
/// save lands, in order per sandbox, and a save that cannot be committed fails alone.</summary>
public sealed class StoreGroupCommitTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("portal-store-").FullName;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task ConcurrentSaves_AllLand_AndABadOneFailsAlone()
    {
        using var store = TestDatabase.Store(_dir);
        await store.InitializeAsync(Ct);
        var now = DateTimeOffset.FromUnixTimeMilliseconds(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
        await store.AddTeamAsync(new Team { TeamId = "team1", Name = "t", CreatedAt = now }, Ct);
        SandboxRecord Rec(string id, string team, SandboxStatus status) => new()
        {
            Version = status == SandboxStatus.Creating ? 1 : 2,
            SandboxId = id, TeamId = team, TemplateId = "base", ClientId = "c", Status = status,
            CreatedAt = now, StartedAt = now, EndAt = now.AddMinutes(5),
        };
        SandboxLogEntry Log(string id, string message) => new(id, now, "info", message, new Dictionary<string, string>());
        var ids = Enumerable.Range(0, 100).Select(i => $"sbx{i:000}").ToList();

        // Each sandbox: created, then running, as a create does; 100 of them at once, plus one
        // whose team does not exist (a foreign-key violation).
        var bad = store.SaveSandboxAsync(Rec("orphan", "no-such-team", SandboxStatus.Creating), Log("orphan", "creating"), Ct);
        await Task.WhenAll(ids.Select(async id =>
        {
            await Task.Yield();
            await store.SaveSandboxAsync(Rec(id, "team1", SandboxStatus.Creating), Log(id, "creating"), Ct);
            await store.SaveSandboxAsync(Rec(id, "team1", SandboxStatus.Running), Log(id, "created"), Ct);
        }));
        await Assert.ThrowsAnyAsync<DbUpdateException>(() => bad);

        var live = await store.ListLiveSandboxesAsync(Ct);
        Assert.Equal(ids, live.Select(r => r.SandboxId).Order());
        Assert.All(live, r => Assert.Equal(SandboxStatus.Running, r.Status));
        foreach (var id in ids.Take(5))
            Assert.Equal(["creating", "created"], (await store.ListSandboxLogsAsync(id, null, 10, false, Ct)).Select(l => l.Message));
        Assert.Empty(await store.ListSandboxLogsAsync("orphan", null, 10, false, Ct));
    }

    [Fact]
    public async Task AStaleWrite_IsRefused_AndNeverOverwritesANewerState()
    {
        using var store = TestDatabase.Store(_dir);
        await store.InitializeAsync(Ct);
        var now = DateTimeOffset.FromUnixTimeMilliseconds(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
        await store.AddTeamAsync(new Team { TeamId = "team1", Name = "t", CreatedAt = now }, Ct);
        var v1 = new SandboxRecord
        {
            Version = 1, SandboxId = "sbx1", TeamId = "team1", TemplateId = "base", ClientId = "c",
            Status = SandboxStatus.Running, CreatedAt = now, StartedAt = now, EndAt = now.AddMinutes(5),
        };
        await store.SaveSandboxAsync(v1 with { Status = SandboxStatus.Creating }, null, Ct);
        // Two writers both read version 1; the first to commit wins.
        var paused = v1 with { Version = 2, Status = SandboxStatus.Paused };
        var extended = v1 with { Version = 2, EndAt = now.AddHours(1) };
        await store.SaveSandboxAsync(paused, null, Ct);
        var e = await Assert.ThrowsAsync<Portal.Core.Persistence.StaleSandboxWriteException>(() =>
            store.SaveSandboxAsync(extended, new SandboxLogEntry("sbx1", now, "info", "stale", new Dictionary<string, string>()), Ct));
        Assert.Equal("sbx1", e.SandboxId);
        var stored = (await store.FindSandboxAsync("sbx1", Ct))!;
        Assert.Equal(SandboxStatus.Paused, stored.Status);
        Assert.Equal(now.AddMinutes(5), stored.EndAt);
        Assert.Equal(2, stored.Version);
        Assert.Empty(await store.ListSandboxLogsAsync("sbx1", null, 10, false, Ct)); // its log line went nowhere either
        // In a group commit too: a stale save fails alone, the others land.
        var next = stored with { Version = 3, Status = SandboxStatus.Running };
        await Task.WhenAll(
            store.SaveSandboxAsync(next, null, Ct),
            Assert.ThrowsAsync<Portal.Core.Persistence.StaleSandboxWriteException>(() => store.SaveSandboxAsync(paused with { Version = 2 }, null, Ct)));
        Assert.Equal(SandboxStatus.Running, (await store.FindSandboxAsync("sbx1", Ct))!.Status);
    }

    public void Dispose()
    {
        TestDatabase.Drop(_dir);
        Directory.Delete(_dir, true);
    }
}
