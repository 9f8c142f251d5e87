using System.Net.Sockets;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Portal.Core.Runtime;
using Portal.Tests.Api;
using Portal.Web.Proxy;
using static Portal.Tests.Api.Http;

namespace Portal.Tests.Web.Proxy;

/// <summary>
/// The connection-level fast path (<see cref="Http1ConnectionProxy"/>) on raw client sockets: which
/// requests it carries, which it hands to Kestrel untouched (and that Kestrel then answers them as
/// before), and the bytes both ways. The forwarder tests (<see cref="Http1ForwarderTests"/>) run
/// over plain HTTP too, so they exercise the fast path for every framing case as well.
/// </summary>
public class Http1ConnectionProxyTests : TransportSuite
{
    private const string Ok = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

    private async Task<(PortalHost Host, RawBackend Backend, string Id, Http1ConnectionProxy Fast)> StartAsync(
        Func<RawConnection, Task> serve, IDictionary<string, string?>? config = null, Action<WebApplicationBuilder>? configure = null)
    {
        var backend = RawBackend.Start(serve);
        var host = await StartPortalAsync(config: config, configure: configure);
        host.Runtime.Backends[SandboxPorts.Envd] = backend.Port;
        var id = (string)(await host.Admin.CreateSandboxAsync())["sandboxID"]!;
        return (host, backend, id, host.Services.GetRequiredService<Http1ConnectionProxy>());
    }

    private static Func<RawConnection, Task> Always(string response) => async c =>
    {
        while (await c.ReadRequestAsync() is not null) await c.WriteAsync(response);
    };

    private static string Routed(string id, string method = "GET", string path = "/x", string extra = "") =>
        $"{method} {path} HTTP/1.1\r\nHost: portal.test\r\nE2b-Sandbox-Id: {id}\r\nE2b-Sandbox-Port: 49983\r\n{extra}\r\n";

    /// <summary>The fast path counts a request once its response is sent, which the client may see first.</summary>
    private static async Task AssertForwardedAsync(long expected, Http1ConnectionProxy fast)
    {
        for (var i = 0; i < 500 && fast.Forwarded < expected; i++) await Task.Delay(10);
        Assert.Equal(expected, fast.Forwarded);
    }

