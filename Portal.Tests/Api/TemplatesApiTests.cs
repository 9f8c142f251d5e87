using Microsoft.Extensions.DependencyInjection;
using System.Text.Json.Nodes;
using Portal.Core.Templates;
using static Portal.Tests.Api.Http;

namespace Portal.Tests.Api;

/// <summary>
/// The template API in-process over the fake runtime: builds of ENV-only steps (no sandbox needed,
/// the fake runs no commands), names and tags, tenancy and E2B's error shapes. The real steps run
/// in e2e/portal/templates.test.mjs.
/// </summary>
public class TemplatesApiTests
{
    private static async Task<(string TemplateId, string BuildId)> BuildAsync(HttpClient c, string name, string steps = """[{"type":"ENV","args":["A","1","B","$A-2"],"force":false}]""", string extra = "")
    {
        var (s, req) = await c.PostJsonAsync("/v3/templates", $$"""{"name":"{{name}}"}""");
        Assert.Equal(202, s);
        var id = (string)req!["templateID"]!;
        var build = (string)req["buildID"]!;
        var (s2, _) = await c.PostJsonAsync($"/v2/templates/{id}/builds/{build}", $$"""{"fromTemplate":"base","steps":{{steps}},"force":false{{extra}}}""");
        Assert.Equal(202, s2);
        return (id, build);
    }

    private static async Task<JsonNode> WaitAsync(HttpClient c, string id, string build)
    {
        for (var i = 0; i < 200; i++)
        {
            var (s, info) = await c.GetJsonAsync($"/templates/{id}/builds/{build}/status");
            Assert.Equal(200, s);
            if ((string)info!["status"]! is "ready" or "error") return info;
            await Task.Delay(50, TestContext.Current.CancellationToken);
        }
        throw new TimeoutException("build did not finish");
    }

    [Fact]
    public async Task EnvOnlyBuild_IsReady_AndSandboxesGetItsVariablesUserAndSpawnCount()
    {
        await using var host = await PortalHost.StartAsync();
        var (id, build) = await BuildAsync(host.Admin, "envs");
        var info = await WaitAsync(host.Admin, id, build);
        Assert.Equal("ready", (string)info["status"]!);
        Assert.Empty(info["logs"]!.AsArray());

        var sbx = await host.Admin.CreateSandboxAsync("""{"templateID":"envs","envVars":{"B":"override"}}""");
        Assert.Equal(id, (string)sbx["templateID"]!);
        Assert.Equal("envs", (string)sbx["alias"]!);
        var spec = host.Runtime.Specs.Last();
        Assert.Equal("tb-" + build, spec.TemplateId);
        Assert.Equal("1", spec.EnvVars["A"]);
        Assert.Equal("override", spec.EnvVars["B"]);
        Assert.Equal("user", spec.DefaultUser);
        Assert.Equal("/home/user", spec.DefaultWorkdir);

        var (_, list) = await host.Admin.GetJsonAsync("/templates");
        var item = list!.AsArray().Single()!;
        Assert.Equal(1, (int)item["spawnCount"]!);
        Assert.Equal(1, (int)item["buildCount"]!);
        Assert.Equal("ready", (string)item["buildStatus"]!);
        Assert.Equal("envs", (string)item["aliases"]![0]!);
    }

    [Fact]
    public async Task StatusLogs_ArePagedByOffset_UntilEmpty_AndTheRebuildIsCached()
    {
        await using var host = await PortalHost.StartAsync();
        var (id, build) = await BuildAsync(host.Admin, "paged");
        await WaitAsync(host.Admin, id, build);
        var (_, first) = await host.Admin.GetJsonAsync($"/templates/{id}/builds/{build}/status?logsOffset=0");
        var n = first!["logEntries"]!.AsArray().Count;
        Assert.True(n >= 3);
        var (_, rest) = await host.Admin.GetJsonAsync($"/templates/{id}/builds/{build}/status?logsOffset={n}");
        Assert.Empty(rest!["logEntries"]!.AsArray());
        var (_, one) = await host.Admin.GetJsonAsync($"/templates/{id}/builds/{build}/status?logsOffset=1&limit=1");
        Assert.Single(one!["logEntries"]!.AsArray());

        var (_, build2) = await BuildAsync(host.Admin, "paged");
        var (_, info2) = await host.Admin.GetJsonAsync($"/templates/{id}/builds/{build2}/status");
        await WaitAsync(host.Admin, id, build2);
        (_, info2) = await host.Admin.GetJsonAsync($"/templates/{id}/builds/{build2}/status");
        Assert.Contains(info2!["logEntries"]!.AsArray(), e => ((string)e!["message"]!).StartsWith("CACHED [1/1] ENV", StringComparison.Ordinal));
    }

