using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using static Portal.Tests.Envd.Process.ProcessTestUtil;

namespace Portal.Tests.Envd.Process;

/// <summary>Malformed requests get a Connect error (never a hang), and the daemon keeps serving.</summary>
public class BadInputTests
{
    private static async Task<(int Status, string? ContentType, List<(byte Flags, string Json)> Frames)> PostStreamAsync(EnvdServer envd, string procedure, byte[] body, string contentType = "application/connect+json")
    {
        using var msg = new HttpRequestMessage(HttpMethod.Post, "/" + procedure) { Content = new ByteArrayContent(body) };
        msg.Content.Headers.ContentType = MediaTypeHeaderValue.Parse(contentType);
        msg.Headers.Add("Connect-Protocol-Version", "1");
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        cts.CancelAfter(TimeSpan.FromSeconds(15)); // a hang fails the test instead of blocking it
        using var res = await envd.Http.SendAsync(msg, HttpCompletionOption.ResponseHeadersRead, cts.Token);
        var frames = new List<(byte, string)>();
        if (res.Content.Headers.ContentType?.MediaType == "application/connect+json")
        {
            await using var stream = await res.Content.ReadAsStreamAsync(cts.Token);
            await foreach (var f in EnvdServer.ReadEnvelopesAsync(stream, cts.Token)) frames.Add(f);
        }
        else
        {
            frames.Add((0xFF, await res.Content.ReadAsStringAsync(cts.Token)));
        }
        return ((int)res.StatusCode, res.Content.Headers.ContentType?.MediaType, frames);
    }

    private static string? EndError(List<(byte Flags, string Json)> frames) =>
        frames is [.., var last] && (last.Flags & 0x02) != 0 ? JsonNode.Parse(last.Json)?["error"]?["code"]?.GetValue<string>() : null;

    [Fact]
    public async Task TruncatedEnvelope_IsInvalidArgument()
    {
        await using var envd = await EnvdServer.StartAsync();
        var (status, _, frames) = await PostStreamAsync(envd, "process.Process/Start", [0, 0, 0]);
        Assert.Equal(200, status);
        Assert.Equal("invalid_argument", EndError(frames));
        await AssertStillServesAsync(envd);
    }

    [Fact]
    public async Task EnvelopeShorterThanItsLength_IsInvalidArgument()
    {
        await using var envd = await EnvdServer.StartAsync();
        var (status, _, frames) = await PostStreamAsync(envd, "process.Process/Start", [0, 0, 0, 0, 50, (byte)'{', (byte)'}']);
        Assert.Equal(200, status);
        Assert.Equal("invalid_argument", EndError(frames));
        await AssertStillServesAsync(envd);
    }

    [Fact]
    public async Task JsonContentTypeOnAStreamingProcedure_IsAnErrorNotAHang()
    {
        await using var envd = await EnvdServer.StartAsync();
        var (status, contentType, frames) = await PostStreamAsync(envd, "process.Process/Start", Encoding.UTF8.GetBytes("""{"process":{"cmd":"/bin/true"}}"""), "application/json");
        Assert.NotEqual(200, status);
        Assert.Equal("application/json", contentType);
        Assert.Equal("unimplemented", JsonNode.Parse(frames[0].Json)!["code"]!.GetValue<string>());
        await AssertStillServesAsync(envd);
    }

    [Fact]
    public async Task OversizedEnvelope_IsResourceExhausted()
    {
        await using var envd = await EnvdServer.StartAsync();
        var (status, _, frames) = await PostStreamAsync(envd, "process.Process/Start", [0, 0x7F, 0xFF, 0xFF, 0xFF]);
        Assert.Equal(200, status);
        Assert.Equal("resource_exhausted", EndError(frames));
        await AssertStillServesAsync(envd);
    }

    [Fact]
    public async Task OversizedUnaryBody_IsResourceExhausted()
    {
        await using var envd = await EnvdServer.StartAsync();
        var big = new string('a', 17 * 1024 * 1024);
        var (status, body) = await envd.UnaryAsync("process.Process/SendInput", new { process = new { pid = 1 }, input = new { stdin = big } });
        Assert.Equal(429, status);
        Assert.Equal("resource_exhausted", body!["code"]!.GetValue<string>());
        await AssertStillServesAsync(envd);
    }

