using Portal.Core.Auth;
using Portal.Core.Templates;

namespace Portal.Tests.Persistence;

/// <summary>The template registry in the store (SQLite here, PostgreSQL in scripts/test.sh's second pass).</summary>
public sealed class TemplateStoreTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("portal-tplstore-").FullName;
    private static CancellationToken Ct => TestContext.Current.CancellationToken;
    private static readonly DateTimeOffset T0 = DateTimeOffset.FromUnixTimeMilliseconds(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());

    private static TemplateRecord Template(string id, string team, params string[] names) => new()
    {
        TemplateId = id, TeamId = team, Names = names, CpuCount = 2, MemoryMB = 512, DiskSizeMB = 2048, CreatedAt = T0, UpdatedAt = T0,
    };

    private static TemplateBuild Build(string id, string template, string team, params string[] tags) => new()
    {
        BuildId = id, TemplateId = template, TeamId = team, Status = TemplateBuildStatus.Waiting, CreatedAt = T0, Tags = tags,
    };

    private async Task<Portal.Core.Persistence.EfPortalStore> OpenAsync()
    {
        var store = TestDatabase.Store(_dir);
        await store.InitializeAsync(Ct);
        await store.AddTeamAsync(new Team { TeamId = "team-a", Name = "a", CreatedAt = T0 }, Ct);
        await store.AddTeamAsync(new Team { TeamId = "team-b", Name = "b", CreatedAt = T0 }, Ct);
        return store;
    }

    [Fact]
    public async Task NamesAreUniqueAcrossTeams_AndASecondClaimWritesNothing()
    {
        using var store = await OpenAsync();
        Assert.True(await store.AddTemplateAsync(Template("t1", "team-a", "app"), Ct));
        Assert.False(await store.AddTemplateAsync(Template("t2", "team-b", "app"), Ct));
        Assert.Null(await store.FindTemplateAsync("t2", Ct));
        Assert.Equal("t1", (await store.FindTemplateByNameAsync("app", Ct))!.TemplateId);
        Assert.Single(await store.ListTemplatesAsync("team-a", null, null, Ct));
        Assert.Empty(await store.ListTemplatesAsync("team-b", null, null, Ct));
    }

    [Fact]
    public async Task AReadyBuildTakesItsTags_CountsAndSpawnsAreKept()
    {
        using var store = await OpenAsync();
        await store.AddTemplateAsync(Template("t1", "team-a", "app"), Ct);
        await store.AddTemplateBuildAsync(Build("b1", "t1", "team-a", "default", "v1"), Ct);
        Assert.Empty(await store.ListTemplateTagsAsync("t1", Ct)); // not before it is ready
        var ready = (await store.FindTemplateBuildAsync("b1", Ct))! with
        {
            Status = TemplateBuildStatus.Ready, RuntimeTemplateId = "tb-b1", FinishedAt = T0.AddSeconds(5),
            Result = new BuildState { User = "root", Workdir = "/app", Env = new Dictionary<string, string> { ["A"] = "1" } },
        };
        await store.SaveTemplateBuildAsync(ready, Ct);
        await store.AddTemplateBuildAsync(Build("b2", "t1", "team-a", "default"), Ct);
        await store.SaveTemplateBuildAsync((await store.FindTemplateBuildAsync("b2", Ct))! with { Status = TemplateBuildStatus.Ready, RuntimeTemplateId = "tb-b2" }, Ct);

        var tags = (await store.ListTemplateTagsAsync("t1", Ct)).ToDictionary(t => t.Tag, t => t.BuildId);
        Assert.Equal("b2", tags["default"]);
        Assert.Equal("b1", tags["v1"]);
        var b1 = (await store.FindTemplateBuildAsync("b1", Ct))!;
        Assert.Equal("/app", b1.Result!.Workdir);
        Assert.Equal("1", b1.Result.Env["A"]);

        await store.RecordTemplateSpawnAsync("t1", T0.AddMinutes(1), Ct);
        await store.RecordTemplateSpawnAsync("t1", T0.AddMinutes(2), Ct);
        var t = (await store.FindTemplateAsync("t1", Ct))!;
        Assert.Equal(2, t.SpawnCount);
        Assert.Equal(T0.AddMinutes(2), t.LastSpawnedAt);
        Assert.Equal(2, t.BuildCount);
        Assert.Equal("b2", (await store.FindLatestTemplateBuildsAsync(["t1"], Ct))["t1"].BuildId);

        await store.SetTemplateTagsAsync("t1", "b1", ["stable"], T0, Ct);
        Assert.Equal(1, await store.RemoveTemplateTagsAsync("t1", ["stable", "nope"], Ct));
    }

    [Fact]
    public async Task LogsArePagedByOffset_AtMostTheLimit_FilteredByLevel()
    {
        using var store = await OpenAsync();
        await store.AddTemplateAsync(Template("t1", "team-a", "app"), Ct);
        await store.AddTemplateBuildAsync(Build("b1", "t1", "team-a"), Ct);
        var entries = Enumerable.Range(0, 250).Select(i => new BuildLogEntry(T0.AddMilliseconds(i), i % 10 == 0 ? "error" : "info", $"line {i}", "1")).ToList();
        await store.AddTemplateBuildLogsAsync("b1", entries, Ct);
        var page = await store.ListTemplateBuildLogsAsync("b1", 0, 100, null, Ct);
        Assert.Equal(100, page.Count);
        Assert.Equal("line 0", page[0].Message);
        Assert.Equal("line 200", (await store.ListTemplateBuildLogsAsync("b1", 200, 100, null, Ct))[0].Message);
        Assert.Empty(await store.ListTemplateBuildLogsAsync("b1", 250, 100, null, Ct));
        var errors = await store.ListTemplateBuildLogsAsync("b1", 0, 100, "error", Ct);
        Assert.Equal(25, errors.Count);
        Assert.Equal("line 10", errors[1].Message);
    }

    [Fact]
    public async Task DeletingATemplate_RemovesNamesTagsBuildsAndLogs_AndReturnsItsRuntimeTemplates()
    {
        using var store = await OpenAsync();
        await store.AddTemplateAsync(Template("t1", "team-a", "app"), Ct);
        await store.AddTemplateBuildAsync(Build("b1", "t1", "team-a", "default"), Ct);
        await store.SaveTemplateBuildAsync((await store.FindTemplateBuildAsync("b1", Ct))! with { Status = TemplateBuildStatus.Ready, RuntimeTemplateId = "tb-b1" }, Ct);
        await store.AddTemplateBuildLogsAsync("b1", [new BuildLogEntry(T0, "info", "x", null)], Ct);
        Assert.Equal(["tb-b1"], await store.DeleteTemplateAsync("t1", Ct));
        Assert.Null(await store.FindTemplateByNameAsync("app", Ct));
        Assert.Null(await store.FindTemplateBuildAsync("b1", Ct));
        Assert.Empty(await store.ListTemplateBuildLogsAsync("b1", 0, 100, null, Ct));
        Assert.Null(await store.DeleteTemplateAsync("t1", Ct));
        Assert.True(await store.AddTemplateAsync(Template("t2", "team-b", "app"), Ct)); // the name is free again
    }

    [Fact]
    public async Task LayersAreFoundByKey_AndReplaced()
    {
        using var store = await OpenAsync();
        var state = new BuildState { User = "user", Env = new Dictionary<string, string> { ["X"] = "y" } };
        await store.SaveTemplateLayerAsync(new TemplateLayer("k1", "team-a", "tl-1", state, T0), Ct);
        await store.SaveTemplateLayerAsync(new TemplateLayer("k1", "team-a", "tl-2", state, T0), Ct);
        var found = (await store.FindTemplateLayerAsync("k1", Ct))!;
        Assert.Equal("tl-2", found.RuntimeTemplateId);
        Assert.Equal("y", found.State.Env["X"]);
        Assert.Null(await store.FindTemplateLayerAsync("k2", Ct));
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}