    [Fact]
    public async Task UploadedFiles_ArePresentWhileUsed_AndGoneAfterTheRetention_SoTheClientUploadsAgain()
    {
        var clock = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var host = await PortalHost.StartAsync(clock: clock, config: new Dictionary<string, string?> { ["Portal:Templates:UploadRetention"] = "2.00:00:00" });
        var (_, req) = await host.Admin.PostJsonAsync("/v3/templates", """{"name":"copies"}""");
        var id = (string)req!["templateID"]!;
        var files = $"/templates/{id}/files/{new string('f', 64)}";
        var (s, absent) = await host.Admin.GetJsonAsync(files);
        Assert.Equal(201, s);
        Assert.False((bool)absent!["present"]!);
        using (var put = new HttpRequestMessage(HttpMethod.Put, new Uri((string)absent["url"]!).PathAndQuery) { Content = new StreamContent(Portal.Tests.Templates.TemplateFilesTests.Archive()) })
        using (var res = await host.Admin.SendAsync(put, TestContext.Current.CancellationToken))
            Assert.True(res.IsSuccessStatusCode, $"upload: {(int)res.StatusCode}");

        clock.Advance(TimeSpan.FromDays(1.5));
        Assert.True((bool)(await host.Admin.GetJsonAsync(files)).Body!["present"]!); // asked for: used now
        clock.Advance(TimeSpan.FromDays(1.5));
        Assert.True((bool)(await host.Admin.GetJsonAsync(files)).Body!["present"]!);

        clock.Advance(TimeSpan.FromDays(3)); // the sweeper's hourly tick, past the retention
        JsonNode? after = null;
        for (var i = 0; i < 200; i++)
        {
            var path = Path.Combine(host.DataDir, "template-files");
            if (!Directory.EnumerateFiles(path, "*.tar", SearchOption.AllDirectories).Any()) break;
            await Task.Delay(25, TestContext.Current.CancellationToken);
        }
        (_, after) = await host.Admin.GetJsonAsync(files);
        Assert.False((bool)after!["present"]!);
        Assert.NotNull(after["url"]); // the SDK uploads them again
    }

    [Fact]
    public async Task AForeignTeam_GetsNotFoundOrForbidden_OnEveryRoute()
    {
        await using var host = await PortalHost.StartAsync();
        var (id, build) = await BuildAsync(host.Admin, "mine");
        await WaitAsync(host.Admin, id, build);
        var (_, team) = await host.Admin.PostJsonAsync("/teams", """{"name":"other"}""");
        var (_, key) = await host.Admin.PostJsonAsync("/api-keys", $$"""{"name":"k","teamID":"{{team!["teamID"]}}"}""");
        var other = host.Client((string)key!["key"]!);

        AssertError(await other.GetJsonAsync($"/templates/{id}/files/{new string('a', 64)}"), 404);
        AssertError(await other.GetJsonAsync($"/templates/{id}/builds/{build}/status"), 404);
        AssertError(await other.GetJsonAsync($"/templates/{id}/tags"), 404);
        AssertError(await other.DeleteJsonAsync($"/templates/{id}"), 404);
        AssertError(await other.SendAsync(HttpMethod.Patch, $"/v2/templates/{id}", """{"public":true}"""), 404);
        AssertError(await other.PostJsonAsync("/templates/tags", """{"target":"mine:default","tags":["x"]}"""), 404);
        AssertError(await other.SendAsync(HttpMethod.Delete, "/templates/tags", """{"name":"mine","tags":["default"]}"""), 404);
        AssertError(await other.PostJsonAsync("/v3/templates", """{"name":"mine"}"""), 409);
        AssertError(await other.GetJsonAsync("/templates/aliases/mine"), 403);
        AssertError(await other.PostJsonAsync("/v2/sandboxes", """{"templateID":"mine"}"""), 403);
        AssertError(await other.PostJsonAsync("/v2/sandboxes", $$"""{"templateID":"{{id}}"}"""), 403);
        // The runtime template behind it is not a way around the registry.
        AssertError(await other.PostJsonAsync("/v2/sandboxes", $$"""{"templateID":"tb-{{build}}"}"""), 400, "not found");
        var (_, list) = await other.GetJsonAsync("/templates");
        Assert.Empty(list!.AsArray());
    }