    [Fact]
    public async Task InvalidJson_IsInvalidArgument_UnaryAndStream()
    {
        await using var envd = await EnvdServer.StartAsync();
        using (var content = new StringContent("{not json", Encoding.UTF8, "application/json"))
        {
            var res = await envd.Http.PostAsync("/process.Process/List", content, Ct);
            Assert.Equal(HttpStatusCode.BadRequest, res.StatusCode);
            Assert.Equal("invalid_argument", JsonNode.Parse(await res.Content.ReadAsStringAsync(Ct))!["code"]!.GetValue<string>());
        }
        var (status, _, frames) = await PostStreamAsync(envd, "process.Process/Start", EnvdServer.Frame(0, Encoding.UTF8.GetBytes("{\"process\":")));
        Assert.Equal(200, status);
        Assert.Equal("invalid_argument", EndError(frames));

        // Wrong JSON types and bad base64 are invalid too.
        var (s2, b2) = await envd.UnaryAsync("process.Process/SendInput", new { process = new { pid = "abc" } });
        Assert.Equal(400, s2);
        Assert.Equal("invalid_argument", b2!["code"]!.GetValue<string>());
        var (s3, b3) = await envd.UnaryAsync("process.Process/SendInput", new { process = new { pid = 1 }, input = new { stdin = "!!not base64!!" } });
        Assert.Equal(400, s3);
        Assert.Equal("invalid_argument", b3!["code"]!.GetValue<string>());
        var (s4, b4) = await envd.UnaryAsync("process.Process/SendSignal", new { process = new { pid = 1 }, signal = "SIGNAL_BOGUS" });
        Assert.Equal(400, s4);
        Assert.Equal("invalid_argument", b4!["code"]!.GetValue<string>());
        await AssertStillServesAsync(envd);
    }

    [Fact]
    public async Task MissingProcessConfigOrSelector_IsInvalidArgument()
    {
        await using var envd = await EnvdServer.StartAsync();
        await using (var s = await ProcessStream.StartAsync(envd, new { }))
            Assert.Equal("invalid_argument", s.ErrorCode);
        var (status, body) = await envd.UnaryAsync("process.Process/SendSignal", new { signal = "SIGNAL_SIGKILL" });
        Assert.Equal(400, status);
        Assert.Equal("invalid_argument", body!["code"]!.GetValue<string>());
        await AssertStillServesAsync(envd);
    }

    [Fact]
    public async Task UnknownMethod_Is404Unimplemented()
    {
        await using var envd = await EnvdServer.StartAsync();
        var (status, body) = await envd.UnaryAsync("process.Process/Frobnicate", new { });
        Assert.Equal(404, status);
        Assert.Equal("unimplemented", body!["code"]!.GetValue<string>());
        await AssertStillServesAsync(envd);
    }

    [Fact]
    public async Task StreamInput_IsUnimplemented()
    {
        await using var envd = await EnvdServer.StartAsync();
        var (status, _, frames) = await PostStreamAsync(envd, "process.Process/StreamInput", EnvdServer.Frame(0, Encoding.UTF8.GetBytes("""{"start":{"process":{"pid":1}}}""")));
        Assert.Equal(200, status);
        Assert.Equal("unimplemented", EndError(frames));
        await AssertStillServesAsync(envd);
    }

    [Fact]
    public async Task EnvKeysWithUnderscores_AreKeptAsSent()
    {
        await using var envd = await EnvdServer.StartAsync();
        await using var s = await ProcessStream.StartAsync(envd, new Dictionary<string, object>
        {
            ["process"] = new Dictionary<string, object>
            {
                ["cmd"] = "/bin/sh",
                ["args"] = new[] { "-c", "echo \"$MY_VAR $my_other_var\"" },
                ["envs"] = new Dictionary<string, string> { ["MY_VAR"] = "a", ["my_other_var"] = "b" },
            },
            ["stdin"] = false,
        });
        await s.ReadToEndAsync();
        Assert.Equal("a b\n", s.Stdout);
    }
}
