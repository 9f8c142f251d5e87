using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using Portal.Core.Runtime;
using Portal.Core.Sandboxes;
using Portal.Tests.Api;
using static Portal.Tests.Api.Http;

namespace Portal.Tests.Web.Proxy;

/// <summary>
/// The lean HTTP/1.1 forwarder against a sandbox port played byte for byte by a raw TCP server:
/// response framing (length, chunked, close-delimited, 1xx, no-body statuses), keep-alive reuse and
/// the retry when a pooled connection was closed by the sandbox, request bodies and headers.
/// </summary>
public class Http1ForwarderTests : TransportSuite
{
    private static HttpRequestMessage Routed(HttpMethod method, string path, string sandboxId)
    {
        var req = new HttpRequestMessage(method, path);
        req.Headers.Add("E2b-Sandbox-Id", sandboxId);
        req.Headers.Add("E2b-Sandbox-Port", SandboxPorts.Envd.ToString());
        return req;
    }

    private async Task<(PortalHost Host, RawBackend Backend, string Id)> StartAsync(Func<RawConnection, Task> serve)
    {
        var backend = RawBackend.Start(serve);
        var host = await StartPortalAsync();
        host.Runtime.Backends[SandboxPorts.Envd] = backend.Port;
        var id = (string)(await host.Admin.CreateSandboxAsync())["sandboxID"]!;
        return (host, backend, id);
    }

    /// <summary>Answers every request on a connection with <paramref name="response"/>; closes after it when asked.</summary>
    private static Func<RawConnection, Task> Always(string response, bool close = false) => async c =>
    {
        while (await c.ReadRequestAsync() is not null)
        {
            await c.WriteAsync(response);
            if (close) return;
        }
    };

