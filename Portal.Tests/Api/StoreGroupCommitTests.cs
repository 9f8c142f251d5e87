using Microsoft.EntityFrameworkCore;
using Portal.Core.Auth;
using Portal.Core.Persistence.Sqlite;
using Portal.Core.Sandboxes;

namespace Portal.Tests.Api;

/// <summary>The SQLite store commits concurrent sandbox saves together (a create burst): every
/// save lands, in order per sandbox, and a save that cannot be committed fails alone.</summary>
public sealed class StoreGroupCommitTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("portal-store-").FullName;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task ConcurrentSaves_AllLand_AndABadOneFailsAlone()
    {
        using var store = new SqlitePortalStore(Path.Combine(_dir, "portal.db"));
        await store.InitializeAsync(Ct);
        var now = DateTimeOffset.FromUnixTimeMilliseconds(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
        await store.AddTeamAsync(new Team { TeamId = "team1", Name = "t", CreatedAt = now }, Ct);
        SandboxRecord Rec(string id, string team, SandboxStatus status) => new()
        {
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

    public void Dispose() => Directory.Delete(_dir, true);
}
