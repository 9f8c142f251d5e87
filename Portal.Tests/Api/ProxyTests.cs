using System.Net.WebSockets;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Portal.Core.Runtime;
using Portal.Core.Sandboxes;
using static Portal.Tests.Api.Http;

namespace Portal.Tests.Api;

/// <summary>A loopback server that plays a sandbox port for the proxy tests.</summary>
public sealed class BackendServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    public int Port { get; }
    /// <summary>Released by the test to let /stream send its second chunk.</summary>
    public TaskCompletionSource SecondChunk { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    public TaskCompletionSource ForeverEnded { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private BackendServer(WebApplication app, int port) { _app = app; Port = port; }

    public static async Task<BackendServer> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.WebHost.ConfigureKestrel(k => k.Limits.MaxRequestBodySize = null);
        var app = builder.Build();
        BackendServer? self = null;
        app.UseWebSockets();
        app.MapGet("/echo", (HttpContext ctx) => Results.Json(new
        {
            path = ctx.Request.Path.Value,
            query = ctx.Request.QueryString.Value,
            token = ctx.Request.Headers["X-Access-Token"].ToString(),
            sandbox = ctx.Request.Headers["E2b-Sandbox-Id"].ToString(),
        }));
        app.MapGet("/files", (HttpContext ctx) => Results.Text("file via " + ctx.Request.QueryString.Value));
        app.MapPost("/files", async (HttpContext ctx) =>
        {
            long n = 0;
            var buf = new byte[81920];
            int r;
            while ((r = await ctx.Request.Body.ReadAsync(buf)) > 0) n += r;
            return Results.Text($"stored {n}");
        });
        app.MapGet("/empty404", () => Results.StatusCode(404));
        app.MapGet("/stream", async (HttpContext ctx) =>
        {
            ctx.Response.ContentType = "application/connect+json";
            await ctx.Response.WriteAsync("one\n");
            await ctx.Response.Body.FlushAsync();
            await self!.SecondChunk.Task.WaitAsync(TimeSpan.FromSeconds(20));
            await ctx.Response.WriteAsync("two\n");
        });
        app.MapGet("/forever", async (HttpContext ctx) =>
        {
            try
            {
                while (!ctx.RequestAborted.IsCancellationRequested)
                {
                    await ctx.Response.WriteAsync("tick\n", ctx.RequestAborted);
                    await ctx.Response.Body.FlushAsync(ctx.RequestAborted);
                    await Task.Delay(100, ctx.RequestAborted);
                }
            }
            catch (Exception) { }
            finally { self!.ForeverEnded.TrySetResult(); }
        });
        app.Map("/ws", async (HttpContext ctx) =>
        {
            if (!ctx.WebSockets.IsWebSocketRequest) { ctx.Response.StatusCode = 400; return; }
            using var ws = await ctx.WebSockets.AcceptWebSocketAsync();
            var buf = new byte[4096];
            while (true)
            {
                var r = await ws.ReceiveAsync(buf, CancellationToken.None);
                if (r.MessageType == WebSocketMessageType.Close) { await ws.CloseAsync(WebSocketCloseStatus.NormalClosure, "bye", CancellationToken.None); break; }
                await ws.SendAsync(Encoding.UTF8.GetBytes("echo:" + Encoding.UTF8.GetString(buf, 0, r.Count)), WebSocketMessageType.Text, true, CancellationToken.None);
            }
        });
        await app.StartAsync();
        var port = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First()).Port;
        self = new BackendServer(app, port);
        return self;
    }

    public async ValueTask DisposeAsync()
    {
        SecondChunk.TrySetResult();
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}

public class ProxyTests : Portal.Tests.Web.Proxy.TransportSuite
{
    private static HttpRequestMessage Routed(HttpMethod method, string url, string sandboxId, int port = SandboxPorts.Envd)
    {
        var req = new HttpRequestMessage(method, url);
        req.Headers.Add("E2b-Sandbox-Id", sandboxId);
        req.Headers.Add("E2b-Sandbox-Port", port.ToString());
        return req;
    }

