using System.Net;
using Portal.Envd;

namespace Portal.Tests.Envd;

public class EnvdHostTests
{
    [Fact]
    public async Task Health_Answers204()
    {
        await using var envd = await EnvdServer.StartAsync();
        var res = await envd.Http.GetAsync("/health", TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.NoContent, res.StatusCode);
    }

    [Fact]
    public async Task AccessToken_RequiredOnceSet_HealthExempt()
    {
        await using var envd = await EnvdServer.StartAsync(new() { AccessToken = "secret" });
        var ct = TestContext.Current.CancellationToken;
        Assert.Equal(HttpStatusCode.NoContent, (await envd.Http.GetAsync("/health", ct)).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await envd.Http.GetAsync("/envs", ct)).StatusCode);
        using var ok = new HttpRequestMessage(HttpMethod.Get, "/envs");
        ok.Headers.Add("X-Access-Token", "secret");
        Assert.Equal(HttpStatusCode.OK, (await envd.Http.SendAsync(ok, ct)).StatusCode);
    }

    [Fact]
    public async Task Init_SetsEnvVarsAndToken()
    {
        await using var envd = await EnvdServer.StartAsync();
        var ct = TestContext.Current.CancellationToken;
        var res = await envd.Http.PostAsync("/init", new StringContent("""{"envVars":{"FOO":"bar"},"accessToken":"tok"}""", System.Text.Encoding.UTF8, "application/json"), ct);
        Assert.Equal(HttpStatusCode.NoContent, res.StatusCode);
        using var req = new HttpRequestMessage(HttpMethod.Get, "/envs");
        req.Headers.Add("X-Access-Token", "tok");
        var envs = await (await envd.Http.SendAsync(req, ct)).Content.ReadAsStringAsync(ct);
        Assert.Equal("""{"FOO":"bar"}""", envs);
    }

    [Fact]
    public async Task Init_WithWrongToken_IsRejected()
    {
        await using var envd = await EnvdServer.StartAsync(new() { AccessToken = "secret" });
        var res = await envd.Http.PostAsync("/init", new StringContent("""{"accessToken":"mine"}"""), TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.Unauthorized, res.StatusCode);
    }

    [Theory]
    [InlineData("--port", "0")]
    [InlineData("--port", "70000")]
    [InlineData("--bogus", "1")]
    [InlineData("--default-user", "")]
    public void Options_RejectBadFlags(string flag, string value) =>
        Assert.Throws<ArgumentException>(() => EnvdOptions.Parse([flag, value]));

    [Fact]
    public void Options_ParseAll()
    {
        var o = EnvdOptions.Parse(["--host", "127.0.0.1", "--port=1234", "--default-user", "root", "--access-token", "t", "--socket", "/tmp/x.sock"]);
        Assert.Equal(("127.0.0.1", 1234, "root", "t", "/tmp/x.sock"), (o.Host, o.Port, o.DefaultUser, o.AccessToken, o.Socket));
    }

    [Theory]
    [InlineData(null, "1")]
    [InlineData("0", "0")]
    [InlineData("1", "1")]
    public void InlineSocketCompletions_AreOn_UnlessConfigured(string? configured, string expected)
    {
        var saved = Environment.GetEnvironmentVariable(InlineSocketCompletions.Variable);
        try
        {
            Environment.SetEnvironmentVariable(InlineSocketCompletions.Variable, configured);
            InlineSocketCompletions.EnableUnlessConfigured();
            Assert.Equal(expected, Environment.GetEnvironmentVariable(InlineSocketCompletions.Variable));
        }
        finally
        {
            Environment.SetEnvironmentVariable(InlineSocketCompletions.Variable, saved);
        }
    }
}
