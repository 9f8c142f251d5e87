using System.Text;
using System.Text.Json;
using Portal.Envd;
using Portal.Envd.Connect;
using Portal.Envd.Process;
using Portal.Envd.Users;

namespace Portal.Tests.Envd.Process;

/// <summary>The pure parts: exit texts, JSON contracts, cwd and environment rules.</summary>
public class ProcessUnitTests
{
    private static readonly EnvdUser User = new("user", 1000, 1000, "/tmp", "/bin/bash", [1000]);

    [Theory]
    [InlineData(0, 0UL, """{"exited":true,"status":"exit status 0"}""")]
    [InlineData(2, 0UL, """{"exitCode":2,"exited":true,"status":"exit status 2","error":"exit status 2"}""")]
    [InlineData(137, 0UL, """{"exitCode":137,"exited":true,"status":"exit status 137","error":"exit status 137"}""")]
    [InlineData(137, 1UL << 9, """{"exitCode":-1,"status":"signal: killed","error":"signal: killed"}""")]
    [InlineData(143, 1UL << 15, """{"exitCode":-1,"status":"signal: terminated","error":"signal: terminated"}""")]
    [InlineData(143, 1UL << 9, """{"exitCode":143,"exited":true,"status":"exit status 143","error":"exit status 143"}""")]
    public void ExitStatus_MatchesGoTexts(int code, ulong sent, string json)
    {
        var end = ExitStatus.From(code, sent);
        var message = new ProcessStreamResponse { Event = new ProcessEvent { End = end } };
        Assert.Equal("{\"event\":{\"end\":" + json + "}}", JsonSerializer.Serialize(message, ProcessJsonContext.Default.ProcessStreamResponse));
    }

    [Fact]
    public void Events_SerializeAsProto3Json()
    {
        var ctx = ProcessJsonContext.Default.ProcessStreamResponse;
        Assert.Equal("""{"event":{"start":{"pid":42}}}""", JsonSerializer.Serialize(ProcessStreamResponse.Start(42), ctx));
        Assert.Equal("""{"event":{"keepalive":{}}}""", JsonSerializer.Serialize(ProcessStreamResponse.Keepalive, ctx));
        var data = new ProcessStreamResponse { Event = new ProcessEvent { Data = new DataEvent { Stdout = "hi"u8.ToArray() } } };
        Assert.Equal("""{"event":{"data":{"stdout":"aGk="}}}""", JsonSerializer.Serialize(data, ctx));
    }

    [Fact]
    public void StartRequest_ParsesWhatTheSdkSends()
    {
        var json = """{"process":{"cmd":"/bin/bash","args":["-l","-c","ls"],"envs":{"A_B":"1"},"cwd":"x"},"pty":{"size":{"cols":80,"rows":24}},"tag":"t","stdin":false,"unknownField":1}"""u8;
        var req = ProtoJson.Deserialize(json, ProcessJsonContext.Default.StartRequest);
        Assert.Equal("/bin/bash", req.Process!.Cmd);
        Assert.Equal(["-l", "-c", "ls"], req.Process.Args!);
        Assert.Equal("1", req.Process.Envs!["A_B"]);
        Assert.Equal(80u, req.Pty!.Size!.Cols);
        Assert.Equal("t", req.Tag);
        Assert.False(req.Stdin);
        Assert.Null(ProtoJson.Deserialize("{}"u8, ProcessJsonContext.Default.StartRequest).Stdin);
    }

    [Fact]
    public void ProtoJson_CamelizesFieldNamesButNotMapKeys()
    {
        var req = ProtoJson.Deserialize("""{"process":{"cmd":"c","envs":{"snake_key":"v","UPPER_KEY":"w"}},"some_unknown":1}"""u8, ProcessJsonContext.Default.StartRequest);
        Assert.Equal(new Dictionary<string, string> { ["snake_key"] = "v", ["UPPER_KEY"] = "w" }, req.Process!.Envs);
    }

    [Theory]
    [InlineData("\"SIGNAL_SIGKILL\"", ProcessSignal.Sigkill)]
    [InlineData("\"SIGNAL_SIGTERM\"", ProcessSignal.Sigterm)]
    [InlineData("9", ProcessSignal.Sigkill)]
    [InlineData("15", ProcessSignal.Sigterm)]
    [InlineData("\"15\"", ProcessSignal.Sigterm)]
    public void Signal_AcceptsNamesAndNumbers(string value, ProcessSignal expected)
    {
        var req = ProtoJson.Deserialize(Encoding.UTF8.GetBytes("{\"signal\":" + value + "}"), ProcessJsonContext.Default.SendSignalRequest);
        Assert.Equal(expected, req.Signal);
    }

    [Theory]
    [InlineData(null, null, "/tmp")]
    [InlineData("", "/", "/")]
    [InlineData("~", null, "/tmp")]
    [InlineData("..", null, "/")]
    [InlineData("/var", null, "/var")]
    public void Cwd_Resolution(string? requested, string? defaultWorkdir, string expected) =>
        Assert.Equal(expected, LaunchSpec.ResolveCwd(requested, User, defaultWorkdir));

    [Fact]
    public void Cwd_Missing_Throws()
    {
        var e = Assert.Throws<ConnectException>(() => LaunchSpec.ResolveCwd("/nope/nope", User, null));
        Assert.Equal(ConnectCode.InvalidArgument, e.Code);
        Assert.Equal("cwd '/nope/nope' does not exist", e.Message);
    }

    [Fact]
    public void Environment_LaterLayersWin()
    {
        var env = LaunchSpec.BuildEnvironment(User, new Dictionary<string, string> { ["G"] = "g", ["HOME"] = "/h" }, new Dictionary<string, string> { ["G"] = "call" });
        var map = env.ToDictionary();
        Assert.Equal("call", map["G"]);
        Assert.Equal("/h", map["HOME"]);
        Assert.Equal("user", map["USER"]);
        Assert.Equal(LaunchSpec.DefaultPath, map["PATH"]);
        Assert.Throws<ConnectException>(() => LaunchSpec.BuildEnvironment(User, new Dictionary<string, string>(), new Dictionary<string, string> { ["A=B"] = "x" }));
    }

    [Fact]
    public void OutputPump_AfterExit_DrainsEverything_EvenWhenAClientIsSlow()
    {
        using var server = new System.IO.Pipes.AnonymousPipeServerStream(System.IO.Pipes.PipeDirection.In);
        using (var writer = new System.IO.Pipes.AnonymousPipeClientStream(System.IO.Pipes.PipeDirection.Out, server.ClientSafePipeHandle))
            writer.Write(new byte[60 * 1024]); // what a child left in its pipe when it exited
        server.DisposeLocalCopyOfClientHandle();

        var total = 0;
        OutputPump.Run([((int)server.SafePipeHandle.DangerousGetHandle(), OutputKind.Stdout)], exited: () => true, publish: (_, chunk) =>
        {
            Assert.InRange(chunk.Length, 1, OutputPump.ChunkSize);
            if (total == 0) Thread.Sleep(1500); // a stalled client, longer than the drain cap
            total += chunk.Length;
        });
        Assert.Equal(60 * 1024, total);
    }

    [Fact]
    public void SelfCommand_PointsAtAnExistingFile()
    {
        Assert.True(File.Exists(SelfCommand.File), SelfCommand.File);
        Assert.All(SelfCommand.Prefix, p => Assert.True(File.Exists(p), p));
    }
}
