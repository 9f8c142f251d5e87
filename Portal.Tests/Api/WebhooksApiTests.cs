using System.Text.Json.Nodes;
using static Portal.Tests.Api.Http;

namespace Portal.Tests.Api;

/// <summary><c>/events/webhooks</c> over real HTTP: the CRUD E2B documents, validation, tenancy, the private-target rule.</summary>
public class WebhooksApiTests
{
    private const string Events = """["sandbox.lifecycle.created","sandbox.lifecycle.killed"]""";

    private const string PublicUrl = "http://192.0.2.10:8080/hook"; // TEST-NET-1: public by the rule, never dialled here

    private static async Task<(HttpClient Client, string TeamId)> NewTeamAsync(PortalHost host, string name)
    {
        var (_, team) = await host.Admin.PostJsonAsync("/teams", $$"""{"name":"{{name}}"}""");
        var teamId = (string)team!["teamID"]!;
        var (_, key) = await host.Admin.PostJsonAsync("/api-keys", $$"""{"name":"k","teamID":"{{teamId}}"}""");
        return (host.Client((string)key!["key"]!), teamId);
    }

    [Fact]
    public async Task Crud_AsE2bDocumentsIt_SecretNeverReturned()
    {
        await using var host = await PortalHost.StartAsync();
        var (team, teamId) = await NewTeamAsync(host, "hooks");
        var created = await team.PostJsonAsync("/events/webhooks",
            $$"""{"name":"my hook","url":"{{PublicUrl}}","enabled":true,"events":{{Events}},"signatureSecret":"whsec-test-secret"}""");
        Assert.True(created.Status == 201, created.Body?.ToJsonString());
        var hook = created.Body!;
        var id = (string)hook["id"]!;
        Assert.True(Guid.TryParse(id, out _));
        Assert.Equal(teamId, (string)hook["teamID"]!);
        Assert.Equal(teamId, (string)hook["teamId"]!);
        Assert.Equal("my hook", (string)hook["name"]!);
        Assert.Equal(PublicUrl, (string)hook["url"]!);
        Assert.True((bool)hook["enabled"]!);
        Assert.Equal(["sandbox.lifecycle.created", "sandbox.lifecycle.killed"], hook["events"]!.AsArray().Select(e => (string)e!));
        Assert.EndsWith("Z", (string)hook["createdAt"]!);
        Assert.Null(hook["signatureSecret"]);
        Assert.DoesNotContain("whsec-test-secret", hook.ToJsonString());

        var (status, list) = await team.GetJsonAsync("/events/webhooks");
        Assert.Equal(200, status);
        Assert.Equal(id, (string)list!.AsArray().Single()!["id"]!);
        Assert.DoesNotContain("whsec-test-secret", list.ToJsonString());
        var one = await team.GetJsonAsync($"/events/webhooks/{id}");
        Assert.Equal(200, one.Status);
        Assert.Equal(hook.ToJsonString(), one.Body!.ToJsonString());

        // PATCH replaces the fields given, keeps the rest.
        var patched = await team.SendAsync(HttpMethod.Patch, $"/events/webhooks/{id}", """{"enabled":false,"events":["sandbox.lifecycle.paused"]}""");
        Assert.Equal(200, patched.Status);
        Assert.False((bool)patched.Body!["enabled"]!);
        Assert.Equal("my hook", (string)patched.Body["name"]!);
        Assert.Equal(PublicUrl, (string)patched.Body["url"]!);
        Assert.Equal(["sandbox.lifecycle.paused"], patched.Body["events"]!.AsArray().Select(e => (string)e!));
        Assert.Equal(patched.Body.ToJsonString(), (await team.GetJsonAsync($"/events/webhooks/{id}")).Body!.ToJsonString());
        Assert.Equal(200, (await team.SendAsync(HttpMethod.Patch, $"/events/webhooks/{id}", "{}")).Status);

        // Also under /kruise/api, like every control-plane route.
        Assert.Equal(200, (await team.GetJsonAsync($"/kruise/api/events/webhooks/{id}")).Status);
        Assert.Equal(200, (await team.GetJsonAsync($"/events/webhooks/{id}/deliveries")).Status);

        var deleted = await team.DeleteJsonAsync($"/events/webhooks/{id}");
        Assert.Equal(200, deleted.Status);
        AssertError(await team.GetJsonAsync($"/events/webhooks/{id}"), 404, "webhook");
        AssertError(await team.DeleteJsonAsync($"/events/webhooks/{id}"), 404);
        Assert.Empty((await team.GetJsonAsync("/events/webhooks")).Body!.AsArray());
    }

