using Microsoft.Extensions.Time.Testing;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Portal.Core.Sandboxes;
using static Portal.Tests.Api.Http;

namespace Portal.Tests.Api;

/// <summary>E2B's lifecycle events API over real HTTP: what each change records, every query parameter, tenancy.</summary>
public class EventsApiTests
{
    private static async Task<JsonArray> EventsAsync(HttpClient c, string url)
    {
        var (status, body) = await c.GetJsonAsync(url);
        Assert.True(status == 200, $"{url}: {status} {body}");
        return body!.AsArray();
    }

    private static string[] Types(JsonArray events) => events.Select(e => ((string)e!["type"]!)["sandbox.lifecycle.".Length..]).ToArray();

    [Fact]
    public async Task ALifecycle_RecordsOneEventPerChange_InE2bShape_QueryableEveryWay()
    {
        await using var host = await PortalHost.StartAsync();
        var id = (string)(await host.Admin.CreateSandboxAsync("""{"templateID":"base","timeout":600,"metadata":{"env":"dev"}}"""))["sandboxID"]!;
        Assert.Equal(204, (await host.Admin.PostJsonAsync($"/sandboxes/{id}/timeout", """{"timeout":900}""")).Status);
        Assert.Equal(204, (await host.Admin.PostJsonAsync($"/sandboxes/{id}/pause")).Status);
        Assert.Equal(201, (await host.Admin.PostJsonAsync($"/v2/sandboxes/{id}/connect", """{"timeout":60}""")).Status);
        Assert.Equal(204, (await host.Admin.DeleteJsonAsync($"/sandboxes/{id}")).Status);

        var all = await EventsAsync(host.Admin, $"/events/sandboxes/{id}");
        Assert.Equal(["killed", "resumed", "paused", "updated", "created"], Types(all)); // newest first
        foreach (var e in all)
        {
            Assert.Equal("v2", (string)e!["version"]!);
            Assert.True(Guid.TryParse((string)e["id"]!, out _));
            Assert.Equal(id, (string)e["sandboxId"]!);
            Assert.Equal("base", (string)e["sandboxTemplateId"]!);
            Assert.StartsWith("team_", (string)e["sandboxTeamId"]!);
            Assert.True(Guid.TryParse((string)e["sandboxBuildId"]!, out _));
            Assert.EndsWith("Z", (string)e["timestamp"]!);
            Assert.Equal("dev", (string)e["eventData"]!["sandbox_metadata"]!["env"]!);
        }
        var (killed, resumed, paused, updated, created) = (all[0]!, all[1]!, all[2]!, all[3]!, all[4]!);
        Assert.Equal("request", (string)killed["eventData"]!["kill_reason"]!);
        Assert.Equal(512, (int)killed["eventData"]!["execution"]!["memory_mb"]!);
        Assert.True((long)paused["eventData"]!["execution"]!["execution_time"]! >= 0);
        Assert.True(DateTimeOffset.Parse((string)updated["eventData"]!["set_timeout"]!) > DateTimeOffset.UtcNow.AddSeconds(800));
        // A resume starts a new execution; created and paused belong to the first one.
        Assert.Equal((string)created["sandboxExecutionId"]!, (string)paused["sandboxExecutionId"]!);
        Assert.NotEqual((string)paused["sandboxExecutionId"]!, (string)resumed["sandboxExecutionId"]!);
        Assert.Equal((string)resumed["sandboxExecutionId"]!, (string)killed["sandboxExecutionId"]!);

        Assert.Equal(["created", "updated", "paused", "resumed", "killed"], Types(await EventsAsync(host.Admin, $"/events/sandboxes/{id}?orderAsc=true")));
        Assert.Equal(["resumed", "paused"], Types(await EventsAsync(host.Admin, $"/events/sandboxes/{id}?offset=1&limit=2")));
        Assert.Equal(["killed", "paused"], Types(await EventsAsync(host.Admin, $"/events/sandboxes/{id}?types=sandbox.lifecycle.paused&types=sandbox.lifecycle.killed")));
        Assert.Equal(["paused", "killed"], Types(await EventsAsync(host.Admin, $"/events/sandboxes/{id}?types=sandbox.lifecycle.paused,sandbox.lifecycle.killed&orderAsc=true")));
        Assert.Equal(["created"], Types(await EventsAsync(host.Admin, $"/events/sandboxes?types=sandbox.lifecycle.created")));
        Assert.Equal(Types(all), Types(await EventsAsync(host.Admin, $"/kruise/api/events/sandboxes/{id}")));
        // The logs route reads the same rows.
        var (_, logs) = await host.Admin.GetJsonAsync($"/v2/sandboxes/{id}/logs");
        Assert.True(logs!["logs"]!.AsArray().Count >= 5);
    }

