using System.Net;
using System.Text;
using Portal.Envd;
using static Portal.Tests.Envd.Process.ProcessTestUtil;

namespace Portal.Tests.Envd.Process;

/// <summary>process.Process/Start: event order, output, exit status, environment, cwd, user.</summary>
public class StartTests
{
    [Fact]
    public async Task Echo_SendsStartThenStdoutThenOneEnd()
    {
        await using var envd = await EnvdServer.StartAsync();
        await using var s = await ProcessStream.RunAsync(envd, "echo hello");

        Assert.Equal(200, s.Status);
        Assert.True(s.Pid > 0);
        Assert.NotNull(s.Messages[0]["event"]!["start"]);
        Assert.Equal("hello\n", s.Stdout);
        Assert.Single(s.Messages, m => m!["event"]!["end"] is not null);
        Assert.NotNull(s.Messages[^1]["event"]!["end"]);
        // proto3 JSON: exitCode 0 and "error" are omitted on success.
        Assert.Equal("""{"exited":true,"status":"exit status 0"}""", s.End!.ToJsonString());
        Assert.Equal("{}", s.EndStream!.ToJsonString());
    }

    [Fact]
    public async Task NonZeroExit_ReportsCodeStatusAndError()
    {
        await using var envd = await EnvdServer.StartAsync();
        await using var s = await ProcessStream.RunAsync(envd, "echo out; echo err >&2; exit 3");

        Assert.Equal("out\n", s.Stdout);
        Assert.Equal("err\n", s.Stderr);
        Assert.Equal("""{"exitCode":3,"exited":true,"status":"exit status 3","error":"exit status 3"}""", s.End!.ToJsonString());
    }