    [Fact]
    public async Task ARuntimeWhoseTemplatesAreMadeElsewhere_RefusesBuildsAndSnapshots_InE2bShape()
    {
        // What the Kubernetes runtime answers: its templates are images built outside the portal.
        await using var host = await PortalHost.StartAsync(new FakeSandboxRuntime { ManagesTemplates = false });
        AssertError(await host.Admin.PostJsonAsync("/v3/templates", """{"name":"nope"}"""), 400, "container images made outside the portal");
        var sbx = await host.Admin.CreateSandboxAsync();
        AssertError(await host.Admin.PostJsonAsync($"/sandboxes/{sbx["sandboxID"]}/snapshots"), 400, "cannot snapshot");
        var (_, list) = await host.Admin.GetJsonAsync("/v2/templates");
        Assert.Empty(list!.AsArray());
    }

    [Fact]
    public async Task V2List_IsPagedByNextToken_AndATemplateListsItsBuildsNewestFirst()
    {
        await using var host = await PortalHost.StartAsync();
        var ids = new List<string>();
        foreach (var name in new[] { "page-a", "page-b", "page-c" })
        {
            var (id, build) = await BuildAsync(host.Admin, name);
            await WaitAsync(host.Admin, id, build);
            ids.Add(id);
        }
        var (_, again) = await BuildAsync(host.Admin, "page-a", """[{"type":"ENV","args":["A","2"],"force":false}]""");
        await WaitAsync(host.Admin, ids[0], again);

        // Pages of one, oldest first, each template once; the last page has no X-Next-Token.
        var seen = new List<string>();
        string? token = null;
        for (var i = 0; i < 5; i++)
        {
            using var response = await host.Admin.GetAsync("/v2/templates?limit=1" + (token is null ? "" : "&nextToken=" + Uri.EscapeDataString(token)), Ct);
            Assert.Equal(200, (int)response.StatusCode);
            var page = JsonNode.Parse(await response.Content.ReadAsStringAsync(Ct))!.AsArray();
            seen.AddRange(page.Select(t => (string)t!["templateID"]!));
            token = response.Headers.TryGetValues("X-Next-Token", out var v) ? v.Single() : null;
            if (token is null) break;
        }
        Assert.Equal(ids, seen);
        var (_, all) = await host.Admin.GetJsonAsync("/v2/templates");
        Assert.Equal(3, all!.AsArray().Count);
        Assert.Equal("ready", (string)all[0]!["buildStatus"]!);
        Assert.Equal(again, (string)all[0]!["buildID"]!);
        AssertError(await host.Admin.GetJsonAsync("/v2/templates?limit=0"), 400, "limit");
        AssertError(await host.Admin.GetJsonAsync("/v2/templates?limit=101"), 400, "limit");
        AssertError(await host.Admin.GetJsonAsync("/v2/templates?nextToken=Zm9v"), 400, "nextToken");

        var (s, withBuilds) = await host.Admin.GetJsonAsync($"/templates/{ids[0]}");
        Assert.Equal(200, s);
        Assert.Equal(ids[0], (string)withBuilds!["templateID"]!);
        Assert.Equal("page-a", (string)withBuilds["names"]![0]!);
        var builds = withBuilds["builds"]!.AsArray();
        Assert.Equal(2, builds.Count);
        Assert.Equal(again, (string)builds[0]!["buildID"]!); // newest first
        Assert.All(builds, b => Assert.Equal("ready", (string)b!["status"]!));
        Assert.All(builds, b => Assert.NotNull(b!["finishedAt"]));
        using (var first = await host.Admin.GetAsync($"/templates/{ids[0]}?limit=1", Ct))
        {
            var next = first.Headers.GetValues("X-Next-Token").Single();
            var (_, second) = await host.Admin.GetJsonAsync($"/templates/{ids[0]}?limit=1&nextToken={Uri.EscapeDataString(next)}");
            Assert.NotEqual(again, (string)second!["builds"]![0]!["buildID"]!);
        }

        // Another team sees none of it.
        var (_, team) = await host.Admin.PostJsonAsync("/teams", """{"name":"other"}""");
        var (_, key) = await host.Admin.PostJsonAsync("/api-keys", $$"""{"name":"k","teamID":"{{team!["teamID"]}}"}""");
        var other = host.Client((string)key!["key"]!);
        AssertError(await other.GetJsonAsync($"/templates/{ids[0]}"), 404);
        var (_, theirs) = await other.GetJsonAsync("/v2/templates");
        Assert.Empty(theirs!.AsArray());
        AssertError(await other.GetJsonAsync($"/v2/templates?teamID={team["teamID"]}x"), 403);
    }