    private async Task<(PortalHost Host, BackendServer Backend)> StartAsync()
    {
        var backend = await BackendServer.StartAsync();
        var host = await StartPortalAsync();
        host.Runtime.Backends[SandboxPorts.Envd] = backend.Port;
        return (host, backend);
    }

    [Fact]
    public async Task HeaderRouting_ForwardsPathQueryAndHeaders_WithoutApiKey()
    {
        var (host, backend) = await StartAsync();
        await using var _ = host; await using var __ = backend;
        var id = (string)(await host.Admin.CreateSandboxAsync())["sandboxID"]!;
        using var req = Routed(HttpMethod.Get, "/echo?x=1&y=a%20b", id);
        req.Headers.Add("X-Access-Token", "tok");
        using var res = await host.Client(null).SendAsync(req, Ct);
        Assert.Equal(200, (int)res.StatusCode);
        var body = JsonNode.Parse(await res.Content.ReadAsStringAsync(Ct))!;
        Assert.Equal("/echo", (string)body["path"]!);
        Assert.Equal("?x=1&y=a%20b", (string)body["query"]!);
        Assert.Equal("tok", (string)body["token"]!);
        Assert.Equal(id, (string)body["sandbox"]!);
    }

    [Fact]
    public async Task HeaderRouting_PassesUpstreamErrorsThroughUntouched()
    {
        var (host, backend) = await StartAsync();
        await using var _ = host; await using var __ = backend;
        var id = (string)(await host.Admin.CreateSandboxAsync())["sandboxID"]!;
        using var res = await host.Client(null).SendAsync(Routed(HttpMethod.Get, "/empty404", id), Ct);
        Assert.Equal(404, (int)res.StatusCode);
        Assert.Equal("", await res.Content.ReadAsStringAsync(Ct));
        // A path that is a portal route is still forwarded when routing headers are present.
        using var res2 = await host.Client(null).SendAsync(Routed(HttpMethod.Get, "/v2/sandboxes", id), Ct);
        Assert.Equal(404, (int)res2.StatusCode);
    }

    [Fact]
    public async Task Streams_FlowChunkByChunk()
    {
        var (host, backend) = await StartAsync();
        await using var _ = host; await using var __ = backend;
        var id = (string)(await host.Admin.CreateSandboxAsync())["sandboxID"]!;
        using var res = await host.Client(null).SendAsync(Routed(HttpMethod.Get, "/stream", id), HttpCompletionOption.ResponseHeadersRead, Ct);
        await using var body = await res.Content.ReadAsStreamAsync(Ct);
        var buf = new byte[64];
        // The first chunk arrives while the backend is still holding the second one back.
        var n = await body.ReadAsync(buf, Ct).AsTask().WaitAsync(TimeSpan.FromSeconds(5), Ct);
        Assert.Equal("one\n", Encoding.ASCII.GetString(buf, 0, n));
        backend.SecondChunk.SetResult();
        n = await body.ReadAsync(buf, Ct).AsTask().WaitAsync(TimeSpan.FromSeconds(5), Ct);
        Assert.Equal("two\n", Encoding.ASCII.GetString(buf, 0, n));
    }

    [Fact]
    public async Task LargeUpload_StreamsThrough()
    {
        var (host, backend) = await StartAsync();
        await using var _ = host; await using var __ = backend;
        var id = (string)(await host.Admin.CreateSandboxAsync())["sandboxID"]!;
        using var req = Routed(HttpMethod.Post, "/files?path=big.bin", id);
        req.Content = new ByteArrayContent(new byte[40 * 1024 * 1024]);
        using var res = await host.Client(null).SendAsync(req, Ct);
        Assert.Equal("stored 41943040", await res.Content.ReadAsStringAsync(Ct));
    }

