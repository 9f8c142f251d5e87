using Microsoft.Extensions.DependencyInjection;
using System.Text.Json.Nodes;
using Portal.Core.Runtime;
using static Portal.Tests.Api.Http;

namespace Portal.Tests.Api;

/// <summary>POST /sandboxes/{id}/snapshots, GET /snapshots, DELETE /templates/{id}, POST /sandboxes/{id}/fork over the fake runtime.</summary>
public class SnapshotsApiTests
{
    [Fact]
    public async Task Snapshot_IsListedPagedUsableAsTemplate_AndDeleted()
    {
        await using var host = await PortalHost.StartAsync();
        var alpha = await ApiKeysTests.NewTeamClientAsync(host, "Alpha Team");
        var sbx = (string)(await alpha.CreateSandboxAsync())["sandboxID"]!;

        var (s1, unnamed) = await alpha.PostJsonAsync($"/sandboxes/{sbx}/snapshots", "{}");
        Assert.Equal(201, s1);
        var unnamedId = (string)unnamed!["snapshotID"]!;
        Assert.Matches("^[a-z0-9]{20}:default$", unnamedId);
        Assert.Empty(unnamed["names"]!.AsArray());

        var (s2, named) = await alpha.PostJsonAsync($"/sandboxes/{sbx}/snapshots", """{"name":"My-Snap"}""");
        Assert.Equal(201, s2);
        Assert.Equal("alpha-team/my-snap:default", (string)named!["snapshotID"]!);
        Assert.Equal("alpha-team/my-snap", (string)named["names"]![0]!);

        // Paged newest first, like the other paged lists.
        using var page1 = await alpha.GetAsync("/snapshots?limit=1", Ct);
        var token = Assert.Single(page1.Headers.GetValues("X-Next-Token"));
        var first = JsonNode.Parse(await page1.Content.ReadAsStringAsync(Ct))!.AsArray();
        Assert.Equal("alpha-team/my-snap:default", (string)Assert.Single(first)!["snapshotID"]!);
        using var page2 = await alpha.GetAsync($"/snapshots?limit=1&nextToken={token}", Ct);
        Assert.False(page2.Headers.Contains("X-Next-Token"));
        Assert.Equal(unnamedId, (string)Assert.Single(JsonNode.Parse(await page2.Content.ReadAsStringAsync(Ct))!.AsArray())!["snapshotID"]!);
        Assert.Equal(2, (await alpha.GetJsonAsync($"/snapshots?sandboxID={sbx}")).Body!.AsArray().Count);
        Assert.Single((await alpha.GetJsonAsync("/snapshots?name=my-snap")).Body!.AsArray());
        Assert.Single((await alpha.GetJsonAsync("/snapshots?name=alpha-team/my-snap:default")).Body!.AsArray());
        Assert.Empty((await alpha.GetJsonAsync("/snapshots?name=my-snap:v2")).Body!.AsArray());
        Assert.Empty((await alpha.GetJsonAsync("/snapshots?name=nope")).Body!.AsArray());
        AssertError(await alpha.GetJsonAsync("/snapshots?nextToken=garbage"), 400);

        // Usable as a templateID, by ID or by name; the sandbox starts from the copy.
        var fromId = await alpha.CreateSandboxAsync($$"""{"templateID":"{{unnamedId}}"}""");
        Assert.Equal(unnamedId.Split(':')[0], host.Runtime.Specs.Last().TemplateId);
        await alpha.CreateSandboxAsync("""{"templateID":"my-snap"}""");
        Assert.Equal(host.Runtime.MadeTemplates.Single(t => t != unnamedId.Split(':')[0]), host.Runtime.Specs.Last().TemplateId);
        Assert.Equal((string)fromId["templateID"]!, unnamedId.Split(':')[0]);

        // The source recorded E2B's checkpointed event.
        var events = (await alpha.GetJsonAsync($"/events/sandboxes/{sbx}?types=sandbox.lifecycle.checkpointed")).Body!.AsArray();
        Assert.Equal(2, events.Count);

        Assert.Equal(204, (await alpha.DeleteJsonAsync($"/templates/{unnamedId}")).Status);
        AssertError(await alpha.DeleteJsonAsync($"/templates/{unnamedId}"), 404);
        AssertError(await alpha.PostJsonAsync("/v2/sandboxes", $$"""{"templateID":"{{unnamedId}}"}"""), 400, "not found");
        Assert.Equal(204, (await alpha.DeleteJsonAsync("/kruise/api/templates/alpha-team%2Fmy-snap:default")).Status);
        Assert.Empty((await alpha.GetJsonAsync("/kruise/api/snapshots")).Body!.AsArray());
        // The sandboxes started from them still run (the runtime keeps their files).
        Assert.Equal(200, (await alpha.GetJsonAsync($"/sandboxes/{fromId["sandboxID"]}")).Status);
    }

