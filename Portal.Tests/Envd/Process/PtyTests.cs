using static Portal.Tests.Envd.Process.ProcessTestUtil;

namespace Portal.Tests.Envd.Process;

/// <summary>Terminals: the SDK's pty.create / sendInput / resize / kill.</summary>
public class PtyTests
{
    /// <summary>What pty.create sends.</summary>
    private static object PtyStart(int cols = 80, int rows = 24) => new
    {
        process = new
        {
            cmd = "/bin/bash",
            args = new[] { "-i", "-l" },
            envs = new Dictionary<string, string> { ["TERM"] = "xterm-256color", ["LANG"] = "C.UTF-8", ["LC_ALL"] = "C.UTF-8" },
        },
        pty = new { size = new { cols, rows } },
    };

    private static Task<(int, System.Text.Json.Nodes.JsonNode?)> TypeAsync(EnvdServer envd, uint pid, string text) =>
        envd.UnaryAsync("process.Process/SendInput", new { process = new { pid }, input = new { pty = B64(text) } });

    [Fact]
    public async Task Pty_InputOutputResizeAndExit()
    {
        await using var envd = await EnvdServer.StartAsync();
        await using var s = await ProcessStream.StartAsync(envd, PtyStart(80, 24));
        Assert.True(s.Pid > 0);

        // $((6*7)) keeps the echoed command line from matching the expected output.
        var (status, _) = await TypeAsync(envd, s.Pid, "echo \"R=$((6*7))\" \"T=$(tty)\" \"U=$(id -u)\"\n");
        Assert.Equal(200, status);
        await s.WaitForOutputAsync("R=42");
        await s.WaitForOutputAsync(o => o.Contains("T=/dev/pts/", StringComparison.Ordinal) && o.Contains($"U={UserUid}", StringComparison.Ordinal));

        await TypeAsync(envd, s.Pid, "echo \"C=$(tput cols)\"\n");
        await s.WaitForOutputAsync("C=80");

        // envd's runtime ignores SIGPIPE; a terminal's commands must not inherit that.
        await TypeAsync(envd, s.Pid, "echo \"P=$(yes | head -1; echo ${PIPESTATUS[@]})\"\n");
        await s.WaitForOutputAsync("P=y\r\n141 0");

        (status, _) = await envd.UnaryAsync("process.Process/Update", new { process = new { pid = s.Pid }, pty = new { size = new { cols = 123, rows = 40 } } });
        Assert.Equal(200, status);
        await TypeAsync(envd, s.Pid, "echo \"C=$(tput cols) L=$(tput lines)\"\n");
        await s.WaitForOutputAsync("C=123 L=40");

        await TypeAsync(envd, s.Pid, "exit\n");
        await s.ReadToEndAsync();
        Assert.Equal(0, s.ExitCode);
        Assert.Equal("exit status 0", s.EndStatus);
        Assert.All(s.Messages.Where(m => m["event"]!["data"] is not null), m => Assert.NotNull(m["event"]!["data"]!["pty"]));
        Assert.Equal("{}", s.EndStream!.ToJsonString());
    }

    [Fact]
    public async Task Pty_Kill_EndsWithSignal()
    {
        await using var envd = await EnvdServer.StartAsync();
        await using var s = await ProcessStream.StartAsync(envd, PtyStart());
        var (status, _) = await SignalAsync(envd, new { pid = s.Pid }, "SIGNAL_SIGKILL");
        Assert.Equal(200, status);
        await s.ReadToEndAsync();
        Assert.Equal(-1, s.ExitCode);
        Assert.Equal("signal: killed", s.EndStatus);
    }

    [Fact]
    public async Task Pty_Kill_AlsoEndsBackgroundJobsInTheirOwnProcessGroups()
    {
        await using var envd = await EnvdServer.StartAsync();
        await using var s = await ProcessStream.StartAsync(envd, PtyStart());
        await TypeAsync(envd, s.Pid, "sleep 36 & echo \"J=$!\"\n");
        await s.WaitForOutputAsync(o => System.Text.RegularExpressions.Regex.IsMatch(o, @"J=\d+\r?\n"));
        var job = uint.Parse(System.Text.RegularExpressions.Regex.Match(s.Pty, @"J=(\d+)\r?\n").Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(IsAlive(job));

        await SignalAsync(envd, new { pid = s.Pid }, "SIGNAL_SIGKILL");
        await s.ReadToEndAsync();
        await WaitUntilAsync(() => !IsAlive(job), TimeSpan.FromSeconds(5), "the background job to die");
    }

    [Fact]
    public async Task Pty_RunsAsRootWhenAsked_AndIsListed()
    {
        await using var envd = await EnvdServer.StartAsync();
        await using var s = await ProcessStream.StartAsync(envd, PtyStart(), user: "root");
        Assert.Contains(s.Pid, await ListPidsAsync(envd));
        await TypeAsync(envd, s.Pid, "echo \"U=$(id -u)\"; exit 5\n");
        await s.ReadToEndAsync();
        Assert.Contains("U=0", s.Pty);
        Assert.Equal(5, s.ExitCode);
    }

    

    
}
