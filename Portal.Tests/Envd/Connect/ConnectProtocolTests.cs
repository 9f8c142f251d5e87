using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;

namespace Portal.Tests.Envd.Connect;

/// <summary>Connect-over-JSON framing and error shapes, and that bad input never stops the daemon.</summary>
public sealed class ConnectProtocolTests : IAsyncLifetime
{
    private EnvdServer _envd = null!;
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync() => _envd = await EnvdServer.StartAsync();
    public async ValueTask DisposeAsync() => await _envd.DisposeAsync();

    [Fact]
    public async Task Unary_AnswersJsonMessage()
    {
        var (status, body) = await _envd.UnaryAsync("process.Process/List", new { });
        Assert.Equal(200, status);
        Assert.NotNull(body!["processes"] ?? new JsonArray());
    }

    [Fact]
    public async Task Stream_SendsEnvelopesThenEndStream()
    {
        var r = await _envd.StreamAsync("process.Process/Start", new { process = new { cmd = "/bin/echo", args = new[] { "hi" } } }, ct: Ct);
        Assert.Equal(200, r.Status);
        Assert.Equal("application/connect+json", r.ContentType);
        Assert.NotNull(r.Messages[0]!["event"]!["start"]!["pid"]);
        Assert.Equal("aGkK", r.Messages[1]!["event"]!["data"]!["stdout"]!.GetValue<string>()); // base64 "hi\n"
        var end = r.Messages[^1]!["event"]!["end"]!;
        Assert.Null(end["exitCode"]); // proto3 default omitted
        Assert.True(end["exited"]!.GetValue<bool>());
        Assert.Equal("exit status 0", end["status"]!.GetValue<string>());
        Assert.Equal("{}", r.End!.ToJsonString());
    }

    [Fact]
    public async Task UnknownMethod_Is404Unimplemented()
    {
        var (status, body) = await _envd.UnaryAsync("process.Process/Nope", new { });
        Assert.Equal(404, status);
        Assert.Equal("unimplemented", body!["code"]!.GetValue<string>());
        await AssertStillServing();
    }

    [Fact]
    public async Task GetOnProcedure_Is405()
    {
        var res = await _envd.Http.GetAsync("/process.Process/Nope", Ct);
        Assert.Equal(HttpStatusCode.MethodNotAllowed, res.StatusCode);
    }

    [Theory]
    [InlineData("text/plain")]
    [InlineData("application/proto")]
    [InlineData(null)]
    public async Task WrongContentType_OnUnary_IsAConnectError(string? contentType)
    {
        using var msg = new HttpRequestMessage(HttpMethod.Post, "/process.Process/List") { Content = new StringContent("{}") };
        msg.Content.Headers.ContentType = contentType is null ? null : new MediaTypeHeaderValue(contentType);
        using var res = await _envd.Http.SendAsync(msg, Ct);
        Assert.False(res.IsSuccessStatusCode);
        Assert.Equal("application/json", res.Content.Headers.ContentType?.MediaType);
        var body = JsonNode.Parse(await res.Content.ReadAsStringAsync(Ct))!;
        Assert.Equal("unimplemented", body["code"]!.GetValue<string>());
        await AssertStillServing();
    }