    [Fact]
    public async Task AnotherTeam_SeesNoneOfThem()
    {
        await using var host = await PortalHost.StartAsync();
        var id = (string)(await host.Admin.CreateSandboxAsync())["sandboxID"]!;
        var (_, team) = await host.Admin.PostJsonAsync("/teams", """{"name":"other"}""");
        var (_, key) = await host.Admin.PostJsonAsync("/api-keys", $$"""{"name":"k","teamID":"{{(string)team!["teamID"]!}}"}""");
        var other = host.Client((string)key!["key"]!);
        Assert.Empty(await EventsAsync(other, "/events/sandboxes"));
        AssertError(await other.GetJsonAsync($"/events/sandboxes/{id}"), 404);
        Assert.Single(await EventsAsync(host.Admin, "/events/sandboxes"));
    }

    [Fact]
    public async Task ADeadline_RecordsKillReasonTimeout()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var host = await PortalHost.StartAsync(clock: clock);
        using var changes = host.FollowChanges();
        var id = (string)(await host.Admin.CreateSandboxAsync("""{"templateID":"base","timeout":1}"""))["sandboxID"]!;
        clock.Advance(TimeSpan.FromSeconds(2));
        await changes.NextAsync(id, c => c.IsDelete);
        // The event is written in the same transaction as the state it records: there when the change is.
        var events = await EventsAsync(host.Admin, $"/events/sandboxes/{id}");
        Assert.Equal(["killed", "created"], Types(events));
        Assert.Equal("timeout", (string)events[0]!["eventData"]!["kill_reason"]!);
    }

    [Theory]
    [InlineData("limit=0", "limit")]
    [InlineData("limit=101", "limit")]
    [InlineData("offset=-1", "offset")]
    [InlineData("orderAsc=yes", "orderAsc")]
    [InlineData("types=sandbox.lifecycle.exploded", "sandbox.lifecycle.exploded")]
    public async Task BadQueries_400(string query, string message)
    {
        await using var host = await PortalHost.StartAsync();
        AssertError(await host.Admin.GetJsonAsync("/events/sandboxes?" + query), 400, message);
        AssertError(await host.Client(null).GetJsonAsync("/events/sandboxes"), 401);
        AssertError(await host.Admin.GetJsonAsync("/events/sandboxes/nosuchsandbox"), 404);
    }

    [Fact]
    public async Task Retention_DropsEventsPastIt()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var host = await PortalHost.StartAsync(clock: clock);
        var id = (string)(await host.Admin.CreateSandboxAsync("""{"templateID":"base","timeout":2592000}"""))["sandboxID"]!;
        clock.Advance(TimeSpan.FromDays(6));
        Assert.Equal(204, (await host.Admin.PostJsonAsync($"/sandboxes/{id}/timeout", """{"timeout":2592000}""")).Status);
        clock.Advance(TimeSpan.FromDays(2));
        var svc = host.Services.GetRequiredService<SandboxService>();
        // The hourly retention pass has run on the advanced clock too; one more changes nothing.
        await svc.DropOldLogsAsync(TimeSpan.FromDays(7), Ct);
        Assert.Equal(["updated"], Types(await EventsAsync(host.Admin, $"/events/sandboxes/{id}")));
    }
}