    public static TheoryData<string, string, int, string> Framing => new()
    {
        { "content-length", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello", 200, "hello" },
        { "chunked, extensions, trailers", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nhel\r\n2\r\nlo\r\n0\r\nX-Trailer: t\r\n\r\n", 200, "hello" },
        { "chunked, upper-case hex", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nA\r\n0123456789\r\n0\r\n\r\n", 200, "0123456789" },
        { "100 Continue before the answer", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok", 201, "ok" },
        { "304 without a body", "HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n", 304, "" },
        { "204", "HTTP/1.1 204 No Content\r\n\r\n", 204, "" },
    };

    [Theory]
    [MemberData(nameof(Framing))]
    public async Task ResponseFraming_IsPassedOnAndTheConnectionReused(string name, string raw, int status, string body)
    {
        var (host, backend, id) = await StartAsync(Always(raw));
        await using var _ = host; await using var __ = backend;
        var client = host.Client(null);
        for (var i = 0; i < 3; i++)
        {
            using var res = await client.SendAsync(Routed(HttpMethod.Get, "/x", id), Ct);
            Assert.True(status == (int)res.StatusCode, name);
            Assert.Equal(body, await res.Content.ReadAsStringAsync(Ct));
        }
        Assert.Equal(1, backend.Connections); // keep-alive: one upstream connection for all three
        Assert.Equal(3, backend.Requests.Count);
    }

    [Fact]
    public async Task SizedBody_WrittenApartFromTheHead_ArrivesWhole()
    {
        var (host, backend, id) = await StartAsync(async c =>
        {
            while (await c.ReadRequestAsync() is not null)
            {
                await c.WriteAsync("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n");
                await Task.Delay(50);
                await c.WriteAsync("he");
                await Task.Delay(50);
                await c.WriteAsync("llo");
            }
        });
        await using var _ = host; await using var __ = backend;
        var client = host.Client(null);
        for (var i = 0; i < 2; i++)
        {
            using var res = await client.SendAsync(Routed(HttpMethod.Get, "/", id), Ct);
            Assert.Equal("hello", await res.Content.ReadAsStringAsync(Ct));
        }
        Assert.Equal(1, backend.Connections);
    }

    [Fact]
    public async Task CloseDelimitedBody_IsReadToTheEnd_AndNotReused()
    {
        var (host, backend, id) = await StartAsync(Always("HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end", close: true));
        await using var _ = host; await using var __ = backend;
        for (var i = 0; i < 2; i++)
        {
            using var res = await host.Client(null).SendAsync(Routed(HttpMethod.Get, "/", id), Ct);
            Assert.Equal("until the end", await res.Content.ReadAsStringAsync(Ct));
        }
        Assert.Equal(2, backend.Connections);
    }

    [Fact]
    public async Task ConnectionClose_FromTheSandbox_IsHonoured()
    {
        var (host, backend, id) = await StartAsync(Always("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok"));
        await using var _ = host; await using var __ = backend;
        for (var i = 0; i < 2; i++)
        {
            using var res = await host.Client(null).SendAsync(Routed(HttpMethod.Get, "/", id), Ct);
            Assert.Equal("ok", await res.Content.ReadAsStringAsync(Ct));
            Assert.False(res.Headers.ConnectionClose ?? false); // hop-by-hop: not passed to the client
        }
        Assert.Equal(2, backend.Connections);
    }

    [Fact]
    public async Task PooledConnectionClosedWhileIdle_IsSkipped_NotFailed()
    {
        // Answers one request per connection and then closes it without saying so, as a server
        // whose keep-alive timeout ran out does. POST: must not be sent twice, so must not fail.
        var (host, backend, id) = await StartAsync(Always("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", close: true));
        await using var _ = host; await using var __ = backend;
        for (var i = 0; i < 3; i++)
        {
            await Task.Delay(300, Ct); // the sandbox's FIN has arrived by then
            using var req = Routed(HttpMethod.Post, "/", id);
            req.Content = new StringContent("{\"n\":" + i + "}");
            using var res = await host.Client(null).SendAsync(req, Ct);
            Assert.Equal(200, (int)res.StatusCode);
            Assert.Equal("ok", await res.Content.ReadAsStringAsync(Ct));
        }
        Assert.Equal(3, backend.Requests.Count);
        Assert.Equal(["{\"n\":0}", "{\"n\":1}", "{\"n\":2}"], backend.Requests.Select(r => r.Body));
    }

    [Fact]
    public async Task PooledConnectionFailingAsReused_IdempotentRequestIsRetriedOnANewOne()
    {
        var (host, backend, id) = await StartAsync(Always("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", close: true));
        await using var _ = host; await using var __ = backend;
        for (var i = 0; i < 5; i++)
        {
            using var res = await host.Client(null).SendAsync(Routed(HttpMethod.Get, "/", id), Ct);
            Assert.Equal(200, (int)res.StatusCode);
            Assert.Equal("ok", await res.Content.ReadAsStringAsync(Ct));
        }
        Assert.Equal(5, backend.Requests.Count);
    }

    [Theory]
    [InlineData("HTTP/1.1 abc\r\n\r\n")]
    [InlineData("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n")]
    [InlineData("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab")]
    [InlineData("HTTP/1.1 200 OK\r\n Folded: header\r\n\r\n")]
    public async Task MalformedResponse_Is502Json(string raw)
    {
        var (host, backend, id) = await StartAsync(Always(raw, close: true));
        await using var _ = host; await using var __ = backend;
        using var res = await host.Client(null).SendAsync(Routed(HttpMethod.Get, "/", id), Ct);
        Assert.Equal(502, (int)res.StatusCode);
        var body = JsonNode.Parse(await res.Content.ReadAsStringAsync(Ct))!;
        Assert.StartsWith("could not reach port 49983", (string)body["message"]!);
    }

    [Fact]
    public async Task OversizedResponseHead_Is502()
    {
        var huge = "HTTP/1.1 200 OK\r\nX-Big: " + new string('a', 40_000) + "\r\nContent-Length: 0\r\n\r\n";
        var (host, backend, id) = await StartAsync(Always(huge, close: true));
        await using var _ = host; await using var __ = backend;
        using var res = await host.Client(null).SendAsync(Routed(HttpMethod.Get, "/", id), Ct);
        Assert.Equal(502, (int)res.StatusCode);
    }

    [Fact]
    public async Task TruncatedBody_IsNotPassedOffAsWhole()
    {
        var (host, backend, id) = await StartAsync(Always("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello", close: true));
        await using var _ = host; await using var __ = backend;
        try
        {
            using var res = await host.Client(null).SendAsync(Routed(HttpMethod.Get, "/", id), Ct);
            Assert.Equal(502, (int)res.StatusCode);
        }
        catch (HttpRequestException) { /* aborted after the head went out: also right */ }
    }

    [Fact]
    public async Task RequestHeaders_HopByHopDropped_OriginalHostKept_ForwardedAdded()
    {
        var (host, backend, id) = await StartAsync(Always("HTTP/1.1 204 No Content\r\n\r\n"));
        await using var _ = host; await using var __ = backend;
        using var req = Routed(HttpMethod.Get, "/a%20b?q=1&r=%2F", id);
        req.Headers.Add("X-Custom", "v1");
        req.Headers.Add("Keep-Alive", "timeout=5");
        req.Headers.TE.ParseAdd("trailers");
        req.Headers.Add("X-Forwarded-For", "10.9.8.7");
        req.Headers.Add("X-Forwarded-Host", "spoofed.example");
        using var res = await host.Client(null).SendAsync(req, Ct);
        Assert.Equal(204, (int)res.StatusCode);
        var head = backend.Requests.Single().Head;
        var lines = head.Split("\r\n");
        Assert.Equal("GET /a%20b?q=1&r=%2F HTTP/1.1", lines[0]);
        Assert.Contains("X-Custom: v1", lines);
        Assert.Contains($"Host: {host.BaseAddress.Authority}", lines);
        Assert.Contains("X-Forwarded-For: 10.9.8.7, 127.0.0.1", lines);
        Assert.Contains("X-Forwarded-Proto: http", lines);
        Assert.Contains($"X-Forwarded-Host: {host.BaseAddress.Authority}", lines);
        Assert.DoesNotContain(lines, l => l.StartsWith("Keep-Alive", StringComparison.OrdinalIgnoreCase)
            || l.StartsWith("TE:", StringComparison.OrdinalIgnoreCase) || l.Contains("spoofed"));
    }

    [Fact]
    public async Task RequestBodies_SmallSizedLargeAndUnsized_ArriveWhole()
    {
        var (host, backend, id) = await StartAsync(Always("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"));
        await using var _ = host; await using var __ = backend;
        var client = host.Client(null);

        using (var small = Routed(HttpMethod.Post, "/small", id))
        {
            small.Content = new StringContent("{\"path\":\"/home/user\"}");
            (await client.SendAsync(small, Ct)).Dispose();
        }
        var large = new string('x', 300_000);
        using (var sized = Routed(HttpMethod.Post, "/sized", id))
        {
            sized.Content = new StringContent(large);
            (await client.SendAsync(sized, Ct)).Dispose();
        }
        using (var unsized = Routed(HttpMethod.Post, "/unsized", id))
        {
            unsized.Content = new StreamContent(new NoLengthStream(Encoding.ASCII.GetBytes(large)));
            (await client.SendAsync(unsized, Ct)).Dispose();
        }

        Assert.Equal(3, backend.Requests.Count);
        Assert.Equal("{\"path\":\"/home/user\"}", backend.Requests[0].Body);
        Assert.Equal(large, backend.Requests[1].Body);
        Assert.Contains("Content-Length: 300000", backend.Requests[1].Head);
        Assert.Equal(large, backend.Requests[2].Body);
        Assert.Contains("Transfer-Encoding: chunked", backend.Requests[2].Head);
        Assert.Equal(1, backend.Connections);
    }

    [Theory]
    [InlineData(20_000, false, "true")]
    [InlineData(300_000, true, "true")]
    [InlineData(300_000, false, "false")]
    public async Task LargeResponses_AreSentWhole_AndTheConnectionGoesOn(int size, bool chunkedUpload, string fastPath)
    {
        // The sandbox answers after the whole body: the response is larger than one read, so part of
        // it is flushed before the rest arrives (the rest once stayed in Kestrel's buffer).
        await using var backend = RawBackend.Start(async c =>
        {
            while (await c.ReadRequestAsync() is { } request)
                await c.WriteAsync($"HTTP/1.1 200 OK\r\nContent-Length: {request.Body.Length}\r\n\r\n{request.Body}");
        });
        await using var host = await StartPortalAsync(config: new Dictionary<string, string?> { ["Portal:Proxy:FastPath"] = fastPath });
        host.Runtime.Backends[SandboxPorts.Envd] = backend.Port;
        var id = (string)(await host.Admin.CreateSandboxAsync())["sandboxID"]!;
        var client = host.Client(null);
        for (var i = 0; i < 2; i++)
        {
            var body = new string((char)('a' + i), size);
            var content = new StreamContent(new MemoryStream(Encoding.ASCII.GetBytes(body)));
            using var request = Routed(HttpMethod.Post, "/echo", id);
            request.Content = content;
            if (chunkedUpload) request.Headers.TransferEncodingChunked = true;
            else content.Headers.ContentLength = size;
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Ct);
            timeout.CancelAfter(TimeSpan.FromSeconds(10));
            using var response = await client.SendAsync(request, timeout.Token);
            Assert.Equal(body, await response.Content.ReadAsStringAsync(timeout.Token));
        }
        Assert.Equal(1, backend.Connections);
    }

    [Fact]
    public async Task Head_KeepsContentLength_WithoutABody()
    {
        var (host, backend, id) = await StartAsync(Always("HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n"));
        await using var _ = host; await using var __ = backend;
        var client = host.Client(null);
        for (var i = 0; i < 2; i++)
        {
            using var res = await client.SendAsync(Routed(HttpMethod.Head, "/", id), Ct);
            Assert.Equal(200, (int)res.StatusCode);
            Assert.Equal(1234, res.Content.Headers.ContentLength);
        }
        Assert.Equal(1, backend.Connections);
    }

    [Fact]
    public async Task ClientGoingAway_ClosesTheUpstreamConnection()
    {
        var upstreamClosed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var (host, backend, id) = await StartAsync(async c =>
        {
            await c.ReadRequestAsync();
            await c.WriteAsync("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n");
            if (await c.ReadRequestAsync() is null) upstreamClosed.TrySetResult(); // EOF: the portal let go
        });
        await using var _ = host; await using var __ = backend;
        using (var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct))
        {
            using var res = await host.Client(null).SendAsync(Routed(HttpMethod.Get, "/stream", id), HttpCompletionOption.ResponseHeadersRead, cts.Token);
            var body = await res.Content.ReadAsStreamAsync(Ct);
            var buf = new byte[16];
            Assert.Equal("first", Encoding.ASCII.GetString(buf, 0, await body.ReadAsync(buf, Ct)));
            cts.Cancel();
        }
        await upstreamClosed.Task.WaitAsync(TimeSpan.FromSeconds(10), Ct);
    }

    [Theory]
    [InlineData("true")]
    [InlineData("false")]
    public async Task UpstreamConnections_ServeOneClientConnectionOnly_AndCloseWithIt(string fastPath)
    {
        var closedByPortal = 0;
        var backend = RawBackend.Start(async c =>
        {
            while (await c.ReadRequestAsync() is not null) await c.WriteAsync("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
            Interlocked.Increment(ref closedByPortal);
        });
        var host = await StartPortalAsync(config: new Dictionary<string, string?> { ["Portal:Proxy:FastPath"] = fastPath });
        await using var _ = host; await using var __ = backend;
        host.Runtime.Backends[SandboxPorts.Envd] = backend.Port;
        var id = (string)(await host.Admin.CreateSandboxAsync())["sandboxID"]!;
        var request = $"GET /x HTTP/1.1\r\nHost: portal.test\r\nE2b-Sandbox-Id: {id}\r\nE2b-Sandbox-Port: {SandboxPorts.Envd}\r\n\r\n";

        // A keep-alive client keeps its one upstream connection for all its requests...
        var a = await RawClient.ConnectAsync(host);
        for (var i = 0; i < 3; i++)
        {
            await a.SendAsync(request);
            Assert.Equal("ok", (await a.ReadResponseAsync()).Body);
        }
        Assert.Equal(1, backend.Connections);
        // ...which another client, one after the other, never gets.
        await using (var b = await RawClient.ConnectAsync(host))
        {
            await b.SendAsync(request);
            Assert.Equal("ok", (await b.ReadResponseAsync()).Body);
        }
        Assert.Equal(2, backend.Connections);
        // A client's upstream connection closes with the client's connection, not when idle for long.
        await a.DisposeAsync();
        for (var i = 0; i < 100 && Volatile.Read(ref closedByPortal) < 2; i++) await Task.Delay(50, Ct);
        Assert.Equal(2, Volatile.Read(ref closedByPortal));
    }

    [Theory]
    [InlineData("true")]
    [InlineData("false")]
    public async Task HopByHopHeaders_AreTheSameListOnBothPaths(string fastPath)
    {
        // YARP's list, both ways; everything else passes.
        string[] hop = ["Keep-Alive: 5", "Proxy-Authorization: Basic eA==", "Proxy-Connection: keep-alive", "HTTP2-Settings: AAA", "ALPN: h2", "Close: 1", "Security-Scheme: x", "TE: trailers"];
        var backend = RawBackend.Start(async c =>
        {
            while (await c.ReadRequestAsync() is not null)
                await c.WriteAsync("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nAlt-Svc: h3=\":443\"\r\nProxy-Authenticate: Basic\r\nProxy-Connection: close\r\nKeep-Alive: timeout=5\r\nTrailer: X-T\r\nX-Kept: yes\r\n\r\nok");
        });
        var host = await StartPortalAsync(config: new Dictionary<string, string?> { ["Portal:Proxy:FastPath"] = fastPath });
        await using var _ = host; await using var __ = backend;
        host.Runtime.Backends[SandboxPorts.Envd] = backend.Port;
        var id = (string)(await host.Admin.CreateSandboxAsync())["sandboxID"]!;
        await using var client = await RawClient.ConnectAsync(host);
        await client.SendAsync($"GET /x HTTP/1.1\r\nHost: portal.test\r\nE2b-Sandbox-Id: {id}\r\nE2b-Sandbox-Port: {SandboxPorts.Envd}\r\n{string.Concat(hop.Select(h => h + "\r\n"))}Trailer: X-T\r\nX-Custom: v\r\n\r\n");
        var (head, body) = await client.ReadResponseAsync();
        Assert.Equal("ok", body);
        var sent = backend.Requests.Single().Head.Split("\r\n");
        foreach (var h in hop) Assert.DoesNotContain(sent, l => l.StartsWith(h.Split(':')[0] + ":", StringComparison.OrdinalIgnoreCase));
        Assert.Contains("X-Custom: v", sent);
        Assert.Contains("Trailer: X-T", sent);
        var got = head.Split("\r\n");
        foreach (var name in new[] { "Alt-Svc", "Proxy-Authenticate", "Proxy-Connection", "Keep-Alive" })
            Assert.DoesNotContain(got, l => l.StartsWith(name + ":", StringComparison.OrdinalIgnoreCase));
        Assert.Contains("X-Kept: yes", got);
        Assert.Contains("Trailer: X-T", got);
    }

    private sealed class NoLengthStream(byte[] data) : MemoryStream(data)
    {
        public override bool CanSeek => false;
        public override long Length => throw new NotSupportedException();
    }
}

/// <summary>A loopback TCP server whose bytes a test writes by hand, recording the requests it reads.</summary>
public sealed class RawBackend : IAsyncDisposable
{
    private readonly TcpListener _listener;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Socket> _sockets = [];
    private int _connections;

    private RawBackend(TcpListener listener) => _listener = listener;

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;
    public int Connections => Volatile.Read(ref _connections);
    public List<(string Head, string Body)> Requests { get; } = [];

    public static RawBackend Start(Func<RawConnection, Task> serve)
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var backend = new RawBackend(listener);
        _ = backend.AcceptLoopAsync(serve);
        return backend;
    }

    private async Task AcceptLoopAsync(Func<RawConnection, Task> serve)
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket socket;
            try { socket = await _listener.AcceptSocketAsync(_stop.Token); }
            catch { return; }
            Interlocked.Increment(ref _connections);
            lock (_sockets) _sockets.Add(socket);
            _ = Task.Run(async () =>
            {
                try { await serve(new RawConnection(socket, this)); }
                catch { /* the test decides what counts */ }
                finally { socket.Dispose(); }
            });
        }
    }