    [Fact]
    public async Task WebSockets_AreProxied()
    {
        var (host, backend) = await StartAsync();
        await using var _ = host; await using var __ = backend;
        var id = (string)(await host.Admin.CreateSandboxAsync())["sandboxID"]!;
        using var ws = new ClientWebSocket();
        ws.Options.SetRequestHeader("E2b-Sandbox-Id", id);
        ws.Options.SetRequestHeader("E2b-Sandbox-Port", "49983");
        await ws.ConnectAsync(new Uri($"ws://127.0.0.1:{host.BaseAddress.Port}/ws"), Ct);
        await ws.SendAsync(Encoding.UTF8.GetBytes("hi"), WebSocketMessageType.Text, true, Ct);
        var buf = new byte[100];
        var r = await ws.ReceiveAsync(buf, Ct);
        Assert.Equal("echo:hi", Encoding.UTF8.GetString(buf, 0, r.Count));
        await ws.CloseAsync(WebSocketCloseStatus.NormalClosure, "done", Ct);
    }

    [Fact]
    public async Task UnknownKilledOrPausedSandbox_502NotFoundJson()
    {
        var (host, backend) = await StartAsync();
        await using var _ = host; await using var __ = backend;
        var c = host.Client(null);
        async Task AssertNotFound(string id)
        {
            using var res = await c.SendAsync(Routed(HttpMethod.Get, "/health", id), Ct);
            Assert.Equal(502, (int)res.StatusCode);
            var body = JsonNode.Parse(await res.Content.ReadAsStringAsync(Ct))!;
            Assert.Equal("The sandbox was not found", (string)body["message"]!);
            Assert.Equal(id, (string)body["sandboxId"]!);
            Assert.Equal(502, (int)body["code"]!);
        }
        await AssertNotFound("doesnotexist");
        var paused = (string)(await host.Admin.CreateSandboxAsync())["sandboxID"]!;
        await host.Admin.PostJsonAsync($"/sandboxes/{paused}/pause");
        await AssertNotFound(paused);
        var killed = (string)(await host.Admin.CreateSandboxAsync())["sandboxID"]!;
        await host.Admin.DeleteJsonAsync($"/sandboxes/{killed}");
        await AssertNotFound(killed);
        Assert.Contains("portal_proxy_errors_total{reason=\"sandbox_not_found\"} 3", await c.GetStringAsync("/metrics", Ct));
    }

    [Fact]
    public async Task ClosedPort_502PortMessage()
    {
        var (host, backend) = await StartAsync();
        await using var _ = host; await using var __ = backend;
        var id = (string)(await host.Admin.CreateSandboxAsync())["sandboxID"]!;
        using var res = await host.Client(null).SendAsync(Routed(HttpMethod.Get, "/", id, 49999), Ct);
        Assert.Equal(502, (int)res.StatusCode);
        var body = JsonNode.Parse(await res.Content.ReadAsStringAsync(Ct))!;
        Assert.Equal("The sandbox is running but port is not open", (string)body["message"]!);
        Assert.Equal(49999, (int)body["port"]!);
        Assert.Equal(id, (string)body["sandboxId"]!);
    }

    [Fact]
    public async Task Kill_CutsLiveStreams()
    {
        var (host, backend) = await StartAsync();
        await using var _ = host; await using var __ = backend;
        var id = (string)(await host.Admin.CreateSandboxAsync())["sandboxID"]!;
        using var res = await host.Client(null).SendAsync(Routed(HttpMethod.Get, "/forever", id), HttpCompletionOption.ResponseHeadersRead, Ct);
        var body = await res.Content.ReadAsStreamAsync(Ct);
        var buf = new byte[64];
        Assert.True(await body.ReadAsync(buf, Ct) > 0);
        Assert.Equal(204, (await host.Admin.DeleteJsonAsync($"/sandboxes/{id}")).Status);
        // The client's stream ends (error or EOF) promptly, and the upstream request is torn down.
        var ended = Task.Run(async () =>
        {
            try { while (await body.ReadAsync(buf, Ct) > 0) { } }
            catch (Exception e) when (e is IOException or HttpRequestException) { }
        }, Ct);
        await ended.WaitAsync(TimeSpan.FromSeconds(5), Ct);
        await backend.ForeverEnded.Task.WaitAsync(TimeSpan.FromSeconds(5), Ct);
    }

