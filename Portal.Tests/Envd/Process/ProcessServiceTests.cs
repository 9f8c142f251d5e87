using System.Text;

namespace Portal.Tests.Envd.Process;

public sealed class ProcessServiceTests : IAsyncLifetime
{
    private EnvdServer _envd = null!;
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync() => _envd = await EnvdServer.StartAsync();
    public async ValueTask DisposeAsync() => await _envd.DisposeAsync();

    private static object Bash(string script, object? extra = null) =>
        new { process = new { cmd = "/bin/bash", args = new[] { "-c", script } }, stdin = false };

    private static string Stdout(StreamResult r) => string.Concat(r.Messages
        .Select(m => m!["event"]!["data"]?["stdout"]?.GetValue<string>())
        .Where(s => s is not null)
        .Select(s => Encoding.UTF8.GetString(Convert.FromBase64String(s!))));

    [Fact]
    public async Task Children_StartWithDefaultSignalDispositions_NotEnvdsIgnoredSigpipe()
    {
        var r = await _envd.StreamAsync("process.Process/Start", Bash("yes | head -1; echo \"${PIPESTATUS[@]}\"; grep SigIgn /proc/self/status"), ct: Ct);
        var lines = Stdout(r).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(["y", "141 0"], lines[..2]);
        var ignored = Convert.ToUInt64(lines[2].Split('\t')[1], 16);
        Assert.Equal(0UL, ignored & (1UL << (Portal.Envd.Process.ChildSignals.SigPipe - 1)));
    }

    [Fact]
    public async Task NonZeroExit_ReportsStatusAndError()
    {
        var r = await _envd.StreamAsync("process.Process/Start", Bash("exit 7"), ct: Ct);
        var end = r.Messages[^1]!["event"]!["end"]!;
        Assert.Equal(7, end["exitCode"]!.GetValue<int>());
        Assert.Equal("exit status 7", end["status"]!.GetValue<string>());
        Assert.Equal("exit status 7", end["error"]!.GetValue<string>());
    }

    [Fact]
    public async Task RunsAsTheRequestedUser_NotRootWithALabel()
    {
        var account = new Portal.Envd.Users.UserDirectory().Find("user")!;
        var asUser = await _envd.StreamAsync("process.Process/Start", Bash("id -u; id -g; echo $HOME"), user: "user", ct: Ct);
        Assert.Equal($"{account.Uid}\n{account.Gid}\n/home/user\n", Stdout(asUser));
        var asRoot = await _envd.StreamAsync("process.Process/Start", Bash("id -u"), user: "root", ct: Ct);
        Assert.Equal("0\n", Stdout(asRoot));
    }

    [Fact]
    public async Task GlobalEnvVars_FromInit_AndCallEnvsOverride()
    {
        await _envd.Http.PostAsync("/init", new StringContent("""{"envVars":{"A":"global","B":"global"}}"""), Ct);
        var r = await _envd.StreamAsync("process.Process/Start",
            new { process = new { cmd = "/bin/bash", args = new[] { "-c", "echo $A $B" }, envs = new Dictionary<string, string> { ["B"] = "call" } } }, ct: Ct);
        Assert.Equal("global call\n", Stdout(r));
    }

    [Fact]
    public async Task MissingCwd_IsInvalidArgumentBeforeStart()
    {
        var r = await _envd.StreamAsync("process.Process/Start", new { process = new { cmd = "/bin/pwd", cwd = "/no/such/dir" } }, ct: Ct);
        Assert.Equal("invalid_argument", r.ErrorCode);
        Assert.Empty(r.Messages);
    }

    [Fact]
    public async Task MissingProgram_IsInvalidArgument()
    {
        var r = await _envd.StreamAsync("process.Process/Start", new { process = new { cmd = "/no/such/program" } }, ct: Ct);
        Assert.Equal("invalid_argument", r.ErrorCode);
    }