    [Fact]
    public async Task RoutedRequest_IsForwardedWithoutHopByHopHeaders_AndWithForwardedHeaders()
    {
        var (host, backend, id, fast) = await StartAsync(Always("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\nX-Sandbox: yes\r\n\r\nok"));
        await using var _ = host; await using var __ = backend;
        await using var client = await RawClient.ConnectAsync(host);

        await client.SendAsync(Routed(id, "POST", "/rpc?a=1", "Connection: keep-alive\r\nKeep-Alive: 5\r\nTE: trailers\r\nX-Forwarded-For: 10.1.2.3\r\nX-Forwarded-Proto: https\r\nContent-Length: 5\r\nX-Custom: v\r\n") + "hello");
        var (head, body) = await client.ReadResponseAsync();

        Assert.StartsWith("HTTP/1.1 200 OK\r\n", head);
        Assert.Contains("X-Sandbox: yes", head);
        Assert.DoesNotContain("Keep-Alive", head, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("Connection:", head, StringComparison.OrdinalIgnoreCase);
        Assert.Equal("ok", body);

        var (upstream, upstreamBody) = Assert.Single(backend.Requests);
        var lines = upstream.Split("\r\n");
        Assert.Equal("POST /rpc?a=1 HTTP/1.1", lines[0]);
        Assert.Contains("Host: portal.test", lines);
        Assert.Contains("X-Custom: v", lines);
        Assert.Contains("Content-Length: 5", lines);
        Assert.Contains("X-Forwarded-For: 10.1.2.3, 127.0.0.1", lines);
        Assert.Contains("X-Forwarded-Proto: http", lines);
        Assert.Contains("X-Forwarded-Host: portal.test", lines);
        Assert.DoesNotContain(lines, l => l.StartsWith("Connection", StringComparison.OrdinalIgnoreCase)
            || l.StartsWith("Keep-Alive", StringComparison.OrdinalIgnoreCase) || l.StartsWith("TE:", StringComparison.OrdinalIgnoreCase)
            || l == "X-Forwarded-Proto: https");
        Assert.Equal("hello", upstreamBody);
        await AssertForwardedAsync(1, fast);
    }

    [Fact]
    public async Task PrivatePathAndNativeHost_AreForwardedWithTheirPrefixAndHostHandled()
    {
        var config = new Dictionary<string, string?> { ["Portal:Domain"] = "sbx.test" };
        var (host, backend, id, fast) = await StartAsync(Always(Ok), config);
        await using var _ = host; await using var __ = backend;
        await using var client = await RawClient.ConnectAsync(host);

        await client.SendAsync($"GET /kruise/{id}/49983/files?path=%2Ftmp HTTP/1.1\r\nHost: sbx.test\r\n\r\n");
        Assert.Equal("ok", (await client.ReadResponseAsync()).Body);
        await client.SendAsync($"GET /health HTTP/1.1\r\nHost: 49983-{id}.sbx.test\r\n\r\n");
        Assert.Equal("ok", (await client.ReadResponseAsync()).Body);

        Assert.StartsWith("GET /files?path=%2Ftmp HTTP/1.1\r\n", backend.Requests[0].Head);
        Assert.Contains("Host: sbx.test\r\n", backend.Requests[0].Head);
        Assert.StartsWith("GET /health HTTP/1.1\r\n", backend.Requests[1].Head);
        Assert.Contains($"Host: 49983-{id}.sbx.test\r\n", backend.Requests[1].Head);
        await AssertForwardedAsync(2, fast);
    }

    [Fact]
    public async Task ChunkedResponse_IsPassedOnVerbatim()
    {
        const string chunked = "3;ext=1\r\nhel\r\n2\r\nlo\r\n0\r\nX-Trailer: t\r\n\r\n";
        var (host, backend, id, _) = await StartAsync(Always("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 99\r\n\r\n" + chunked));
        await using var h = host; await using var __ = backend;
        await using var client = await RawClient.ConnectAsync(host);
        for (var i = 0; i < 2; i++)
        {
            await client.SendAsync(Routed(id));
            var (head, body) = await client.ReadResponseAsync();
            Assert.Contains("Transfer-Encoding: chunked", head);
            Assert.DoesNotContain("Content-Length", head); // both framings from the sandbox: chunked wins
            Assert.Equal(chunked, body);
        }
        Assert.Equal(1, backend.Connections);
    }

    [Fact]
    public async Task CloseDelimitedResponse_ClosesTheClientConnectionAfterIt()
    {
        var (host, backend, id, _) = await StartAsync(async c =>
        {
            await c.ReadRequestAsync();
            await c.WriteAsync("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end");
        });
        await using var h = host; await using var __ = backend;
        await using var client = await RawClient.ConnectAsync(host);
        await client.SendAsync(Routed(id));
        var (head, body) = await client.ReadResponseAsync();
        Assert.Contains("Connection: close", head);
        Assert.Equal("until the end", body);
        Assert.True(await client.IsClosedAsync());
    }

    [Fact]
    public async Task PipelinedRequests_AreAnsweredInOrder_AndConnectionCloseEndsTheConnection()
    {
        var n = 0;
        var (host, backend, id, fast) = await StartAsync(async c =>
        {
            while (await c.ReadRequestAsync() is not null)
            {
                var body = $"r{Interlocked.Increment(ref n)}";
                await c.WriteAsync($"HTTP/1.1 200 OK\r\nContent-Length: {body.Length}\r\n\r\n{body}");
            }
        });
        await using var h = host; await using var __ = backend;
        await using var client = await RawClient.ConnectAsync(host);
        await client.SendAsync(Routed(id) + Routed(id) + Routed(id, extra: "Connection: close\r\n"));
        Assert.Equal("r1", (await client.ReadResponseAsync()).Body);
        Assert.Equal("r2", (await client.ReadResponseAsync()).Body);
        var (last, lastBody) = await client.ReadResponseAsync();
        Assert.Equal("r3", lastBody);
        Assert.Contains("Connection: close", last);
        Assert.True(await client.IsClosedAsync());
        await AssertForwardedAsync(3, fast);
    }

    [Fact]
    public async Task PortalRequestsOnTheSameConnection_AreAnsweredByKestrel_AndTheFastPathGoesOn()
    {
        var (host, backend, id, fast) = await StartAsync(Always(Ok));
        await using var h = host; await using var __ = backend;
        await using var client = await RawClient.ConnectAsync(host);

        await client.SendAsync(Routed(id));
        Assert.Equal("ok", (await client.ReadResponseAsync()).Body);
        await client.SendAsync("GET /health HTTP/1.1\r\nHost: portal.test\r\n\r\n");
        var (head, body) = await client.ReadResponseAsync();
        Assert.StartsWith("HTTP/1.1 200", head);
        Assert.Contains("\"ok\"", body);
        // An API call with a body (as the SDK makes on the same connection in header-routing mode).
        const string json = "{\"templateID\":\"base\"}";
        await client.SendAsync($"POST /sandboxes HTTP/1.1\r\nHost: portal.test\r\nX-API-Key: {PortalHost.AdminKey}\r\nContent-Type: application/json\r\nContent-Length: {json.Length}\r\n\r\n{json}");
        var (created, createdBody) = await client.ReadResponseAsync();
        Assert.StartsWith("HTTP/1.1 201", created);
        Assert.Contains("sandboxID", createdBody);
        await client.SendAsync(Routed(id));
        Assert.Equal("ok", (await client.ReadResponseAsync()).Body);

        // Pipelined: sandbox, portal, sandbox in one write come back in order.
        await client.SendAsync(Routed(id) + "GET /health HTTP/1.1\r\nHost: portal.test\r\n\r\n" + Routed(id));
        Assert.Equal("ok", (await client.ReadResponseAsync()).Body);
        Assert.Contains("\"ok\"", (await client.ReadResponseAsync()).Body);
        Assert.Equal("ok", (await client.ReadResponseAsync()).Body);

        await AssertForwardedAsync(4, fast); // every sandbox request, on the same connection throughout
    }

    [Fact]
    public async Task LargeUpload_GoesThroughKestrel_AndTheNextRequestIsFastAgain()
    {
        var (host, backend, id, fast) = await StartAsync(async c =>
        {
            while (await c.ReadRequestAsync() is { } r)
                await c.WriteAsync($"HTTP/1.1 200 OK\r\nContent-Length: {r.Body.Length.ToString().Length}\r\n\r\n{r.Body.Length}");
        });
        await using var h = host; await using var __ = backend;
        await using var client = await RawClient.ConnectAsync(host);
        var upload = new string('u', 100_000);
        await client.SendAsync(Routed(id, "POST", "/files", $"Content-Length: {upload.Length}\r\n") + upload);
        Assert.Equal("100000", (await client.ReadResponseAsync()).Body);
        await client.SendAsync(Routed(id, "POST", "/rpc", "Content-Length: 3\r\n") + "abc");
        Assert.Equal("3", (await client.ReadResponseAsync()).Body);
        await AssertForwardedAsync(1, fast);
        Assert.Equal(2, backend.Requests.Count);
    }

    public static TheoryData<string, string, int> NotForTheFastPath => new()
    {
        // name, what follows the routing headers (and the blank line), expected status from Kestrel's path
        { "chunked body", "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 200 },
        { "body over 16 KB", $"Content-Length: 20000\r\n\r\n{new string('b', 20000)}", 200 },
        { "expect 100-continue", "Content-Length: 5\r\nExpect: 100-continue\r\n\r\nhello", 200 },
        { "obs-fold", "X-Folded: a\r\n b\r\n\r\n", 400 },
        { "duplicate Content-Length", "Content-Length: 1\r\nContent-Length: 2\r\n\r\nab", 400 },
        { "non-ASCII header value", "X-Bad: caf\u00e9\r\n\r\n", 400 },
    };

    [Theory]
    [MemberData(nameof(NotForTheFastPath))]
    public async Task RequestsOutsideTheStrictSubset_AreAnsweredByKestrelAsBefore(string name, string rest, int status)
    {
        var (host, backend, id, fast) = await StartAsync(Always(Ok));
        await using var h = host; await using var __ = backend;
        await using var client = await RawClient.ConnectAsync(host);
        var request = $"POST /x HTTP/1.1\r\nHost: portal.test\r\nE2b-Sandbox-Id: {id}\r\nE2b-Sandbox-Port: 49983\r\n" + rest;
        await client.SendAsync(request);
        var (head, _) = await client.ReadResponseAsync();
        Assert.True(head.StartsWith($"HTTP/1.1 {status}", StringComparison.Ordinal), $"{name}: {head}");
        Assert.Equal(0, fast.Forwarded);
    }

    [Fact]
    public async Task RejectedRoutesAndStoppedSandboxes_GetTheRegularErrors()
    {
        var (host, backend, id, fast) = await StartAsync(Always(Ok));
        await using var h = host; await using var __ = backend;

        await using (var client = await RawClient.ConnectAsync(host))
        {
            await client.SendAsync("GET /x HTTP/1.1\r\nHost: portal.test\r\nE2b-Sandbox-Id: Bad.Id\r\nE2b-Sandbox-Port: 49983\r\n\r\n");
            var (head, body) = await client.ReadResponseAsync();
            Assert.StartsWith("HTTP/1.1 400", head);
            Assert.Contains("E2b-Sandbox-Id", body);
        }
        await using (var client = await RawClient.ConnectAsync(host))
        {
            await client.SendAsync("GET /../x HTTP/1.1\r\nHost: portal.test\r\nE2b-Sandbox-Id: " + id + "\r\nE2b-Sandbox-Port: 49983\r\n\r\n");
            Assert.StartsWith("HTTP/1.1 400", (await client.ReadResponseAsync()).Head);
        }
        await using (var client = await RawClient.ConnectAsync(host))
        {
            using var killed = await host.Admin.DeleteAsync($"/sandboxes/{id}", Ct);
            Assert.True(killed.IsSuccessStatusCode);
            await client.SendAsync(Routed(id));
            var (head, body) = await client.ReadResponseAsync();
            Assert.StartsWith("HTTP/1.1 502", head);
            Assert.Contains("The sandbox was not found", body);
        }
        Assert.Equal(0, fast.Forwarded);
        Assert.Empty(backend.Requests);
    }

    [Fact]
    public async Task SandboxFailingAfterANonIdempotentRequestWasSent_Gets502AndTheConnectionCloses()
    {
        var (host, backend, id, _) = await StartAsync(async c => await c.ReadRequestAsync()); // reads it, then closes
        await using var h = host; await using var __ = backend;
        await using var client = await RawClient.ConnectAsync(host);
        await client.SendAsync(Routed(id, "POST", "/rpc", "Content-Length: 2\r\n") + "hi");
        var (head, body) = await client.ReadResponseAsync();
        Assert.StartsWith("HTTP/1.1 502", head);
        Assert.Contains("Connection: close", head);
        Assert.Contains("could not reach port 49983", body);
        Assert.True(await client.IsClosedAsync());
        Assert.Single(backend.Requests); // sent once, never again
    }

    [Fact]
    public async Task ClientGoingAwayMidExchange_ClosesTheUpstreamConnection()
    {
        var upstreamClosed = new TaskCompletionSource();
        var (host, backend, id, _) = await StartAsync(async c =>
        {
            await c.ReadRequestAsync();
            if (await c.ReadRequestAsync() is null) upstreamClosed.TrySetResult(); // never answered; waits for the close
        });
        await using var h = host; await using var __ = backend;
        var client = await RawClient.ConnectAsync(host);
        await client.SendAsync(Routed(id));
        await WaitUntilAsync(() => Task.FromResult(backend.Requests.Count == 1));
        await client.DisposeAsync();
        await upstreamClosed.Task.WaitAsync(TimeSpan.FromSeconds(10), Ct);
    }

    [Theory]
    [InlineData("true")]
    [InlineData("false")]
    public async Task ClientThatStopsReading_IsCutAfterMinResponseDataRate_AndTheSandboxConnectionReleased(string fastPath)
    {
        var upstreamCut = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var (host, backend, id, _) = await StartAsync(async c =>
        {
            await c.ReadRequestAsync();
            try
            {
                // More than every socket buffer on the way can hold: the client never reads any.
                await c.WriteAsync("HTTP/1.1 200 OK\r\nContent-Length: 1000000000\r\n\r\n");
                var chunk = new byte[64 * 1024];
                for (var i = 0; i < 1000000000 / chunk.Length; i++) await c.WriteBytesAsync(chunk);
            }
            catch (Exception) { upstreamCut.TrySetResult(); } // the portal let go of the sandbox side
        }, new Dictionary<string, string?> { ["Portal:Proxy:FastPath"] = fastPath },
        b => b.WebHost.ConfigureKestrel(k => k.Limits.MinResponseDataRate = new Microsoft.AspNetCore.Server.Kestrel.Core.MinDataRate(100_000, TimeSpan.FromSeconds(2))));
        await using var h = host; await using var __ = backend;
        await using var client = await RawClient.ConnectAsync(host);
        await client.SendAsync(Routed(id));
        // Kestrel's rule: a write must end within max(grace, size / rate); the sweep checks each second.
        await upstreamCut.Task.WaitAsync(TimeSpan.FromSeconds(30), Ct);
        var pool = host.Services.GetRequiredService<UpstreamPool>();
        for (var i = 0; i < 100 && pool.OpenCount > 0; i++) await Task.Delay(50, Ct);
        Assert.Equal(0, pool.OpenCount);
    }

    [Fact]
    public async Task IdleAndSlowHeadConnections_AreClosedByKestrelsTimeouts()
    {
        var config = new Dictionary<string, string?>
        {
            ["Kestrel:Limits:KeepAliveTimeout"] = "00:00:02",
            ["Kestrel:Limits:RequestHeadersTimeout"] = "00:00:02",
        };
        var (host, backend, id, fast) = await StartAsync(Always(Ok), config);
        await using var h = host; await using var __ = backend;

        await using var idle = await RawClient.ConnectAsync(host);
        await idle.SendAsync(Routed(id));
        Assert.Equal("ok", (await idle.ReadResponseAsync()).Body);
        await using var slow = await RawClient.ConnectAsync(host);
        await slow.SendAsync("GET /x HTTP/1.1\r\nHost: portal.test\r\n"); // and never the rest

        Assert.True(await idle.IsClosedAsync(TimeSpan.FromSeconds(10)));
        Assert.True(await slow.IsClosedAsync(TimeSpan.FromSeconds(10)));
        await WaitUntilAsync(() => Task.FromResult(fast.ActiveConnections == 0));
    }

    [Fact]
    public async Task RequestAnsweredByKestrel_KeepsKestrelsOwnTimeouts()
    {
        // A stalled upload over 16 KB goes to Kestrel one request at a time; its minimum body data
        // rate is checked on the heartbeat the fast path ticks for that request.
        var (host, backend, id, _) = await StartAsync(Always(Ok), configure: b => b.WebHost.ConfigureKestrel(k =>
            k.Limits.MinRequestBodyDataRate = new Microsoft.AspNetCore.Server.Kestrel.Core.MinDataRate(bytesPerSecond: 10_000, gracePeriod: TimeSpan.FromSeconds(2))));
        await using var h = host; await using var __ = backend;
        await using var client = await RawClient.ConnectAsync(host);
        await client.SendAsync(Routed(id, "POST", "/files", "Content-Length: 100000\r\n") + new string('u', 100));
        var (head, _) = await client.ReadResponseAsync();
        // Kestrel gave up on the body (too slow): the proxy answers 502 (or Kestrel 408) instead of waiting forever.
        Assert.True(head.StartsWith("HTTP/1.1 502", StringComparison.Ordinal) || head.StartsWith("HTTP/1.1 408", StringComparison.Ordinal), head);
        Assert.True(await client.IsClosedAsync(TimeSpan.FromSeconds(15)));
    }

    [Fact]
    public async Task LargeSizedResponse_ArrivesWhole()
    {
        var payload = new string('z', 3 * 1024 * 1024);
        var (host, backend, id, _) = await StartAsync(Always($"HTTP/1.1 200 OK\r\nContent-Length: {payload.Length}\r\n\r\n{payload}"));
        await using var h = host; await using var __ = backend;
        await using var client = await RawClient.ConnectAsync(host);
        for (var i = 0; i < 2; i++)
        {
            await client.SendAsync(Routed(id));
            Assert.Equal(payload, (await client.ReadResponseAsync()).Body);
        }
    }

    [Fact]
    public async Task FastPathOff_SendsEverythingThroughKestrel()
    {
        var (host, backend, id, fast) = await StartAsync(Always(Ok), new Dictionary<string, string?> { ["Portal:Proxy:FastPath"] = "false" });
        await using var h = host; await using var __ = backend;
        await using var client = await RawClient.ConnectAsync(host);
        await client.SendAsync(Routed(id));
        Assert.Equal("ok", (await client.ReadResponseAsync()).Body);
        Assert.Equal(0, fast.Forwarded);
    }

    private static async Task WaitUntilAsync(Func<Task<bool>> condition)
    {
        for (var i = 0; i < 100; i++)
        {
            if (await condition()) return;
            await Task.Delay(100, Ct);
        }
        Assert.Fail("condition not met within 10 s");
    }
}

/// <summary>A client socket that writes raw requests and reads responses by their framing, raw body included.</summary>
public sealed class RawClient : IAsyncDisposable
{
    private readonly Socket _socket;
    private readonly NetworkStream _stream;
    private readonly List<byte> _pending = [];

    private RawClient(Socket socket)
    {
        _socket = socket;
        _stream = new NetworkStream(socket, ownsSocket: true);
    }

    public static async Task<RawClient> ConnectAsync(PortalHost host)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync("127.0.0.1", host.BaseAddress.Port, Ct);
        return new RawClient(socket);
    }

    public Task SendAsync(string raw) => _stream.WriteAsync(Encoding.Latin1.GetBytes(raw), Ct).AsTask();

    /// <summary>The next response: head (without the blank line) and the body as sent (chunk framing included; none after a HEAD when <paramref name="noBody"/>).</summary>
    public async Task<(string Head, string Body)> ReadResponseAsync(bool interim = false, bool noBody = false)
    {
        while (true)
        {
            var head = Take(await FindAsync("\r\n\r\n"u8.ToArray()) + 4)[..^4];
            if (!interim && head.StartsWith("HTTP/1.1 1", StringComparison.Ordinal)) continue;
            var lines = head.Split("\r\n");
            if (head.StartsWith("HTTP/1.1 1", StringComparison.Ordinal) || head.StartsWith("HTTP/1.1 204", StringComparison.Ordinal)
                || head.StartsWith("HTTP/1.1 304", StringComparison.Ordinal) || noBody)
                return (head, "");
            var length = lines.FirstOrDefault(l => l.StartsWith("Content-Length:", StringComparison.OrdinalIgnoreCase));
            if (lines.Any(l => l.Equals("Transfer-Encoding: chunked", StringComparison.OrdinalIgnoreCase)))
            {
                var sb = new StringBuilder();
                while (true)
                {
                    var line = Take(await FindAsync("\r\n"u8.ToArray()) + 2);
                    sb.Append(line);
                    var size = Convert.ToInt32(line[..^2].Split(';')[0], 16);
                    if (size == 0)
                    {
                        while (true)
                        {
                            var trailer = Take(await FindAsync("\r\n"u8.ToArray()) + 2);
                            sb.Append(trailer);
                            if (trailer == "\r\n") return (head, sb.ToString());
                        }
                    }
                    await NeedAsync(size + 2);
                    sb.Append(Take(size + 2));
                }
            }
            if (length is not null)
            {
                var n = int.Parse(length["Content-Length:".Length..].Trim());
                await NeedAsync(n);
                return (head, Take(n));
            }
            while (await FillAsync()) { }
            return (head, Take(_pending.Count));
        }
    }

    /// <summary>Whether the server closed the connection (end of stream or reset) within the time.</summary>
    public async Task<bool> IsClosedAsync(TimeSpan? within = null)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        cts.CancelAfter(within ?? TimeSpan.FromSeconds(5));
        try
        {
            var buf = new byte[1];
            return await _stream.ReadAsync(buf, cts.Token) == 0;
        }
        catch (OperationCanceledException) { return false; }
        catch (IOException) { return true; }
    }

    private async Task<int> FindAsync(byte[] n)
    {
        int at;
        while ((at = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_pending).IndexOf(n)) < 0)
            if (!await FillAsync()) throw new IOException("the server closed the connection");
        return at;
    }

    private async Task NeedAsync(int count)
    {
        while (_pending.Count < count)
            if (!await FillAsync()) throw new IOException("the server closed the connection inside a body");
    }

    private async Task<bool> FillAsync()
    {
        var buf = new byte[65536];
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        cts.CancelAfter(TimeSpan.FromSeconds(15));
        var n = await _stream.ReadAsync(buf, cts.Token);
        if (n == 0) return false;
        _pending.AddRange(buf.AsSpan(0, n));
        return true;
    }

    private string Take(int n)
    {
        var s = Encoding.Latin1.GetString(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_pending)[..n]);
        _pending.RemoveRange(0, n);
        return s;
    }

    public ValueTask DisposeAsync()
    {
        _stream.Dispose();
        return ValueTask.CompletedTask;
    }
}
