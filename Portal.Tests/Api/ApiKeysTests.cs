using Microsoft.Extensions.Time.Testing;
using System.Text;
using System.Text.Json.Nodes;
using Portal.Core.Auth;
using static Portal.Tests.Api.Http;

namespace Portal.Tests.Api;

public class ApiKeysTests
{
    [Fact]
    public async Task MissingInvalidKeys_401InE2bShape()
    {
        await using var host = await PortalHost.StartAsync();
        AssertError(await host.Client(null).GetJsonAsync("/v2/sandboxes"), 401, "missing API key");
        AssertError(await host.Client("e2b_0000000000000000000000000000000000000000").GetJsonAsync("/v2/sandboxes"), 401, "invalid API key");
        AssertError(await host.Client("not-a-key").GetJsonAsync("/teams"), 401);
        AssertError(await host.Client(PortalHost.AdminKey.ToUpperInvariant()).GetJsonAsync("/api-keys"), 401);
    }

    [Fact]
    public async Task CreateKey_ShownOnce_StoredOnlyAsHash()
    {
        await using var host = await PortalHost.StartAsync();
        var (status, created) = await host.Admin.PostJsonAsync("/api-keys", """{"name":"ci"}""");
        Assert.Equal(201, status);
        var secret = (string)created!["key"]!;
        Assert.Matches("^e2b_[0-9a-f]{40}$", secret);
        Assert.Equal(secret[^4..], (string)created["mask"]!["maskedValueSuffix"]!);
        Assert.Equal("ci", (string)created["name"]!);
        Assert.NotNull(created["createdBy"]);

        // The new key works, and listing never shows a secret again.
        Assert.Equal(200, (await host.Client(secret).GetJsonAsync("/v2/sandboxes")).Status);
        var (_, list) = await host.Admin.GetJsonAsync("/api-keys");
        Assert.DoesNotContain(secret, list!.ToJsonString());
        Assert.All(list.AsArray(), k => Assert.Null(k!["key"]));
        var listed = list.AsArray().Single(k => (string)k!["id"]! == (string)created["id"]!);
        Assert.NotNull(listed!["lastUsed"]);

        // Neither the database nor its WAL holds the plaintext; the hash is there.
        await host.StopAsync();
        var text = await Persistence.StoredText.AllAsync(host.DataDir);
        Assert.DoesNotContain(secret, text);
        Assert.DoesNotContain(secret[4..], text);
        Assert.DoesNotContain(PortalHost.AdminKey[4..], text);
        Assert.Contains(ApiKeyFormat.Hash(secret), text);
    }

    [Fact]
    public async Task Revoke_TakesEffectAtOnce()
    {
        await using var host = await PortalHost.StartAsync();
        var created = (await host.Admin.PostJsonAsync("/api-keys", """{"name":"temp"}""")).Body!;
        var key = host.Client((string)created["key"]!);
        Assert.Equal(200, (await key.GetJsonAsync("/v2/sandboxes")).Status);
        Assert.Equal(204, (await host.Admin.DeleteJsonAsync($"/api-keys/{created["id"]}")).Status);
        AssertError(await key.GetJsonAsync("/v2/sandboxes"), 401, "revoked");
        AssertError(await host.Admin.DeleteJsonAsync($"/api-keys/{created["id"]}"), 404);
        Assert.DoesNotContain((string)created["id"]!, (await host.Admin.GetJsonAsync("/api-keys")).Body!.ToJsonString());
    }