    [Fact]
    public async Task JsonContentType_OnStreamingProcedure_IsAnErrorNotAHang()
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        cts.CancelAfter(TimeSpan.FromSeconds(10));
        using var msg = new HttpRequestMessage(HttpMethod.Post, "/process.Process/Start")
        {
            Content = new StringContent("""{"process":{"cmd":"/bin/true"}}""", Encoding.UTF8, "application/json"),
        };
        using var res = await _envd.Http.SendAsync(msg, cts.Token);
        Assert.Equal(HttpStatusCode.NotImplemented, res.StatusCode);
        Assert.Contains("connect+json", await res.Content.ReadAsStringAsync(cts.Token));
    }

    [Fact]
    public async Task InvalidJson_IsInvalidArgument()
    {
        using var msg = new HttpRequestMessage(HttpMethod.Post, "/filesystem.Filesystem/Stat") { Content = new StringContent("{not json", Encoding.UTF8, "application/json") };
        using var res = await _envd.Http.SendAsync(msg, Ct);
        Assert.Equal(HttpStatusCode.BadRequest, res.StatusCode);
        Assert.Equal("invalid_argument", JsonNode.Parse(await res.Content.ReadAsStringAsync(Ct))!["code"]!.GetValue<string>());
        await AssertStillServing();
    }

    [Fact]
    public async Task WrongFieldType_IsInvalidArgument()
    {
        var (status, body) = await _envd.UnaryAsync("filesystem.Filesystem/ListDir", new { path = new[] { 1, 2 }, depth = "deep" });
        Assert.Equal(400, status);
        Assert.Equal("invalid_argument", body!["code"]!.GetValue<string>());
    }

    [Fact]
    public async Task OversizedUnaryMessage_IsResourceExhausted()
    {
        var huge = new string('a', 17 * 1024 * 1024);
        using var msg = new HttpRequestMessage(HttpMethod.Post, "/filesystem.Filesystem/Stat") { Content = new StringContent($$"""{"path":"{{huge}}"}""", Encoding.UTF8, "application/json") };
        using var res = await _envd.Http.SendAsync(msg, Ct);
        Assert.Equal((HttpStatusCode)429, res.StatusCode);
        Assert.Equal("resource_exhausted", JsonNode.Parse(await res.Content.ReadAsStringAsync(Ct))!["code"]!.GetValue<string>());
        await AssertStillServing();
    }

    [Fact]
    public async Task OversizedEnvelope_IsResourceExhaustedOnTheStream()
    {
        var header = new byte[] { 0, 0x7f, 0xff, 0xff, 0xff }; // claims a 2 GB message
        var r = await RawStreamAsync("/process.Process/Start", header);
        Assert.Equal(200, r.Status);
        Assert.Equal("resource_exhausted", r.ErrorCode);
        await AssertStillServing();
    }

    [Theory]
    [InlineData(new byte[] { })]                           // no envelope
    [InlineData(new byte[] { 0, 0, 0 })]                    // truncated header
    [InlineData(new byte[] { 0, 0, 0, 0, 10, (byte)'{' })]  // payload shorter than declared
    public async Task MalformedEnvelope_IsInvalidArgumentOnTheStream(byte[] body)
    {
        var r = await RawStreamAsync("/process.Process/Start", body);
        Assert.Equal(200, r.Status);
        Assert.Equal("invalid_argument", r.ErrorCode);
        await AssertStillServing();
    }

    [Fact]
    public async Task CompressedEnvelope_IsRefused()
    {
        var r = await RawStreamAsync("/process.Process/Start", EnvdServer.Frame(1, "{}"u8.ToArray()));
        Assert.Equal("internal", r.ErrorCode);
        await AssertStillServing();
    }

    [Fact]
    public async Task BadTimeoutHeader_IsInvalidArgument()
    {
        using var msg = EnvdServer.StreamRequest("process.Process/Start", new { process = new { cmd = "/bin/true" } });
        msg.Headers.Remove("Connect-Timeout-Ms");
        msg.Headers.Add("Connect-Timeout-Ms", "soon");
        var r = await ReadStreamAsync(msg);
        Assert.Equal("invalid_argument", r.ErrorCode);
    }

    [Fact]
    public async Task StreamErrors_AreHttp200WithEndStreamError()
    {
        var r = await _envd.StreamAsync("process.Process/Connect", new { process = new { pid = 999999 } }, ct: Ct);
        Assert.Equal(200, r.Status);
        Assert.Equal("not_found", r.ErrorCode);
    }

    [Fact]
    public async Task UnknownUser_IsUnauthenticated()
    {
        var (status, body) = await _envd.UnaryAsync("filesystem.Filesystem/Stat", new { path = "/" }, user: "nobody-here");
        Assert.Equal(401, status);
        Assert.Equal("unauthenticated", body!["code"]!.GetValue<string>());
    }

    [Fact]
    public async Task SnakeCaseInput_IsAccepted()
    {
        var dir = Directory.CreateTempSubdirectory("snake-").FullName;
        try
        {
            var (status, body) = await _envd.UnaryAsync("filesystem.Filesystem/CreateWatcher", new { path = dir, include_entry = true }, user: "root");
            Assert.Equal(200, status);
            Assert.False(string.IsNullOrEmpty(body!["watcherId"]!.GetValue<string>()));
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public async Task KeepalivesFlowOnIdleStreams()
    {
        using var msg = EnvdServer.StreamRequest("process.Process/Start", new { process = new { cmd = "/bin/sleep", args = new[] { "2.5" } } }, timeoutMs: 10000);
        msg.Headers.Add("Keepalive-Ping-Interval", "1");
        var r = await ReadStreamAsync(msg);
        Assert.Contains(r.Messages, m => m!["event"]!["keepalive"] is not null);
    }

    private async Task<StreamResult> RawStreamAsync(string path, byte[] body)
    {
        using var msg = new HttpRequestMessage(HttpMethod.Post, path) { Content = new ByteArrayContent(body) };
        msg.Content.Headers.ContentType = new MediaTypeHeaderValue("application/connect+json");
        return await ReadStreamAsync(msg);
    }

    private async Task<StreamResult> ReadStreamAsync(HttpRequestMessage msg)
    {
        using var res = await _envd.Http.SendAsync(msg, HttpCompletionOption.ResponseHeadersRead, Ct);
        var messages = new List<JsonNode?>();
        JsonNode? end = null;
        await using var stream = await res.Content.ReadAsStreamAsync(Ct);
        await foreach (var (flags, json) in EnvdServer.ReadEnvelopesAsync(stream, Ct))
        {
            if ((flags & 2) != 0) { end = JsonNode.Parse(json); break; }
            messages.Add(JsonNode.Parse(json));
        }
        return new StreamResult((int)res.StatusCode, res.Content.Headers.ContentType?.MediaType, messages, end);
    }

    private async Task AssertStillServing()
    {
        Assert.Equal(HttpStatusCode.NoContent, (await _envd.Http.GetAsync("/health", Ct)).StatusCode);
        var (status, _) = await _envd.UnaryAsync("process.Process/List", new { });
        Assert.Equal(200, status);
    }
}