    [Fact]
    public async Task Deadline_KillsTheProcess()
    {
        var marker = Path.Combine(Path.GetTempPath(), $"deadline-{Guid.NewGuid():N}");
        var r = await _envd.StreamAsync("process.Process/Start", Bash($"sleep 3; touch {marker}"), timeoutMs: 500, ct: Ct);
        Assert.Equal("deadline_exceeded", r.ErrorCode);
        await Task.Delay(3500, Ct);
        Assert.False(File.Exists(marker));
    }

    [Fact]
    public async Task Disconnect_DoesNotKillTheProcess_ConnectSeesTheEnd()
    {
        using var msg = EnvdServer.StreamRequest("process.Process/Start", Bash("sleep 1; echo finished"), timeoutMs: 0);
        uint pid;
        using (var res = await _envd.Http.SendAsync(msg, HttpCompletionOption.ResponseHeadersRead, Ct))
        await using (var body = await res.Content.ReadAsStreamAsync(Ct))
        {
            await using var e = EnvdServer.ReadEnvelopesAsync(body, Ct).GetAsyncEnumerator(Ct);
            Assert.True(await e.MoveNextAsync());
            pid = System.Text.Json.Nodes.JsonNode.Parse(e.Current.Json)!["event"]!["start"]!["pid"]!.GetValue<uint>();
        } // stream dropped here
        var again = await _envd.StreamAsync("process.Process/Connect", new { process = new { pid } }, ct: Ct);
        Assert.Equal(pid, again.Messages[0]!["event"]!["start"]!["pid"]!.GetValue<uint>());
        Assert.Equal("finished\n", Stdout(again));
        Assert.NotNull(again.Messages[^1]!["event"]!["end"]);
    }

    [Fact]
    public async Task TagSelector_SignalAndList()
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var running = _envd.StreamAsync("process.Process/Start", new { process = new { cmd = "/bin/sleep", args = new[] { "30" } }, tag = "sleeper" }, ct: cts.Token);
        for (var i = 0; i < 50; i++)
        {
            var (_, list) = await _envd.UnaryAsync("process.Process/List", new { });
            if (list!["processes"]!.AsArray().Any(p => p!["tag"]?.GetValue<string>() == "sleeper")) break;
            await Task.Delay(50, Ct);
        }
        var (status, _) = await _envd.UnaryAsync("process.Process/SendSignal", new { process = new { tag = "sleeper" }, signal = "SIGNAL_SIGKILL" });
        Assert.Equal(200, status);
        var r = await running;
        var end = r.Messages[^1]!["event"]!["end"]!;
        Assert.Equal(-1, end["exitCode"]!.GetValue<int>());
        Assert.Equal("signal: killed", end["status"]!.GetValue<string>());
    }

    [Theory]
    [InlineData("process.Process/SendInput")]
    [InlineData("process.Process/SendSignal")]
    [InlineData("process.Process/Update")]
    [InlineData("process.Process/CloseStdin")]
    public async Task UnknownPid_IsNotFound(string procedure)
    {
        var (status, body) = await _envd.UnaryAsync(procedure, new { process = new { pid = 4000000 }, signal = 9 });
        Assert.Equal(404, status);
        Assert.Equal("not_found", body!["code"]!.GetValue<string>());
    }

    [Fact]
    public async Task StdinAndCloseStdin()
    {
        var running = _envd.StreamAsync("process.Process/Start", new { process = new { cmd = "/bin/cat" }, stdin = true, tag = "cat-stdin" }, ct: Ct);
        for (var i = 0; i < 50; i++)
        {
            var (s, _) = await _envd.UnaryAsync("process.Process/SendInput", new { process = new { tag = "cat-stdin" }, input = new { stdin = Convert.ToBase64String("ping\n"u8.ToArray()) } });
            if (s == 200) break;
            await Task.Delay(50, Ct);
        }
        var (closed, _) = await _envd.UnaryAsync("process.Process/CloseStdin", new { process = new { tag = "cat-stdin" } });
        Assert.Equal(200, closed);
        Assert.Equal("ping\n", Stdout(await running));
    }
}