    internal void Record(string head, string body) { lock (Requests) Requests.Add((head, body)); }

    public ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _listener.Stop();
        lock (_sockets) foreach (var s in _sockets) s.Dispose();
        return ValueTask.CompletedTask;
    }
}

/// <summary>One accepted connection: reads HTTP/1.1 requests (sized or chunked bodies), writes raw text.</summary>
public sealed class RawConnection(Socket socket, RawBackend owner)
{
    private readonly NetworkStream _stream = new(socket, ownsSocket: false);
    private readonly List<byte> _pending = [];

    public async Task WriteAsync(string raw) => await _stream.WriteAsync(Encoding.Latin1.GetBytes(raw));
    public async Task WriteBytesAsync(byte[] data) => await _stream.WriteAsync(data);

    /// <summary>The next request's head and body, or null at end of stream.</summary>
    public async Task<(string Head, string Body)?> ReadRequestAsync()
    {
        int end;
        while ((end = IndexOf("\r\n\r\n"u8)) < 0)
            if (!await FillAsync()) return null;
        var head = Take(end + 4)[..^4];
        var lines = head.Split("\r\n");
        string body;
        var length = lines.FirstOrDefault(l => l.StartsWith("Content-Length:", StringComparison.OrdinalIgnoreCase));
        if (length is not null)
        {
            var n = int.Parse(length["Content-Length:".Length..].Trim());
            while (_pending.Count < n) if (!await FillAsync()) return null;
            body = Take(n);
        }
        else if (lines.Any(l => l.Equals("Transfer-Encoding: chunked", StringComparison.OrdinalIgnoreCase)))
        {
            var sb = new StringBuilder();
            while (true)
            {
                int lineEnd;
                while ((lineEnd = IndexOf("\r\n"u8)) < 0) if (!await FillAsync()) return null;
                var size = Convert.ToInt32(Take(lineEnd + 2)[..^2], 16);
                while (_pending.Count < size + 2) if (!await FillAsync()) return null;
                sb.Append(Take(size + 2)[..^2]);
                if (size == 0) break;
            }
            body = sb.ToString();
        }
        else body = "";
        owner.Record(head, body);
        return (head, body);
    }

    private async Task<bool> FillAsync()
    {
        var buf = new byte[65536];
        var n = await _stream.ReadAsync(buf);
        if (n == 0) return false;
        _pending.AddRange(buf.AsSpan(0, n));
        return true;
    }

    private int IndexOf(ReadOnlySpan<byte> needle) => System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_pending).IndexOf(needle);

    private string Take(int n)
    {
        var s = Encoding.Latin1.GetString(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_pending)[..n]);
        _pending.RemoveRange(0, n);
        return s;
    }
}