    [Fact]
    public async Task LargeOutput_ArrivesIntactInChunksOfAtMost32KiB()
    {
        await using var envd = await EnvdServer.StartAsync();
        await using var s = await ProcessStream.RunAsync(envd, "head -c 1048576 /dev/urandom | base64 -w 0 | tee /tmp/portal-large-$$ | sha256sum | cut -c1-64 >&2; cat /tmp/portal-large-$$; rm /tmp/portal-large-$$");

        var bytes = s.StdoutBytes;
        Assert.Equal(1398104, bytes.Length); // base64 of 1 MiB
        var hash = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(bytes));
        Assert.Equal(s.Stderr.Trim(), hash);
        Assert.InRange(s.MaxChunk, 1, 32 * 1024);
        Assert.Equal(0, s.ExitCode);
    }

    [Fact]
    public async Task Cwd_TheUserCannotEnter_IsInvalidArgument()
    {
        await using var envd = await EnvdServer.StartAsync();
        await using var s = await ProcessStream.StartAsync(envd, ProcessStream.Bash("pwd", cwd: "/root"));
        Assert.Equal("invalid_argument", s.ErrorCode);
        Assert.Contains("Permission denied", s.EndStream!["error"]!["message"]!.GetValue<string>());
        await AssertStillServesAsync(envd);
    }

    [Fact]
    public async Task ArgsArePassedVerbatim_WithoutAShell()
    {
        await using var envd = await EnvdServer.StartAsync();
        await using var s = await ProcessStream.StartAsync(envd, new { process = new { cmd = "/bin/echo", args = new[] { "a  b", "$HOME", "*" } }, stdin = false });
        await s.ReadToEndAsync();
        Assert.Equal("a  b $HOME *\n", s.Stdout);
    }

    [Fact]
    public async Task Environment_UserBasicsThenGlobalThenPerCall_PerCallDoesNotLeak()
    {
        await using var envd = await EnvdServer.StartAsync();
        var init = await envd.Http.PostAsync("/init", new StringContent("""{"envVars":{"GLOBAL_ONE":"g1","GLOBAL_TWO":"g2"}}""", Encoding.UTF8, "application/json"), Ct);
        Assert.Equal(HttpStatusCode.NoContent, init.StatusCode);

        const string print = "echo \"$HOME|$USER|$LOGNAME|$GLOBAL_ONE|$GLOBAL_TWO|${PER_CALL-unset}|${lower_case-unset}\"";
        await using (var s = await ProcessStream.RunAsync(envd, print, envs: new() { ["PER_CALL"] = "p", ["GLOBAL_TWO"] = "override", ["lower_case"] = "l" }))
            Assert.Equal($"{UserHome}|user|user|g1|override|p|l\n", s.Stdout);

        await using (var s = await ProcessStream.RunAsync(envd, print))
            Assert.Equal($"{UserHome}|user|user|g1|g2|unset|unset\n", s.Stdout);

        await using (var s = await ProcessStream.RunAsync(envd, print, user: "root"))
            Assert.Equal("/root|root|root|g1|g2|unset|unset\n", s.Stdout);
    }

    [Fact]
    public async Task Environment_HasAUsablePath_AndNothingOfEnvdsOwn()
    {
        await using var envd = await EnvdServer.StartAsync();
        // Not a login shell: /etc/profile would rewrite PATH.
        await using var s = await ProcessStream.StartAsync(envd, new { process = new { cmd = "/usr/bin/env" }, stdin = false });
        await s.ReadToEndAsync();
        var vars = s.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split('=', 2)[0]).ToHashSet();
        Assert.Contains("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", s.Stdout.Split('\n'));
        Assert.Subset(new HashSet<string> { "PATH", "HOME", "USER", "LOGNAME", "SHELL" }, vars);
        Assert.DoesNotContain(vars, v => v.StartsWith("DOTNET_", StringComparison.Ordinal) || v == "PWD_FROM_ENVD");
    }

    [Fact]
    public async Task Cwd_DefaultIsHome_RelativeAndTildeResolveAgainstHome()
    {
        await using var envd = await EnvdServer.StartAsync();
        await using (var s = await ProcessStream.RunAsync(envd, "pwd"))
            Assert.Equal(UserHome + "\n", s.Stdout);
        await using (var s = await ProcessStream.RunAsync(envd, "pwd", user: "root"))
            Assert.Equal("/root\n", s.Stdout);
        await using (var s = await ProcessStream.RunAsync(envd, "pwd", cwd: ".."))
            Assert.Equal(Path.GetDirectoryName(UserHome) + "\n", s.Stdout);
        await using (var s = await ProcessStream.RunAsync(envd, "pwd", cwd: "~"))
            Assert.Equal(UserHome + "\n", s.Stdout);
        await using (var s = await ProcessStream.RunAsync(envd, "pwd", cwd: "/tmp"))
            Assert.Equal("/tmp\n", s.Stdout);
    }

    [Fact]
    public async Task Cwd_DefaultWorkdirFromInitApplies()
    {
        await using var envd = await EnvdServer.StartAsync();
        await envd.Http.PostAsync("/init", new StringContent("""{"defaultWorkdir":"/tmp"}""", Encoding.UTF8, "application/json"), Ct);
        await using var s = await ProcessStream.RunAsync(envd, "pwd");
        Assert.Equal("/tmp\n", s.Stdout);
    }

    [Fact]
    public async Task Cwd_Missing_IsInvalidArgumentBeforeStart()
    {
        await using var envd = await EnvdServer.StartAsync();
        await using var s = await ProcessStream.StartAsync(envd, ProcessStream.Bash("echo never", cwd: "/definitely/not/here"));
        Assert.Equal(200, s.Status);
        Assert.Empty(s.Messages);
        Assert.Equal("invalid_argument", s.ErrorCode);
        Assert.Contains("/definitely/not/here", s.EndStream!["error"]!["message"]!.GetValue<string>());
        await AssertStillServesAsync(envd);
    }

    [Fact]
    public async Task MissingExecutable_IsInvalidArgument()
    {
        await using var envd = await EnvdServer.StartAsync();
        await using var s = await ProcessStream.StartAsync(envd, new { process = new { cmd = "no-such-binary-here" } });
        Assert.Equal("invalid_argument", s.ErrorCode);
    }

    [Fact]
    public async Task User_RootAndDefaultRunWithTheirRealIds()
    {
        await using var envd = await EnvdServer.StartAsync();
        await using (var s = await ProcessStream.RunAsync(envd, "id -u; id -g; id -un", user: "root"))
            Assert.Equal("0\n0\nroot\n", s.Stdout);
        await using (var s = await ProcessStream.RunAsync(envd, "id -u; id -un; test -w /root && echo writable || echo denied"))
            Assert.Equal($"{UserUid}\nuser\ndenied\n", s.Stdout);
        await using (var s = await ProcessStream.RunAsync(envd, "id -u", user: "user"))
            Assert.Equal($"{UserUid}\n", s.Stdout);
    }

    [Fact]
    public async Task User_Unknown_IsUnauthenticated()
    {
        await using var envd = await EnvdServer.StartAsync();
        await using var s = await ProcessStream.StartAsync(envd, ProcessStream.Bash("id"), user: "no-such-user-x");
        Assert.Equal("unauthenticated", s.ErrorCode);
        await AssertStillServesAsync(envd);
    }

    [Fact]
    public async Task StdinFalse_IsDevNull()
    {
        await using var envd = await EnvdServer.StartAsync();
        await using var s = await ProcessStream.RunAsync(envd, "readlink /proc/self/fd/0; cat; echo done", stdin: false);
        Assert.Equal("/dev/null\ndone\n", s.Stdout);
    }

    

    
}