    [Theory]
    [InlineData("")]
    [InlineData("Has Space")]
    [InlineData("a/b/c")]
    [InlineData("x:bad tag")]
    [InlineData("x:123e4567-e89b-12d3-a456-426614174000")]
    [InlineData("base")]
    public async Task BadNames_AreRefusedInE2bShape(string name)
    {
        await using var host = await PortalHost.StartAsync();
        var r = await host.Admin.PostJsonAsync("/v3/templates", new JsonObject { ["name"] = name }.ToJsonString());
        Assert.Contains(r.Status, new[] { 400, 409 });
        Assert.Equal(r.Status, (int)r.Body!["code"]!);
    }

    [Fact]
    public async Task StartingTwice_IsAConflict_AndAnUnknownBuildIsE2bsNotFound()
    {
        await using var host = await PortalHost.StartAsync();
        var (id, build) = await BuildAsync(host.Admin, "twice");
        AssertError(await host.Admin.PostJsonAsync($"/v2/templates/{id}/builds/{build}", """{"fromTemplate":"base","steps":[]}"""), 409);
        AssertError(await host.Admin.GetJsonAsync($"/templates/{id}/builds/nope/status"), 400, "Build 'nope' not found");
    }

    [Fact]
    public async Task FromImage_OnARuntimeThatCannotUnpackImages_FailsTheBuildClearly()
    {
        await using var host = await PortalHost.StartAsync();
        var (s, req) = await host.Admin.PostJsonAsync("/v3/templates", """{"name":"img"}""");
        var id = (string)req!["templateID"]!;
        var build = (string)req["buildID"]!;
        Assert.Equal(202, (await host.Admin.PostJsonAsync($"/v2/templates/{id}/builds/{build}", """{"fromImage":"debian:stable","steps":[],"force":false}""")).Status);
        var info = await WaitAsync(host.Admin, id, build);
        Assert.Equal("error", (string)info["status"]!);
        Assert.Contains("runtime does not build templates from images", (string)info["reason"]!["message"]!);
        Assert.Equal("base", (string)info["reason"]!["step"]!);
    }
}

public class TemplateBuildRestartTests
{
    [Fact]
    public async Task ABuildCutShortByARestart_IsMarkedFailedWithAClearReason_AndItsSandboxRemoved()
    {
        var dir = PortalHost.NewDataDir();
        try
        {
            var runtime = new FakeSandboxRuntime();
            string id, build;
            await using (var first = await PortalHost.StartAsync(runtime, dir, keepDataDir: true))
            {
                var (_, req) = await first.Admin.PostJsonAsync("/v3/templates", """{"name":"cut"}""");
                id = (string)req!["templateID"]!;
                build = (string)req["buildID"]!;
                // As the builder leaves it mid-step: building, its build sandbox running.
                await first.Admin.CreateSandboxAsync();
                var sandbox = runtime.Specs.Last().SandboxId;
                var store = first.Services.GetRequiredService<Portal.Core.Persistence.IPortalStore>();
                var row = (await store.FindTemplateBuildAsync(build, TestContext.Current.CancellationToken))!;
                await store.SaveTemplateBuildAsync(row with { Status = TemplateBuildStatus.Building, RequestJson = "{}", BuildSandboxId = sandbox }, TestContext.Current.CancellationToken);
            }
            await using var again = await PortalHost.StartAsync(runtime, dir, keepDataDir: true);
            var (s, info) = await again.Admin.GetJsonAsync($"/templates/{id}/builds/{build}/status");
            Assert.Equal(200, s);
            Assert.Equal("error", (string)info!["status"]!);
            Assert.Contains("restarted", (string)info["reason"]!["message"]!);
            Assert.Empty(await runtime.ListAsync(TestContext.Current.CancellationToken));
        }
        finally
        {
            Portal.Tests.Persistence.TestDatabase.Drop(dir);
            Directory.Delete(dir, recursive: true);
        }
    }
}