    [Fact]
    public async Task Name_TakenAgain_PointsAtTheNewCopy()
    {
        await using var host = await PortalHost.StartAsync();
        var alpha = await ApiKeysTests.NewTeamClientAsync(host, "alpha");
        var sbx = (string)(await alpha.CreateSandboxAsync())["sandboxID"]!;
        await alpha.PostJsonAsync($"/sandboxes/{sbx}/snapshots", """{"name":"n"}""");
        var old = Assert.Single(host.Runtime.MadeTemplates);
        await alpha.PostJsonAsync($"/sandboxes/{sbx}/snapshots", """{"name":"n"}""");
        Assert.Single((await alpha.GetJsonAsync("/snapshots")).Body!.AsArray());
        // The replaced copy is gone from the runtime too (nothing stacks on it).
        Assert.DoesNotContain(old, host.Runtime.MadeTemplates);
        await alpha.CreateSandboxAsync("""{"templateID":"alpha/n:default"}""");
        Assert.Equal(Assert.Single(host.Runtime.MadeTemplates), host.Runtime.Specs.Last().TemplateId);
        AssertError(await alpha.PostJsonAsync($"/sandboxes/{sbx}/snapshots", """{"name":"other/n"}"""), 400, "namespace");
        AssertError(await alpha.PostJsonAsync($"/sandboxes/{sbx}/snapshots", """{"name":"bad name!"}"""), 400, "Invalid name");
    }

    [Fact]
    public async Task AnotherTeamsSandboxesAndSnapshots_AnswerAsE2bDoes()
    {
        await using var host = await PortalHost.StartAsync(new FakeSandboxRuntime { RealEnvd = true });
        var alpha = await ApiKeysTests.NewTeamClientAsync(host, "alpha");
        var beta = await ApiKeysTests.NewTeamClientAsync(host, "beta");
        var sbx = (string)(await alpha.CreateSandboxAsync())["sandboxID"]!;
        var snap = (string)(await alpha.PostJsonAsync($"/sandboxes/{sbx}/snapshots", """{"name":"secret"}""")).Body!["snapshotID"]!;
        var rawId = Assert.Single(host.Runtime.MadeTemplates);

        AssertError(await beta.PostJsonAsync($"/sandboxes/{sbx}/snapshots", "{}"), 404);
        AssertError(await beta.PostJsonAsync($"/sandboxes/{sbx}/fork", "{}"), 404);
        Assert.Empty((await beta.GetJsonAsync("/snapshots")).Body!.AsArray());
        Assert.Empty((await beta.GetJsonAsync($"/snapshots?sandboxID={sbx}")).Body!.AsArray());
        Assert.Empty((await beta.GetJsonAsync($"/snapshots?name={rawId}")).Body!.AsArray());
        AssertError(await beta.GetJsonAsync("/snapshots?name=alpha/secret"), 400, "namespace");
        // Starting from it answers exactly like an unknown template, by raw ID or by name.
        var unknown = await beta.PostJsonAsync("/v2/sandboxes", """{"templateID":"nosuchtemplate1234567"}""");
        foreach (var reference in new[] { snap, rawId, rawId + ":default", "alpha/secret" })
        {
            var r = await beta.PostJsonAsync("/v2/sandboxes", $$"""{"templateID":"{{reference}}"}""");
            Assert.Equal(unknown.Status, r.Status);
        }
        // Deleting it: forbidden by ID or its namespace (E2B's 403), unknown by a bare name in one's own namespace.
        AssertError(await beta.DeleteJsonAsync($"/templates/{rawId}"), 403);
        AssertError(await beta.DeleteJsonAsync("/templates/alpha/secret"), 403);
        AssertError(await beta.DeleteJsonAsync("/templates/alpha%2Fsecret"), 403);
        AssertError(await beta.DeleteJsonAsync("/templates/secret"), 404);
        Assert.Single((await alpha.GetJsonAsync("/snapshots")).Body!.AsArray());
        Assert.Contains(rawId, host.Runtime.MadeTemplates);
    }