    [Theory]
    [InlineData("""{"events":["sandbox.lifecycle.created"],"signatureSecret":"12345678"}""", "'url' is required")]
    [InlineData("""{"url":"http://192.0.2.10/","events":["sandbox.lifecycle.created"]}""", "'signatureSecret' is required")]
    [InlineData("""{"url":"http://192.0.2.10/","signatureSecret":"12345678"}""", "'events' is required")]
    [InlineData("""{"url":"http://192.0.2.10/","events":[],"signatureSecret":"12345678"}""", "at least one")]
    [InlineData("""{"url":"http://192.0.2.10/","events":["sandbox.lifecycle.exploded"],"signatureSecret":"12345678"}""", "sandbox.lifecycle.exploded")]
    [InlineData("""{"url":"http://192.0.2.10/","events":"sandbox.lifecycle.created","signatureSecret":"12345678"}""", "'$.events'")]
    [InlineData("""{"url":"http://192.0.2.10/","events":["sandbox.lifecycle.created"],"signatureSecret":"short"}""", "signatureSecret")]
    [InlineData("""{"url":"ftp://192.0.2.10/","events":["sandbox.lifecycle.created"],"signatureSecret":"12345678"}""", "http:// or https://")]
    [InlineData("""{"url":"/hook","events":["sandbox.lifecycle.created"],"signatureSecret":"12345678"}""", "absolute")]
    [InlineData("""{"url":"http://u:p@192.0.2.10/","events":["sandbox.lifecycle.created"],"signatureSecret":"12345678"}""", "credentials")]
    [InlineData("""{"url":"http://192.0.2.10/","events":["sandbox.lifecycle.created"],"signatureSecret":"12345678","enabled":"yes"}""", "'$.enabled'")]
    public async Task BadInput_400_InE2bShape(string body, string message)
    {
        await using var host = await PortalHost.StartAsync();
        AssertError(await host.Admin.PostJsonAsync("/events/webhooks", body), 400, message);
        Assert.Empty((await host.Admin.GetJsonAsync("/events/webhooks")).Body!.AsArray());
    }

    [Fact]
    public async Task NameTooLong_AndBadPatches_400_NothingChanged()
    {
        await using var host = await PortalHost.StartAsync();
        AssertError(await host.Admin.PostJsonAsync("/events/webhooks",
            $$"""{"name":"{{new string('n', 129)}}","url":"{{PublicUrl}}","events":{{Events}},"signatureSecret":"12345678"}"""), 400, "'name'");
        var (_, hook) = await host.Admin.PostJsonAsync("/events/webhooks", $$"""{"url":"{{PublicUrl}}","events":{{Events}},"signatureSecret":"12345678"}""");
        var id = (string)hook!["id"]!;
        AssertError(await host.Admin.SendAsync(HttpMethod.Patch, $"/events/webhooks/{id}", """{"events":["nope"]}"""), 400, "nope");
        AssertError(await host.Admin.SendAsync(HttpMethod.Patch, $"/events/webhooks/{id}", """{"url":"http://127.0.0.1:9/x"}"""), 400, "loopback");
        AssertError(await host.Admin.SendAsync(HttpMethod.Patch, $"/events/webhooks/{id}", """{"signatureSecret":"x"}"""), 400, "signatureSecret");
        AssertError(await host.Admin.SendAsync(HttpMethod.Patch, $"/events/webhooks/{id}", "[1]"), 400);
        Assert.Equal(hook.ToJsonString(), (await host.Admin.GetJsonAsync($"/events/webhooks/{id}")).Body!.ToJsonString());
    }

