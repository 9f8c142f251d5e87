using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;
using Portal.Tests.Api;
using static Portal.Tests.Api.Http;

namespace Portal.Tests.Web.Auth;

/// <summary>
/// JWT bearer sign-in next to API keys: tokens minted here with a test key, checked by the
/// portal's real JwtBearer scheme (issuer, audience, signature, lifetime), mapped to team and role.
/// </summary>
public sealed class JwtSignInTests : IAsyncLifetime
{
    private const string Issuer = "https://idp.portal.test", Audience = "sandbox-portal";
    private readonly RSA _key = RSA.Create(2048);
    private readonly RSA _otherKey = RSA.Create(2048);
    private PortalHost _host = null!;
    private string _teamA = null!, _teamB = null!, _adminTeam = null!;

    public async ValueTask InitializeAsync()
    {
        _host = await PortalHost.StartAsync(config: new Dictionary<string, string?>
        {
            ["Portal:Auth:Jwt:Issuer"] = Issuer,
            ["Portal:Auth:Jwt:Audience"] = Audience,
            ["Portal:Auth:Jwt:SigningKeys:0"] = _key.ExportSubjectPublicKeyInfoPem(),
        });
        _teamA = (string)(await _host.Admin.PostJsonAsync("/teams", """{"name":"team-a"}""")).Body!["teamID"]!;
        _teamB = (string)(await _host.Admin.PostJsonAsync("/teams", """{"name":"team-b"}""")).Body!["teamID"]!;
        var (_, teams) = await _host.Admin.GetJsonAsync("/teams");
        _adminTeam = (string)teams!.AsArray().First(t => (bool)t!["isAdmin"]!)!["teamID"]!;
    }

    public async ValueTask DisposeAsync()
    {
        await _host.DisposeAsync();
        _key.Dispose();
        _otherKey.Dispose();
    }