    [Fact]
    public async Task Fork_StartsIndependentCopiesWithTheSourcesSettings_AndDropsTheCopy()
    {
        await using var host = await PortalHost.StartAsync(new FakeSandboxRuntime { RealEnvd = true });
        var alpha = await ApiKeysTests.NewTeamClientAsync(host, "alpha");
        var src = await alpha.CreateSandboxAsync("""{"templateID":"base-alias","metadata":{"k":"v"},"envVars":{"FOO":"bar"},"autoPause":true}""");
        var id = (string)src["sandboxID"]!;

        using var res = await alpha.PostAsync($"/sandboxes/{id}/fork", Json("""{"count":3,"timeout":60}"""), Ct);
        Assert.Equal(201, (int)res.StatusCode);
        Assert.Equal("filesystem", Assert.Single(res.Headers.GetValues("X-Portal-Fork-State")));
        var forks = JsonNode.Parse(await res.Content.ReadAsStringAsync(Ct))!.AsArray();
        Assert.Equal(3, forks.Count);
        var ids = forks.Select(f => (string)f!["sandbox"]!["sandboxID"]!).ToHashSet();
        Assert.Equal(3, ids.Count);
        Assert.DoesNotContain(id, ids);
        foreach (var f in forks)
        {
            Assert.Null(f!["error"]);
            var sb = f["sandbox"]!;
            Assert.Equal("base", (string)sb["templateID"]!);
            Assert.False(string.IsNullOrEmpty((string?)sb["envdAccessToken"]));
            Assert.NotEqual((string)src["envdAccessToken"]!, (string)sb["envdAccessToken"]!);
            var detail = (await alpha.GetJsonAsync($"/sandboxes/{sb["sandboxID"]}")).Body!;
            Assert.Equal("v", (string)detail["metadata"]!["k"]!);
            Assert.Equal("running", (string)detail["state"]!);
        }
        var specs = host.Runtime.Specs.Where(s => ids.Contains(s.SandboxId)).ToList();
        Assert.Equal(3, specs.Count);
        Assert.All(specs, s => Assert.Equal("bar", s.EnvVars["FOO"]));
        // One copy for all three, never listed nor usable by its ID, kept while a fork runs on it.
        var copy = Assert.Single(specs.Select(s => s.TemplateId).Distinct());
        Assert.Empty((await alpha.GetJsonAsync("/snapshots")).Body!.AsArray());
        AssertError(await alpha.PostJsonAsync("/v2/sandboxes", $$"""{"templateID":"{{copy}}"}"""), 400, "not found");
        var snapshots = host.Services.GetRequiredService<Portal.Core.Snapshots.SnapshotService>();
        foreach (var fork in ids.Skip(1)) Assert.Equal(204, (await alpha.DeleteJsonAsync($"/sandboxes/{fork}")).Status);
        await snapshots.TidyAsync(Ct);
        Assert.NotNull(await host.Runtime.Templates.FindAsync(copy, Ct));
        Assert.Equal(204, (await alpha.DeleteJsonAsync($"/sandboxes/{ids.First()}")).Status);
        await snapshots.TidyAsync(Ct);
        Assert.Null(await host.Runtime.Templates.FindAsync(copy, Ct));
        // The source runs on; it recorded one checkpoint, each fork its creation.
        Assert.Equal("running", (string)(await alpha.GetJsonAsync($"/sandboxes/{id}")).Body!["state"]!);
        Assert.Single((await alpha.GetJsonAsync($"/events/sandboxes/{id}?types=sandbox.lifecycle.checkpointed")).Body!.AsArray());
        Assert.Single((await alpha.GetJsonAsync($"/events/sandboxes/{ids.First()}?types=sandbox.lifecycle.created")).Body!.AsArray());
    }