    [Fact]
    public async Task AnotherTeamsWebhook_IsNotFound_AdminSeesAll()
    {
        await using var host = await PortalHost.StartAsync();
        var (a, aTeam) = await NewTeamAsync(host, "a");
        var (b, _) = await NewTeamAsync(host, "b");
        var (_, hook) = await a.PostJsonAsync("/events/webhooks", $$"""{"url":"{{PublicUrl}}","events":{{Events}},"signatureSecret":"12345678"}""");
        var id = (string)hook!["id"]!;
        Assert.Empty((await b.GetJsonAsync("/events/webhooks")).Body!.AsArray());
        AssertError(await b.GetJsonAsync($"/events/webhooks/{id}"), 404);
        AssertError(await b.SendAsync(HttpMethod.Patch, $"/events/webhooks/{id}", """{"enabled":false}"""), 404);
        AssertError(await b.DeleteJsonAsync($"/events/webhooks/{id}"), 404);
        AssertError(await b.GetJsonAsync($"/events/webhooks/{id}/deliveries"), 404);
        Assert.True((bool)(await a.GetJsonAsync($"/events/webhooks/{id}")).Body!["enabled"]!);

        var all = (await host.Admin.GetJsonAsync("/events/webhooks")).Body!.AsArray();
        Assert.Equal(aTeam, (string)all.Single(h => (string)h!["id"]! == id)!["teamID"]!);
        Assert.Equal(200, (await host.Admin.GetJsonAsync($"/events/webhooks/{id}")).Status);
        AssertError(await host.Client(null).GetJsonAsync("/events/webhooks"), 401);
        AssertError(await host.Client("e2b_0000000000000000000000000000000000000bad").PostJsonAsync("/events/webhooks", "{}"), 401);
    }

    [Theory]
    [InlineData("http://127.0.0.1:8080/hook", "loopback")]
    [InlineData("http://[::1]:8080/hook", "loopback")]
    [InlineData("http://10.1.2.3/hook", "private")]
    [InlineData("http://192.168.0.10/hook", "private")]
    [InlineData("http://169.254.169.254/latest/meta-data/", "link-local")]
    [InlineData("http://localhost:8080/hook", "loopback")]
    [InlineData("http://100.64.0.1/hook", "CGNAT")]
    [InlineData("http://[fd00::1]/hook", "fc00::/7")]
    public async Task PrivateTargets_RefusedByDefault(string url, string why)
    {
        await using var host = await PortalHost.StartAsync();
        AssertError(await host.Admin.PostJsonAsync("/events/webhooks", $$"""{"url":"{{url}}","events":{{Events}},"signatureSecret":"12345678"}"""), 400, why);
        await using var allowing = await PortalHost.StartAsync(config: new Dictionary<string, string?> { ["Portal:Webhooks:AllowPrivateTargets"] = "true" });
        Assert.Equal(201, (await allowing.Admin.PostJsonAsync("/events/webhooks", $$"""{"url":"{{url}}","events":{{Events}},"signatureSecret":"12345678"}""")).Status);
    }

    [Theory]
    [InlineData("Portal:Webhooks:RetryInitialDelay", "00:00:00")]
    [InlineData("Portal:Webhooks:MaxConcurrency", "0")]
    [InlineData("Portal:Webhooks:GiveUpAfter", "-00:00:01")]
    [InlineData("Portal:Webhooks:DeliveryLogSize", "0")]
    public async Task BadOptions_FailAtStart_NamingTheKey(string key, string value)
    {
        var e = await Assert.ThrowsAnyAsync<Exception>(() => PortalHost.StartAsync(config: new Dictionary<string, string?> { [key] = value }));
        Assert.Contains(key, e.Message);
    }
}
