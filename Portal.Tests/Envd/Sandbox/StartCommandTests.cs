using System.Net;

namespace Portal.Tests.Envd.Sandbox;

/// <summary>envd's template start command: started at envd's start, kept running, ready gated by the ready command.</summary>
public class StartCommandTests
{
    private static async Task<HttpStatusCode> ReadyAsync(EnvdServer envd, CancellationToken ct) =>
        (await envd.Http.GetAsync("/_portal/ready", ct)).StatusCode;

    private static async Task<bool> EventuallyAsync(Func<Task<bool>> condition, CancellationToken ct)
    {
        for (var i = 0; i < 200; i++)
        {
            if (await condition()) return true;
            await Task.Delay(50, ct);
        }
        return false;
    }

    [Fact]
    public async Task NoStartCommand_ReadyAtOnce()
    {
        await using var envd = await EnvdServer.StartAsync();
        Assert.Equal(HttpStatusCode.NoContent, await ReadyAsync(envd, TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task ReadyOnlyAfterTheReadyCommandSucceeds_AndAgainAfterARestart_WithoutTheAccessToken()
    {
        var ct = TestContext.Current.CancellationToken;
        var dir = Directory.CreateTempSubdirectory("portal-start-");
        try
        {
            var flag = Path.Combine(dir.FullName, "up");
            var starts = Path.Combine(dir.FullName, "starts");
            var pid = Path.Combine(dir.FullName, "pid");
            // The "service" counts its starts, writes its PID, becomes ready after 0.5 s, then sleeps.
            var start = $"echo x >> {starts}; echo $$ > {pid}; rm -f {flag}; sleep 0.5; touch {flag}; exec sleep 600";
            await using var envd = await EnvdServer.StartAsync(new() { StartCommand = start, ReadyCommand = $"test -f {flag}", AccessToken = "secret" });

            Assert.Equal(HttpStatusCode.ServiceUnavailable, await ReadyAsync(envd, ct));
            Assert.True(await EventuallyAsync(async () => await ReadyAsync(envd, ct) == HttpStatusCode.NoContent, ct), "ready after the ready command passed");
            Assert.Single(File.ReadAllLines(starts));

            // Killed (as with kill -9): started again, not ready until its ready command passes again.
            System.Diagnostics.Process.GetProcessById(int.Parse(File.ReadAllText(pid).Trim())).Kill();
            Assert.True(await EventuallyAsync(() => Task.FromResult(File.ReadAllLines(starts).Length == 2), ct), "started again");
            Assert.True(await EventuallyAsync(async () => await ReadyAsync(envd, ct) == HttpStatusCode.NoContent, ct), "ready again");
        }
        finally
        {
            // envd's disposal stops supervising; the last "sleep 600" is ours to end.
            if (File.Exists(Path.Combine(dir.FullName, "pid")))
                try { System.Diagnostics.Process.GetProcessById(int.Parse(File.ReadAllText(Path.Combine(dir.FullName, "pid")).Trim())).Kill(); } catch (ArgumentException) { }
            dir.Delete(recursive: true);
        }
    }

    [Fact]
    public void Options_ParseStartAndReadyCommands()
    {
        var o = Portal.Envd.EnvdOptions.Parse(["--start-command", "a b", "--ready-command=c"]);
        Assert.Equal("a b", o.StartCommand);
        Assert.Equal("c", o.ReadyCommand);
        Assert.Throws<ArgumentException>(() => Portal.Envd.EnvdOptions.Parse(["--start-command", " "]));
    }
}