    [Fact]
    public async Task Fork_OneFailing_IsItsOwnErrorItem()
    {
        var runtime = new FakeSandboxRuntime { RealEnvd = true };
        await using var host = await PortalHost.StartAsync(runtime);
        var id = (string)(await host.Admin.CreateSandboxAsync())["sandboxID"]!;
        runtime.FailOneCreateWith = new RuntimeCapacityException("no room for one more");
        var (status, forks) = await host.Admin.PostJsonAsync($"/sandboxes/{id}/fork", """{"count":3}""");
        Assert.Equal(201, status);
        Assert.Equal(3, forks!.AsArray().Count);
        var failed = Assert.Single(forks.AsArray(), f => f!["error"] is not null)!;
        Assert.Null(failed["sandbox"]);
        Assert.Equal(429, (int)failed["error"]!["code"]!);
        Assert.Contains("no room", (string)failed["error"]!["message"]!);
        Assert.Equal(2, forks.AsArray().Count(f => f!["sandbox"] is not null));
    }

    [Fact]
    public async Task Fork_And_Snapshot_RefuseBadInput()
    {
        await using var host = await PortalHost.StartAsync(new FakeSandboxRuntime { RealEnvd = true });
        var id = (string)(await host.Admin.CreateSandboxAsync())["sandboxID"]!;
        AssertError(await host.Admin.PostJsonAsync($"/sandboxes/{id}/fork", """{"count":0}"""), 400, "at least 1");
        AssertError(await host.Admin.PostJsonAsync($"/sandboxes/{id}/fork", """{"count":-1}"""), 400, "at least 1");
        AssertError(await host.Admin.PostJsonAsync($"/sandboxes/{id}/fork", """{"count":101}"""), 400, "greater than 100");
        AssertError(await host.Admin.PostJsonAsync($"/sandboxes/{id}/fork", """{"count":99999999999999999999}"""), 400);
        AssertError(await host.Admin.PostJsonAsync($"/sandboxes/{id}/fork", """{"count":"3"}"""), 400);
        AssertError(await host.Admin.PostJsonAsync($"/sandboxes/{id}/fork", """{"timeout":-5}"""), 400, "timeout");
        Assert.Empty(host.Runtime.MadeTemplates);

        Assert.Equal(204, (await host.Admin.PostJsonAsync($"/sandboxes/{id}/pause", "{}")).Status);
        AssertError(await host.Admin.PostJsonAsync($"/sandboxes/{id}/fork", "{}"), 409, "paused");
        // A paused sandbox can still be snapshotted: it is already frozen, and stays paused.
        Assert.Equal(201, (await host.Admin.PostJsonAsync($"/sandboxes/{id}/snapshots", "{}")).Status);
        Assert.Equal("paused", (string)(await host.Admin.GetJsonAsync($"/sandboxes/{id}")).Body!["state"]!);

        Assert.Equal(204, (await host.Admin.DeleteJsonAsync($"/sandboxes/{id}")).Status);
        AssertError(await host.Admin.PostJsonAsync($"/sandboxes/{id}/snapshots", "{}"), 404);
        AssertError(await host.Admin.PostJsonAsync($"/sandboxes/{id}/fork", "{}"), 404);
        AssertError(await host.Admin.PostJsonAsync("/sandboxes/NOT-AN-ID/fork", "{}"), 404);
        // The snapshot outlives its sandbox.
        Assert.Single((await host.Admin.GetJsonAsync($"/snapshots?sandboxID={id}")).Body!.AsArray());
    }
}