    [Fact]
    public async Task SignedFilesUrl_WithoutHeaders_FindsItsSandboxBySignature()
    {
        var (host, backend) = await StartAsync();
        await using var _ = host; await using var __ = backend;
        var a = await host.Admin.CreateSandboxAsync();
        var b = await host.Admin.CreateSandboxAsync();
        var c = host.Client(null);
        foreach (var sbx in new[] { a, b })
        {
            var token = (string)sbx["envdAccessToken"]!;
            var exp = DateTimeOffset.UtcNow.AddMinutes(5).ToUnixTimeSeconds().ToString();
            var sig = FileUrlSignature.Compute("dir/file.txt", "read", "user", token, exp);
            var text = await c.GetStringAsync($"/files?username=user&path=dir%2Ffile.txt&signature={Uri.EscapeDataString(sig)}&signature_expiration={exp}", Ct);
            Assert.StartsWith("file via ?username=user", text);
            var wsig = FileUrlSignature.Compute("up.bin", "write", "", token, null);
            using var up = await c.PostAsync($"/files?path=up.bin&signature={Uri.EscapeDataString(wsig)}", new ByteArrayContent(new byte[10]), Ct);
            Assert.Equal("stored 10", await up.Content.ReadAsStringAsync(Ct));
        }
        // A signature made for reading does not route a write; a made-up one routes nowhere.
        var token0 = (string)a["envdAccessToken"]!;
        var readSig = FileUrlSignature.Compute("x", "read", "", token0, null);
        using var wrongOp = await c.PostAsync($"/files?path=x&signature={Uri.EscapeDataString(readSig)}", new ByteArrayContent([1]), Ct);
        Assert.Equal(401, (int)wrongOp.StatusCode);
        AssertError(await c.GetJsonAsync("/files?path=x&signature=v1_AAAA"), 401, "signature");
        AssertError(await c.GetJsonAsync("/files?path=x"), 404, "E2b-Sandbox-Id");
        AssertError(await c.GetJsonAsync("/files?signature=v1_AAAA"), 400, "path");
        // Once the sandbox is gone its URLs stop routing.
        await host.Admin.DeleteJsonAsync($"/sandboxes/{a["sandboxID"]}");
        AssertError(await c.GetJsonAsync($"/files?path=x&signature={Uri.EscapeDataString(readSig)}"), 401);
    }

    [Fact]
    public async Task TeamIsolation_ProxyNeedsTheSandboxAccessToken()
    {
        var runtime = new FakeSandboxRuntime { RealEnvd = true };
        await using var host = await StartPortalAsync(runtime);
        await using var _ = runtime;
        var teamA = await ApiKeysTests.NewTeamClientAsync(host, "a");
        var teamB = await ApiKeysTests.NewTeamClientAsync(host, "b");
        var sbx = await teamA.CreateSandboxAsync("""{"templateID":"base","envVars":{"SECRET":"42"}}""");
        var id = (string)sbx["sandboxID"]!;
        var token = (string)sbx["envdAccessToken"]!;
        // Team B knows the ID but cannot see the sandbox, get its token, or use envd without it.
        AssertError(await teamB.GetJsonAsync($"/sandboxes/{id}"), 404);
        AssertError(await teamB.PostJsonAsync($"/v2/sandboxes/{id}/connect"), 404);
        using (var res = await teamB.SendAsync(Routed(HttpMethod.Get, "/envs", id), Ct))
            Assert.Equal(401, (int)res.StatusCode);
        using (var wrong = Routed(HttpMethod.Get, "/envs", id))
        {
            wrong.Headers.Add("X-Access-Token", "guess");
            using var res = await teamB.SendAsync(wrong, Ct);
            Assert.Equal(401, (int)res.StatusCode);
        }
        // The owner, with the token, gets through to envd.
        using var ok = Routed(HttpMethod.Get, "/envs", id);
        ok.Headers.Add("X-Access-Token", token);
        using var okRes = await teamA.SendAsync(ok, Ct);
        Assert.Equal(200, (int)okRes.StatusCode);
        using var health = await host.Client(null).SendAsync(Routed(HttpMethod.Get, "/health", id), Ct);
        Assert.Equal(204, (int)health.StatusCode);
    }
}