    [Fact]
    public async Task Expiry_IsEnforced()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var host = await PortalHost.StartAsync(clock: clock);
        var expires = clock.GetUtcNow().AddHours(1).ToString("O");
        var created = (await host.Admin.PostJsonAsync("/api-keys", $$"""{"name":"short","expiresAt":"{{expires}}"}""")).Body!;
        Assert.NotNull(created["expiresAt"]);
        var key = host.Client((string)created["key"]!);
        Assert.Equal(200, (await key.GetJsonAsync("/v2/sandboxes")).Status);
        clock.Advance(TimeSpan.FromHours(2));
        AssertError(await key.GetJsonAsync("/v2/sandboxes"), 401, "expired");
        AssertError(await host.Admin.PostJsonAsync("/api-keys", """{"name":"past","expiresAt":"2000-01-01T00:00:00Z"}"""), 400, "future");
    }

    [Fact]
    public async Task BadKeyRequests_400()
    {
        await using var host = await PortalHost.StartAsync();
        AssertError(await host.Admin.PostJsonAsync("/api-keys", "{}"), 400, "name");
        AssertError(await host.Admin.PostJsonAsync("/api-keys", """{"name":7}"""), 400, "name");
        AssertError(await host.Admin.PostJsonAsync("/api-keys", """{"name":"x","expiresAt":"soon"}"""), 400, "expiresAt");
        AssertError(await host.Admin.PostJsonAsync("/api-keys", """{"name":"x","teamID":"team_nope"}"""), 404, "team");
        AssertError(await host.Admin.PostJsonAsync("/teams", """{"name":""}"""), 400, "name");
    }

    [Fact]
    public async Task LastAdminKey_CannotBeRevoked()
    {
        await using var host = await PortalHost.StartAsync();
        var keys = (await host.Admin.GetJsonAsync("/api-keys")).Body!.AsArray();
        var adminKeyId = (string)keys.Single()!["id"]!;
        AssertError(await host.Admin.DeleteJsonAsync($"/api-keys/{adminKeyId}"), 409, "last active admin key");
    }

    [Fact]
    public async Task Teams_AdminCreatesTeamsAndKeys_TeamsSeeOnlyThemselves()
    {
        await using var host = await PortalHost.StartAsync();
        var (ts, team) = await host.Admin.PostJsonAsync("/teams", """{"name":"alpha"}""");
        Assert.Equal(201, ts);
        var teamId = (string)team!["teamID"]!;
        var (ks, key) = await host.Admin.PostJsonAsync("/api-keys", $$"""{"name":"alpha-1","teamID":"{{teamId}}"}""");
        Assert.Equal(201, ks);
        Assert.Equal(teamId, (string)key!["teamID"]!);
        var alpha = host.Client((string)key["key"]!);

        var (_, teams) = await alpha.GetJsonAsync("/teams");
        var only = Assert.Single(teams!.AsArray());
        Assert.Equal(teamId, (string)only!["teamID"]!);
        Assert.True((bool)only["isDefault"]!);
        Assert.Equal(2, (await host.Admin.GetJsonAsync("/teams")).Body!.AsArray().Count);

        AssertError(await alpha.PostJsonAsync("/teams", """{"name":"beta"}"""), 403, "admin");
        var adminTeam = (string)(await host.Admin.GetJsonAsync("/teams")).Body!.AsArray().Single(t => (bool)t!["isAdmin"]!)!["teamID"]!;
        AssertError(await alpha.PostJsonAsync("/api-keys", $$"""{"name":"sneaky","teamID":"{{adminTeam}}"}"""), 404, "team");

        // A team member can issue keys for its own team and sees only its team's keys.
        var (s2, own) = await alpha.PostJsonAsync("/api-keys", """{"name":"alpha-2"}""");
        Assert.Equal(201, s2);
        Assert.Equal(teamId, (string)own!["teamID"]!);
        var alphaKeys = (await alpha.GetJsonAsync("/api-keys")).Body!.AsArray();
        Assert.Equal(2, alphaKeys.Count);
        Assert.All(alphaKeys, k => Assert.Equal(teamId, (string)k!["teamID"]!));
        Assert.Equal(3, (await host.Admin.GetJsonAsync("/api-keys")).Body!.AsArray().Count);
        Assert.Equal(2, (await host.Admin.GetJsonAsync($"/api-keys?teamID={teamId}")).Body!.AsArray().Count);

        // ...and cannot revoke the admin's keys.
        var adminKeyId = (string)(await host.Admin.GetJsonAsync($"/api-keys?teamID={adminTeam}")).Body!.AsArray().Single()!["id"]!;
        AssertError(await alpha.DeleteJsonAsync($"/api-keys/{adminKeyId}"), 404);
    }

    [Fact]
    public async Task TeamIsolation_OtherTeamsSandboxesAre404_AdminSeesAll()
    {
        await using var host = await PortalHost.StartAsync();
        var a = await NewTeamClientAsync(host, "a");
        var b = await NewTeamClientAsync(host, "b");
        var sa = (string)(await a.CreateSandboxAsync("""{"templateID":"base","metadata":{"owner":"a"}}"""))["sandboxID"]!;
        var sb = (string)(await b.CreateSandboxAsync())["sandboxID"]!;

        Assert.Equal([sa], (await a.GetJsonAsync("/v2/sandboxes")).Body!.AsArray().Select(x => (string)x!["sandboxID"]!));
        Assert.Equal([sa], (await a.GetJsonAsync("/sandboxes")).Body!.AsArray().Select(x => (string)x!["sandboxID"]!));
        Assert.Equal([sb], (await b.GetJsonAsync("/v2/sandboxes")).Body!.AsArray().Select(x => (string)x!["sandboxID"]!));
        Assert.Equal(2, (await host.Admin.GetJsonAsync("/v2/sandboxes")).Body!.AsArray().Count);

        AssertError(await b.GetJsonAsync($"/sandboxes/{sa}"), 404);
        AssertError(await b.DeleteJsonAsync($"/sandboxes/{sa}"), 404);
        AssertError(await b.PostJsonAsync($"/v2/sandboxes/{sa}/connect"), 404);
        AssertError(await b.PostJsonAsync($"/sandboxes/{sa}/connect", """{"timeout":10}"""), 404);
        AssertError(await b.PostJsonAsync($"/sandboxes/{sa}/pause"), 404);
        AssertError(await b.PostJsonAsync($"/sandboxes/{sa}/timeout", """{"timeout":10}"""), 404);
        AssertError(await b.GetJsonAsync($"/sandboxes/{sa}/metrics"), 404);
        AssertError(await b.GetJsonAsync($"/sandboxes/{sa}/logs"), 404);
        Assert.True(host.Runtime.Exists(sa));

        Assert.Equal(200, (await host.Admin.GetJsonAsync($"/sandboxes/{sa}")).Status);
        Assert.Equal(204, (await host.Admin.DeleteJsonAsync($"/sandboxes/{sb}")).Status);
    }

    [Fact]
    public async Task Bootstrap_GeneratesAdminKey_WritesFile0600()
    {
        var dir = PortalHost.NewDataDir();
        try
        {
            await using (var host = await PortalHost.StartAsync(dataDir: dir, adminKey: null, keepDataDir: true))
            {
                var file = Path.Combine(dir, "admin-api-key");
                Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(file));
                var key = File.ReadAllText(file).Trim();
                Assert.True(ApiKeyFormat.IsWellFormed(key));
                Assert.Equal(200, (await host.Client(key).GetJsonAsync("/teams")).Status);
                File.Delete(file);
            }
            // Second start with a non-empty store: no new key, no file.
            await using (var again = await PortalHost.StartAsync(dataDir: dir, adminKey: null, keepDataDir: true))
            {
                Assert.False(File.Exists(Path.Combine(dir, "admin-api-key")));
                Assert.Single((await again.Client(null).GetJsonAsync("/health")).Body!.AsObject());
            }
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public async Task Bootstrap_SeedsConfiguredKey()
    {
        await using var host = await PortalHost.StartAsync();
        Assert.Equal(PortalHost.AdminKey, File.ReadAllText(Path.Combine(host.DataDir, "admin-api-key")).Trim());
        var teams = (await host.Admin.GetJsonAsync("/teams")).Body!.AsArray();
        Assert.True((bool)Assert.Single(teams)!["isAdmin"]!);
    }

    internal static async Task<HttpClient> NewTeamClientAsync(PortalHost host, string name)
    {
        var team = (await host.Admin.PostJsonAsync("/teams", $$"""{"name":"{{name}}"}""")).Body!;
        var key = (await host.Admin.PostJsonAsync("/api-keys", $$"""{"name":"{{name}}-key","teamID":"{{team["teamID"]}}"}""")).Body!;
        return host.Client((string)key["key"]!);
    }
}
