using static Portal.Tests.Envd.Process.ProcessTestUtil;

namespace Portal.Tests.Envd.Process;

/// <summary>SendInput, CloseStdin, SendSignal, selectors.</summary>
public class InputAndSignalTests
{
    [Theory]
    [InlineData(true)]
    [InlineData(null)] // old clients send no stdin field: the pipe is open
    public async Task Stdin_SendInputThenCloseStdin_EndsCat(bool? stdinField)
    {
        await using var envd = await EnvdServer.StartAsync();
        await using var s = await ProcessStream.StartAsync(envd, ProcessStream.Bash("cat; echo eof", stdin: stdinField));

        var (status, body) = await envd.UnaryAsync("process.Process/SendInput", new { process = new { pid = s.Pid }, input = new { stdin = B64("hello\n") } });
        Assert.Equal(200, status);
        Assert.Equal("{}", body!.ToJsonString());
        await s.WaitForOutputAsync("hello\n");

        (status, _) = await envd.UnaryAsync("process.Process/CloseStdin", new { process = new { pid = s.Pid } });
        Assert.Equal(200, status);
        await s.ReadToEndAsync();
        Assert.Equal("hello\neof\n", s.Stdout);
        Assert.Equal(0, s.ExitCode);
    }

    [Fact]
    public async Task SendInput_ToProcessWithoutStdin_IsAnError()
    {
        await using var envd = await EnvdServer.StartAsync();
        await using var s = await ProcessStream.StartAsync(envd, ProcessStream.Bash("sleep 20", stdin: false));
        var (status, body) = await envd.UnaryAsync("process.Process/SendInput", new { process = new { pid = s.Pid }, input = new { stdin = B64("x") } });
        Assert.Equal(500, status);
        Assert.Equal("internal", body!["code"]!.GetValue<string>());
        await SignalAsync(envd, new { pid = s.Pid }, "SIGNAL_SIGKILL");
        await s.ReadToEndAsync();
    }

    [Theory]
    [InlineData("process.Process/SendInput")]
    [InlineData("process.Process/SendSignal")]
    [InlineData("process.Process/Update")]
    [InlineData("process.Process/CloseStdin")]
    public async Task UnknownPid_IsNotFound(string procedure)
    {
        await using var envd = await EnvdServer.StartAsync();
        object request = procedure switch
        {
            "process.Process/SendInput" => new { process = new { pid = 999999999u }, input = new { stdin = B64("x") } },
            "process.Process/SendSignal" => new { process = new { pid = 999999999u }, signal = "SIGNAL_SIGKILL" },
            "process.Process/Update" => new { process = new { pid = 999999999u }, pty = new { size = new { cols = 10, rows = 10 } } },
            _ => new { process = new { pid = 999999999u } },
        };
        var (status, body) = await envd.UnaryAsync(procedure, request);
        Assert.Equal(404, status);
        Assert.Equal("not_found", body!["code"]!.GetValue<string>());
    }

    [Theory]
    [InlineData("SIGNAL_SIGKILL", "signal: killed")]
    [InlineData("SIGNAL_SIGTERM", "signal: terminated")]
    [InlineData(9, "signal: killed")]
    [InlineData(15, "signal: terminated")]
    public async Task SendSignal_EndsWithSignalStatus(object signal, string status)
    {
        await using var envd = await EnvdServer.StartAsync();
        await using var s = await ProcessStream.StartAsync(envd, ProcessStream.Bash("echo up; sleep 30"));
        await s.WaitForOutputAsync("up\n");

        var (code, _) = await SignalAsync(envd, new { pid = s.Pid }, signal);
        Assert.Equal(200, code);
        await s.ReadToEndAsync();
        Assert.Equal(-1, s.ExitCode);
        Assert.Equal(status, s.EndStatus);
        Assert.Null(s.End!["exited"]); // false is omitted
        Assert.Equal(status, s.End!["error"]!.GetValue<string>());
        Assert.Equal("{}", s.EndStream!.ToJsonString());
    }

    

    [Fact]
    public async Task Kill_ReachesTheWholeProcessGroup()
    {
        await using var envd = await EnvdServer.StartAsync();
        await using var s = await ProcessStream.StartAsync(envd, ProcessStream.Bash("sleep 31 & echo $!; wait"));
        await s.WaitForOutputAsync(o => o.EndsWith('\n'));
        var grandchild = uint.Parse(s.Stdout.Trim(), System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(IsAlive(grandchild));

        await SignalAsync(envd, new { pid = s.Pid }, "SIGNAL_SIGKILL");
        await s.ReadToEndAsync();
        await WaitUntilAsync(() => !IsAlive(grandchild), TimeSpan.FromSeconds(5), "the grandchild to die");
    }

    [Fact]
    public async Task TagSelector_WorksForSignalInputAndConnect()
    {
        await using var envd = await EnvdServer.StartAsync();
        await using var s = await ProcessStream.StartAsync(envd, ProcessStream.Bash("cat", stdin: true, tag: "my-tag"));

        var (status, body) = await envd.UnaryAsync("process.Process/List", new { });
        Assert.Equal(200, status);
        var entry = body!["processes"]!.AsArray().Single(p => p!["pid"]!.GetValue<uint>() == s.Pid)!;
        Assert.Equal("my-tag", entry["tag"]!.GetValue<string>());

        (status, _) = await envd.UnaryAsync("process.Process/SendInput", new { process = new { tag = "my-tag" }, input = new { stdin = B64("via-tag\n") } });
        Assert.Equal(200, status);
        await s.WaitForOutputAsync("via-tag\n");

        await using (var c = await ProcessStream.OpenAsync(envd, "process.Process/Connect", new { process = new { tag = "my-tag" } }))
            Assert.Equal(s.Pid, c.Pid);

        (status, _) = await SignalAsync(envd, new { tag = "my-tag" }, "SIGNAL_SIGKILL");
        Assert.Equal(200, status);
        await s.ReadToEndAsync();
        Assert.Equal("signal: killed", s.EndStatus);

        (status, body) = await SignalAsync(envd, new { tag = "no-such-tag" }, "SIGNAL_SIGKILL");
        Assert.Equal(404, status);
        Assert.Equal("not_found", body!["code"]!.GetValue<string>());
    }

    [Fact]
    public async Task Selector_PidAsJsonString_IsAccepted()
    {
        await using var envd = await EnvdServer.StartAsync();
        await using var s = await ProcessStream.StartAsync(envd, ProcessStream.Bash("sleep 30"));
        var (status, _) = await SignalAsync(envd, new { pid = s.Pid.ToString(System.Globalization.CultureInfo.InvariantCulture) }, "SIGNAL_SIGKILL");
        Assert.Equal(200, status);
        await s.ReadToEndAsync();
    }
}