    private string Mint(string? team, string? role = "member", string issuer = Issuer, string audience = Audience,
        RSA? key = null, DateTime? expires = null, string subject = "user-1")
    {
        var now = DateTime.UtcNow;
        var claims = new Dictionary<string, object> { ["sub"] = subject, ["email"] = "alice@example.com" };
        if (team is not null) claims["team_id"] = team;
        if (role is not null) claims["role"] = role;
        var exp = expires ?? now.AddMinutes(5);
        return new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor
        {
            Issuer = issuer, Audience = audience, Claims = claims,
            IssuedAt = exp.AddMinutes(-10), NotBefore = exp.AddMinutes(-10), Expires = exp,
            SigningCredentials = new SigningCredentials(new RsaSecurityKey(key ?? _key), SecurityAlgorithms.RsaSha256),
        });
    }

    private HttpClient Bearer(string token)
    {
        var c = _host.Client(null);
        c.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return c;
    }

    [Fact]
    public async Task MemberToken_ListsItsTeam_CreatesAndRevokesAKey_RecordedAsItsCreator()
    {
        var c = Bearer(Mint(_teamA));
        var (status, teams) = await c.GetJsonAsync("/teams");
        Assert.Equal(200, status);
        Assert.Equal([_teamA], teams!.AsArray().Select(t => (string)t!["teamID"]!));

        var (created, key) = await c.PostJsonAsync("/api-keys", """{"name":"from a token"}""");
        Assert.Equal(201, created);
        Assert.Equal(_teamA, (string)key!["teamID"]!);
        Assert.Equal("user-1", (string)key["createdBy"]!["id"]!);
        Assert.Equal("alice@example.com", (string)key["createdBy"]!["name"]!);
        // The new key works like any other, for team A.
        var (_, viaKey) = await _host.Client((string)key["key"]!).GetJsonAsync("/teams");
        Assert.Equal(_teamA, (string)viaKey!.AsArray().Single()!["teamID"]!);

        Assert.Equal(204, (await c.DeleteJsonAsync($"/api-keys/{(string)key["id"]!}")).Status);
        AssertError(await _host.Client((string)key["key"]!).GetJsonAsync("/teams"), 401, "revoked");
    }

    [Fact]
    public async Task MemberToken_CannotActOnAnotherTeam()
    {
        var c = Bearer(Mint(_teamA));
        AssertError(await c.PostJsonAsync("/api-keys", $$"""{"name":"x","teamID":"{{_teamB}}"}"""), 404, "team");
        AssertError(await c.GetJsonAsync($"/api-keys?teamID={_teamB}"), 404, "team");
        AssertError(await c.PostJsonAsync("/teams", """{"name":"mine"}"""), 403);
        // Team B's key and sandbox stay out of reach.
        var (_, bKey) = await _host.Admin.PostJsonAsync("/api-keys", $$"""{"name":"b","teamID":"{{_teamB}}"}""");
        AssertError(await c.DeleteJsonAsync($"/api-keys/{(string)bKey!["id"]!}"), 404);
        var sandbox = (string)(await _host.Client((string)bKey["key"]!).CreateSandboxAsync())["sandboxID"]!;
        AssertError(await c.GetJsonAsync($"/sandboxes/{sandbox}"), 404);
        AssertError(await c.DeleteJsonAsync($"/sandboxes/{sandbox}"), 404);
        Assert.Equal(200, (await _host.Admin.GetJsonAsync($"/sandboxes/{sandbox}")).Status);
    }

    [Fact]
    public async Task AdminToken_ActsAsAdmin()
    {
        var c = Bearer(Mint(_adminTeam, role: "admin"));
        var (status, team) = await c.PostJsonAsync("/teams", """{"name":"made-by-token"}""");
        Assert.Equal(201, status);
        var (_, key) = await c.PostJsonAsync("/api-keys", $$"""{"name":"for b","teamID":"{{_teamB}}"}""");
        Assert.Equal(_teamB, (string)key!["teamID"]!);
        Assert.NotNull(team);
    }

    public static TheoryData<string, string> BadTokens => new()
    {
        { "issuer", "issuer" },
        { "audience", "audience" },
        { "signature", "signature" },
        { "expired", "expired" },
        { "unknown team", "does not exist" },
        { "no team", "team_id" },
        { "bad role", "'admin' or 'member'" },
        { "garbage", "malformed" },
    };

    [Theory]
    [MemberData(nameof(BadTokens))]
    public async Task BadTokens_Get401_InTheErrorShape(string what, string message)
    {
        var token = what switch
        {
            "issuer" => Mint(_teamA, issuer: "https://evil.test"),
            "audience" => Mint(_teamA, audience: "someone-else"),
            "signature" => Mint(_teamA, key: _otherKey),
            "expired" => Mint(_teamA, expires: DateTime.UtcNow.AddMinutes(-5)),
            "unknown team" => Mint("team_0000000000000000"),
            "no team" => Mint(null),
            "bad role" => Mint(_teamA, role: "owner"),
            _ => "not.a.jwt",
        };
        var (status, body) = await Bearer(token).GetJsonAsync("/teams");
        Assert.Equal(401, status);
        Assert.Equal(401, (int)body!["code"]!);
        Assert.Contains(message, (string)body["message"]!);
    }

    [Fact]
    public async Task ApiKeys_StillWork_AndWinOverABearerHeader()
    {
        using var c = _host.Client(PortalHost.AdminKey);
        c.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", "not.a.jwt");
        Assert.Equal(200, (await c.GetJsonAsync("/teams")).Status);
        AssertError(await _host.Client(null).GetJsonAsync("/teams"), 401, "missing API key");
    }
}

public class JwtOptionsTests
{
    [Theory]
    [InlineData("Portal:Auth:Jwt:SigningKeys:0", "dG9vIHNob3J0", "Portal:Auth:Jwt:SigningKeys:0")]
    [InlineData("Portal:Auth:Jwt:SigningKeys:0", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----", "Portal:Auth:Jwt:SigningKeys:0")]
    [InlineData("Portal:Auth:Jwt:Authority", "not a url", "Portal:Auth:Jwt:Authority")]
    public async Task BadJwtConfiguration_FailsAtStartup_NamingTheKey(string key, string value, string named)
    {
        var config = new Dictionary<string, string?> { [key] = value };
        var e = await Assert.ThrowsAnyAsync<Exception>(() => PortalHost.StartAsync(config: config));
        var all = e is OptionsValidationException ov ? string.Join("\n", ov.Failures) : e.ToString();
        Assert.Contains(named, all);
        // Audience (and without an authority, the issuer) is required as soon as sign-in by token is on.
        Assert.Contains("Portal:Auth:Jwt:Audience", all);
    }
}
