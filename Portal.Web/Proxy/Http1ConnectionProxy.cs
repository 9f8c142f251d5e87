using System.Buffers;
using System.Collections.Concurrent;
using System.IO.Pipelines;
using System.Net;
using System.Runtime.CompilerServices;
using System.Text;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Options;
using Portal.Core.Sandboxes;
using Portal.Web.Routing;

namespace Portal.Web.Proxy;

/// <summary>
/// The fast path for sandbox traffic on plain-HTTP connections: a Kestrel connection middleware
/// that reads each HTTP/1.1 request head itself, and when it is plain sandbox traffic (a body of at
/// most 16 KB, already complete), forwards it over a keep-alive connection to the sandbox port that
/// serves this client connection only (<see cref="UpstreamPool"/> says why) and relays the response bytes as they come — head with hop-by-hop
/// headers removed, body in its own framing — without an <c>HttpContext</c>, header collections or
/// the middleware pipeline. It is what an nginx worker does per request.
/// </summary>
/// <remarks>
/// A request outside <see cref="Http1RequestHead"/>'s strict subset (chunked body, upgrade,
/// <c>Expect</c>, HTTP/1.0, an unusual or malformed head, TLS, HTTP/2) hands the rest of the
/// connection to Kestrel's HTTP layer unchanged (nothing of it consumed). A plain request that is
/// not fast-path traffic — the portal's own, a rejected route, a stopped sandbox, a body over
/// 16 KB, a sandbox port that cannot be reached before anything was sent — is answered by Kestrel
/// alone (<see cref="OneRequestConnection"/>: a view of the connection that ends after it), after
/// which the fast path goes on; so every error answer still comes from <see cref="SandboxProxy"/>
/// and the API, and a client mixing API and sandbox calls on one connection keeps the fast path.
/// Idle and slow-head timeouts are Kestrel's (<c>KeepAliveTimeout</c>, <c>RequestHeadersTimeout</c>),
/// and so is the rate a client must read a response at (<c>MinResponseDataRate</c>, see
/// <see cref="WriteDeadline"/>), kept by one sweep timer, which also ticks Kestrel's timeouts of a
/// request it is answering.
/// </remarks>
public sealed class Http1ConnectionProxy : IDisposable
{
    /// <summary>Request bodies up to this size ride the fast path (sent with the head in one write).</summary>
    public const int MaxBody = 16 * 1024;

    private readonly RequestRouter _router;
    private readonly SandboxService _sandboxes;
    private readonly UpstreamPool _pool;
    private readonly PortalTelemetry _telemetry;
    private readonly KestrelServerLimits _limits;
    private readonly long _keepAliveMs, _headersMs;
    private readonly ConcurrentDictionary<Client, byte> _clients = new(ReferenceEqualityComparer.Instance);
    private readonly Timer _sweep;

    public Http1ConnectionProxy(RequestRouter router, SandboxService sandboxes, UpstreamPool pool, PortalTelemetry telemetry, IOptions<KestrelServerOptions> kestrel)
    {
        _router = router;
        _sandboxes = sandboxes;
        _pool = pool;
        _telemetry = telemetry;
        _limits = kestrel.Value.Limits;
        _keepAliveMs = (long)kestrel.Value.Limits.KeepAliveTimeout.TotalMilliseconds;
        _headersMs = (long)kestrel.Value.Limits.RequestHeadersTimeout.TotalMilliseconds;
        _sweep = new Timer(static s => ((Http1ConnectionProxy)s!).Sweep(), this, 1000, 1000);
    }

    /// <summary>Connections currently on the fast path (for tests).</summary>
    public int ActiveConnections => _clients.Count;

    /// <summary>Requests the fast path has carried (for tests and benchmarks).</summary>
    public long Forwarded => Interlocked.Read(ref _forwarded);
    private long _forwarded;

    public async Task RunAsync(ConnectionContext connection, ConnectionDelegate next)
    {
        var client = new Client(connection, _limits);
        _clients[client] = 0;
        var handOff = false;
        try
        {
            // Without the execution context Kestrel's dispatch carries (logging scopes): no context
            // to capture and restore at every await of every exchange.
            Task<bool> serving;
            using (ExecutionContext.SuppressFlow()) serving = Task.Run(() => ServeAsync(client, next));
            handOff = await serving;
        }
        finally
        {
            _clients.TryRemove(client, out _);
            client.Dispose();
        }
        if (handOff) await next(connection);
    }

    private enum Outcome { Done, HandOff, Close }

    /// <summary>True when the connection goes on to Kestrel's HTTP layer, false when it is finished.</summary>
    private async Task<bool> ServeAsync(Client client, ConnectionDelegate next)
    {
        var input = client.Connection.Transport.Input;
        var head = client.Head;
        client.Enter(Phase.Idle);
        while (true)
        {
            var result = await input.ReadAsync();
            var buffer = result.Buffer;
            if (result.IsCanceled && client.Closing) return false;
            if (buffer.IsEmpty && result.IsCompleted) return false;
            // The headers timeout runs from the first byte of a request, not from each read.
            if (!buffer.IsEmpty && client.Phase == Phase.Idle) client.Enter(Phase.Head);

            var data = client.View(buffer);
            var parsed = head.Parse(data);
            // Refused as Kestrel's path refuses it (SandboxProxy's checks, Kestrel's own parser), and
            // more: Kestrel reads a Content-Length of "+5" as 5, the fast path refuses it. Then the
            // connection ends, as after Kestrel's own 400.
            if (parsed == Http1RequestHead.ParseResult.Invalid)
            {
                client.Enter(Phase.Exchange);
                await WriteRefusalAsync(client.Output, head.RefusalStatus, head.Refusal!);
                return false;
            }
            // Outside the subset: Kestrel's path answers it, as without the fast path.
            if (parsed == Http1RequestHead.ParseResult.NotMine)
            {
                input.AdvanceTo(buffer.Start); // Kestrel reads this request from the start, and the rest
                return true;
            }
            var small = head.ContentLength <= MaxBody;
            if (parsed == Http1RequestHead.ParseResult.Parsed && small && data.Length < head.Length + head.ContentLength)
                parsed = Http1RequestHead.ParseResult.NeedMore;
            if (parsed == Http1RequestHead.ParseResult.NeedMore)
            {
                if (result.IsCompleted) return false; // the client went away inside a request
                input.AdvanceTo(buffer.Start, buffer.End);
                continue;
            }

            // A plain request that is not for the fast path (the portal's own, a rejected route, a
            // stopped sandbox, a large body): Kestrel answers this one request, then it is ours again.
            var route = small ? Route(client, data) : null;
            if (route is null || _sandboxes.FindLive(route.SandboxId) is not { Status: SandboxStatus.Running } live || TrafficAccess.Applies(live, route.Port))
            {
                input.AdvanceTo(buffer.Start);
                if (!await HandOverOneAsync(client, next, head.Length + head.ContentLength, head.Close)) return false;
                continue;
            }

            client.Enter(Phase.Exchange);
            var total = head.Length + (int)head.ContentLength;
            var request = BuildRequest(client, data, route);
            Outcome outcome;
            try
            {
                outcome = await ExchangeAsync(client, route, request.Buffer, request.Length, head.Idempotent, head.IsHead, head.Close,
                    reusable: head.ContentLength == 0 || !UpstreamPool.BodyMayBeIgnored(data[..head.MethodLength]));
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(request.Buffer);
            }
            if (outcome != Outcome.HandOff)
            {
                _telemetry.RecordProxied(); // a handed-off request is counted where it is answered
                Interlocked.Increment(ref _forwarded);
            }
            switch (outcome)
            {
                case Outcome.HandOff:
                    input.AdvanceTo(buffer.Start);
                    if (!await HandOverOneAsync(client, next, total, head.Close)) return false;
                    continue;
                case Outcome.Close:
                    input.AdvanceTo(buffer.GetPosition(Math.Min(total, buffer.Length)));
                    return false;
            }
            input.AdvanceTo(buffer.GetPosition(total));
            if (head.Close || client.Closing) return false;
            client.Enter(Phase.Idle);
        }
    }

    /// <summary>
    /// Kestrel's HTTP layer answers the next request (<paramref name="length"/> bytes, still unread in
    /// the input) on a view of the connection that ends after it. False when the connection is over.
    /// </summary>
    private static async Task<bool> HandOverOneAsync(Client client, ConnectionDelegate next, long length, bool clientClose)
    {
        // Kestrel writes through the output pipe: from now on so does the fast path, or a response
        // sent straight to the socket could overtake one still in the pipe.
        client.UsePipeOutput();
        client.Enter(Phase.Exchange);
        var view = new OneRequestConnection(client.Connection, length);
        client.HandedOver = view;
        try
        {
            await next(view);
        }
        finally
        {
            client.HandedOver = null;
        }
        if (clientClose || client.Closing || !view.ReadWhole || client.Connection.ConnectionClosed.IsCancellationRequested) return false;
        client.Enter(Phase.Idle);
        return true;
    }

    /// <summary>The sandbox route of this head, or null when it is not sandbox traffic (Kestrel's then).</summary>
    private RouteDecision.Sandbox? Route(Client client, ReadOnlySpan<byte> data)
    {
        var h = client.Head;
        var host = data.Slice(h.HostStart, h.HostLength);
        var target = data.Slice(h.TargetStart, h.TargetLength);
        var id = h.SandboxIdStart < 0 ? default : data.Slice(h.SandboxIdStart, h.SandboxIdLength);
        var port = h.SandboxPortStart < 0 ? default : data.Slice(h.SandboxPortStart, h.SandboxPortLength);
        // A keep-alive client usually repeats host, path and routing headers: one decision for all.
        if (client.LastRoute is { } last && client.LastKey.Matches(host, target, id, port, h.SandboxIdStart >= 0, h.SandboxPortStart >= 0))
            return last as RouteDecision.Sandbox;
        var decision = _router.Decide(
            Encoding.ASCII.GetString(host), Encoding.ASCII.GetString(target),
            h.SandboxIdStart < 0 ? null : Encoding.ASCII.GetString(id),
            h.SandboxPortStart < 0 ? null : Encoding.ASCII.GetString(port));
        client.LastRoute = decision;
        client.LastKey.Set(host, target, id, port, h.SandboxIdStart >= 0, h.SandboxPortStart >= 0);
        return decision as RouteDecision.Sandbox;
    }

    private static readonly byte[] Http11 = " HTTP/1.1\r\n"u8.ToArray();

    /// <summary>
    /// The upstream request: request line with the routed target, the client's headers less the
    /// hop-by-hop ones, the original <c>Host</c>, <c>X-Forwarded-For</c>/<c>-Proto</c>/<c>-Host</c>
    /// (as <see cref="Http1Forwarder"/> writes them), then the body.
    /// </summary>
    private static (byte[] Buffer, int Length) BuildRequest(Client client, ReadOnlySpan<byte> data, RouteDecision.Sandbox route)
    {
        var h = client.Head;
        var body = (int)h.ContentLength;
        var host = data.Slice(h.HostStart, h.HostLength);
        var buffer = ArrayPool<byte>.Shared.Rent(h.Length + body + route.Path.Length + 2 * host.Length + 160);
        var w = 0;
        data[..h.MethodLength].CopyTo(buffer);
        w += h.MethodLength;
        buffer[w++] = (byte)' ';
        w += Encoding.ASCII.GetBytes(route.Path, buffer.AsSpan(w));
        Http11.CopyTo(buffer, w);
        w += Http11.Length;

        var lines = data[h.HeadersStart..(h.Length - 2)];
        while (!lines.IsEmpty)
        {
            var end = lines.IndexOf((byte)'\n');
            var line = lines[..(end + 1)];
            lines = lines[(end + 1)..];
            switch (Http1RequestHead.Classify(line[..line.IndexOf((byte)':')]))
            {
                case Http1RequestHead.Header.Host or Http1RequestHead.Header.ForwardedFor
                    or Http1RequestHead.Header.Connection or Http1RequestHead.Header.HopByHop:
                    continue; // rewritten below, or hop-by-hop
            }
            line.CopyTo(buffer.AsSpan(w));
            w += line.Length;
        }
        w = Put(buffer, w, "Host: "u8, host);
        var forwardedFor = buffer.AsSpan(w);
        "X-Forwarded-For: "u8.CopyTo(forwardedFor);
        var n = 17;
        if (h.ForwardedForStart >= 0)
        {
            data.Slice(h.ForwardedForStart, h.ForwardedForLength).CopyTo(forwardedFor[n..]);
            n += h.ForwardedForLength;
            forwardedFor[n++] = (byte)',';
            forwardedFor[n++] = (byte)' ';
        }
        client.RemoteAddress.CopyTo(forwardedFor[n..]);
        n += client.RemoteAddress.Length;
        forwardedFor[n++] = (byte)'\r';
        forwardedFor[n++] = (byte)'\n';
        w += n;
        "X-Forwarded-Proto: http\r\n"u8.CopyTo(buffer.AsSpan(w));
        w += 25;
        w = Put(buffer, w, "X-Forwarded-Host: "u8, host);
        buffer[w++] = (byte)'\r';
        buffer[w++] = (byte)'\n';
        data.Slice(h.Length, body).CopyTo(buffer.AsSpan(w));
        return (buffer, w + body);
    }

    private static int Put(byte[] buffer, int w, ReadOnlySpan<byte> name, ReadOnlySpan<byte> value)
    {
        name.CopyTo(buffer.AsSpan(w));
        w += name.Length;
        value.CopyTo(buffer.AsSpan(w));
        w += value.Length;
        buffer[w++] = (byte)'\r';
        buffer[w++] = (byte)'\n';
        return w;
    }

    // ---- one exchange ----

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<Outcome> ExchangeAsync(Client client, RouteDecision.Sandbox route, byte[] request, int length, bool idempotent, bool isHead, bool clientClose, bool reusable)
    {
        var closed = client.Connection.ConnectionClosed;
        // Kept for this client connection only (UpstreamPool says why); a request Kestrel answers
        // on this connection finds the same owner in its items.
        client.Owner ??= _pool.OwnerOf(client.Connection.Items, closed);
        UpstreamConnection c;
        try
        {
            c = await _pool.RentAsync(client.Owner, route.SandboxId, route.Port, closed);
        }
        catch (Exception)
        {
            return Outcome.HandOff; // not reachable: the regular path tries again and says why
        }
        client.Attach(c);

        ResponseFraming framing;
        bool closeClient;
        var output = client.Output;
        while (true)
        {
            var sent = false;
            try
            {
                await c.WriteAsync(request.AsMemory(0, length));
                sent = true;
                (framing, closeClient) = await RelayHeadAsync(c, output, isHead, clientClose);
                break;
            }
            catch (Exception) when (UpstreamPool.MayRetry(c, sent, idempotent, held: true, closed))
            {
                Release(client, c, reusable: false);
                try { c = await _pool.OpenAsync(client.Owner, route.SandboxId, route.Port, closed); }
                catch (Exception) { return closed.IsCancellationRequested ? Outcome.Close : Outcome.HandOff; }
                client.Attach(c);
            }
            catch (Exception e)
            {
                Release(client, c, reusable: false);
                if (closed.IsCancellationRequested) return Outcome.Close;
                if (!sent) return Outcome.HandOff;
                await WriteBadGatewayAsync(output, route, e);
                return Outcome.Close;
            }
        }

        try
        {
            var whole = framing.Kind switch
            {
                FramingKind.None => true,
                FramingKind.Length => await UpstreamBody.CopyLengthAsync(output, c, framing.Length),
                FramingKind.Chunked => await UpstreamBody.CopyChunkedAsync(output, c, verbatim: true),
                _ => await UpstreamBody.CopyToEndAsync(output, c),
            };
            if (!whole) throw new IOException("the client went away");
            if (!await UpstreamBody.FlushAsync(output)) throw new IOException("the client went away");
            Release(client, c, reusable: reusable && !framing.UpstreamClose && framing.Kind != FramingKind.ToEnd);
            return closeClient ? Outcome.Close : Outcome.Done;
        }
        catch (Exception)
        {
            // Part of the response is on its way to the client: it can only be cut.
            Release(client, c, reusable: false);
            client.Connection.Abort();
            _telemetry.RecordProxyError("Request");
            return Outcome.Close;
        }
    }

    private void Release(Client client, UpstreamConnection c, bool reusable)
    {
        // The client's close callback may have taken (and closed) it already.
        if (client.Detach(c)) _pool.Return(c, reusable);
        else _pool.Close(c);
    }

    private async ValueTask WriteRefusalAsync(PipeWriter output, int status, string message)
    {
        _telemetry.RecordProxyError("rejected");
        var json = System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(new Apis.ErrorBody(status, message));
        var reason = status == 405 ? "Method Not Allowed" : "Bad Request";
        output.Write(Encoding.ASCII.GetBytes($"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {json.Length}\r\nConnection: close\r\n\r\n"));
        output.Write(json);
        await output.FlushAsync();
    }

    private async ValueTask WriteBadGatewayAsync(PipeWriter output, RouteDecision.Sandbox route, Exception e)
    {
        var gone = _sandboxes.FindLive(route.SandboxId) is not { Status: SandboxStatus.Running };
        _telemetry.RecordProxyError(gone ? "sandbox_not_found" : "Request");
        var json = gone
            ? SandboxProxy.ErrorJson("The sandbox was not found", route.SandboxId, null)
            : SandboxProxy.ErrorJson($"could not reach port {route.Port} of the sandbox: {e.GetBaseException().Message}", route.SandboxId, route.Port);
        var head = $"HTTP/1.1 502 Bad Gateway\r\nContent-Type: application/json\r\nContent-Length: {json.Length}\r\nConnection: close\r\n\r\n";
        output.Write(Encoding.ASCII.GetBytes(head));
        output.Write(json);
        await output.FlushAsync();
    }

    // ---- the response ----

    /// <summary>
    /// Reads the final response head (<see cref="Http1ResponseHead"/>, shared with Kestrel's path)
    /// and writes it to the client: status line as HTTP/1.1, headers less the hop-by-hop ones,
    /// <c>Connection: close</c> when the client will be closed after it. Nothing is written unless
    /// the whole head is valid. ClientClose: the client connection ends after this response.
    /// </summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private static async ValueTask<(ResponseFraming Framing, bool ClientClose)> RelayHeadAsync(UpstreamConnection c, PipeWriter output, bool isHead, bool clientClose)
    {
        var (length, framing) = await Http1ResponseHead.ReadAsync(c, isHead);
        var closeClient = clientClose || framing.Kind == FramingKind.ToEnd;
        WriteHead(c.Buffer.AsSpan(c.Start, length), output, framing.Kind == FramingKind.Chunked, closeClient);
        c.Start += length;
        return (framing, closeClient);
    }

    private static void WriteHead(ReadOnlySpan<byte> head, PipeWriter output, bool chunked, bool closeClient)
    {
        var line = Http1ResponseHead.StatusLine(head);
        var span = output.GetSpan(head.Length + 32);
        "HTTP/1.1"u8.CopyTo(span);
        var w = 8;
        line[8..].CopyTo(span[w..]);
        w += line.Length - 8;
        span[w++] = (byte)'\r';
        span[w++] = (byte)'\n';
        foreach (var (name, _, raw) in Http1ResponseHead.Lines(head))
        {
            if (HopByHop.Is(name) || (chunked && Ascii.EqualsIgnoreCase(name, "Content-Length"u8))) continue;
            raw.CopyTo(span[w..]);
            w += raw.Length;
            span[w++] = (byte)'\r';
            span[w++] = (byte)'\n';
        }
        if (chunked)
        {
            // Relayed verbatim, in its chunks: the coding is this hop's again.
            "Transfer-Encoding: chunked\r\n"u8.CopyTo(span[w..]);
            w += 28;
        }
        if (closeClient)
        {
            "Connection: close\r\n"u8.CopyTo(span[w..]);
            w += 19;
        }
        span[w++] = (byte)'\r';
        span[w++] = (byte)'\n';
        output.Advance(w);
    }

    // ---- client connections ----

    private enum Phase { Idle, Head, Exchange }

    private void Sweep()
    {
        var now = Environment.TickCount64;
        foreach (var client in _clients.Keys)
        {
            try { client.HandedOver?.Tick(); }
            catch (Exception) { /* Kestrel's own timeout handling; it aborts what it must */ }
            var limit = client.Phase switch { Phase.Idle => _keepAliveMs, Phase.Head => _headersMs, _ => long.MaxValue };
            if (now - client.Since > limit) client.Connection.Abort(new ConnectionAbortedException("keep-alive or request-headers timeout"));
            // A client reading slower than MinResponseDataRate: cut, which fails the pending write;
            // the exchange then closes its sandbox connection.
            else if (client.WriteDeadline.Expired(now)) client.Connection.Abort(new ConnectionAbortedException("the client read the response slower than MinResponseDataRate"));
        }
    }

    public void Dispose() => _sweep.Dispose();

    /// <summary>One client connection's state on the fast path.</summary>
    private sealed class Client : IDisposable
    {
        private readonly CancellationTokenRegistration _onClose, _onCloseRequested;
        private byte[]? _scratch;
        private UpstreamConnection? _upstream;

        public Client(ConnectionContext connection, KestrelServerLimits limits)
        {
            Connection = connection;
            Head = new Http1RequestHead(limits);
            WriteDeadline = new WriteDeadline(limits.MinResponseDataRate);
            RemoteAddress = Encoding.ASCII.GetBytes(connection.RemoteEndPoint switch
            {
                IPEndPoint ip => ip.Address.ToString(),
                { } other => other.ToString() ?? "unknown",
                null => "unknown",
            });
            // A client that goes away mid-exchange ends it by closing the upstream connection.
            _onClose = connection.ConnectionClosed.UnsafeRegister(static s => Interlocked.Exchange(ref ((Client)s!)._upstream, null)?.Dispose(), this);
            // Graceful shutdown: an idle connection ends now, a busy one after its exchange.
            if (connection.Features.Get<IConnectionLifetimeNotificationFeature>() is { } lifetime)
                _onCloseRequested = lifetime.ConnectionClosedRequested.UnsafeRegister(static s =>
                {
                    var client = (Client)s!;
                    client.Closing = true;
                    if (client.Phase == Phase.Idle) client.Connection.Transport.Input.CancelPendingRead();
                }, this);
        }

        public ConnectionContext Connection { get; }
        /// <summary>Straight to the socket when the transport exposes it (the epoll transport and Kestrel's socket transport do).</summary>
        /// <remarks>Never under TLS: the socket carries ciphertext there (the middleware sits outside TLS, so
        /// a TLS connection never gets this far; the check keeps it so if that ever changes).</remarks>
        public PipeWriter Output => _output ??= Connection.Features.Get<ITlsHandshakeFeature>() is not null ? new TimedPipeWriter(Connection.Transport.Output, WriteDeadline)
            : Connection.Features.Get<Transport.IEpollSocketFeature>()?.Socket is { } epoll ? new SocketResponseWriter(epoll, WriteDeadline)
            : Connection.Features.Get<IConnectionSocketFeature>()?.Socket is { } socket ? new SocketResponseWriter(socket, WriteDeadline)
            : new TimedPipeWriter(Connection.Transport.Output, WriteDeadline);
        private PipeWriter? _output;

        public void UsePipeOutput() => _output = new TimedPipeWriter(Connection.Transport.Output, WriteDeadline);

        /// <summary>Kestrel's <c>MinResponseDataRate</c> on this connection's writes (checked by the sweep).</summary>
        public WriteDeadline WriteDeadline { get; }

        /// <summary>The request Kestrel is answering right now, if any.</summary>
        public volatile OneRequestConnection? HandedOver;
        public Http1RequestHead Head { get; }
        public UpstreamOwner? Owner;
        public byte[] RemoteAddress { get; }
        public volatile bool Closing;
        public volatile Phase Phase;
        public long Since = Environment.TickCount64;
        public RouteDecision? LastRoute;
        public RouteKey LastKey;

        public void Enter(Phase phase)
        {
            Phase = phase;
            Since = Environment.TickCount64;
        }

        /// <summary>The buffered bytes as one span (copied only when they span segments).</summary>
        public ReadOnlySpan<byte> View(in ReadOnlySequence<byte> buffer)
        {
            if (buffer.IsSingleSegment) return buffer.FirstSpan;
            var n = (int)Math.Min(buffer.Length, Head.MaxHead + MaxBody);
            _scratch ??= new byte[Head.MaxHead + MaxBody];
            buffer.Slice(0, n).CopyTo(_scratch);
            return _scratch.AsSpan(0, n);
        }

        public void Attach(UpstreamConnection c) => Volatile.Write(ref _upstream, c);
        public bool Detach(UpstreamConnection c) => Interlocked.CompareExchange(ref _upstream, null, c) == c;

        public void Dispose()
        {
            _onClose.Dispose();
            _onCloseRequested.Dispose();
            (_output as SocketResponseWriter)?.Complete(); // a buffer still rented after an abort
        }
    }

    /// <summary>The routing inputs of the last request on a connection (host, target, routing headers).</summary>
    private struct RouteKey
    {
        private byte[]? _bytes;
        private int _host, _target, _id, _port;
        private bool _hasId, _hasPort;

        public readonly bool Matches(ReadOnlySpan<byte> host, ReadOnlySpan<byte> target, ReadOnlySpan<byte> id, ReadOnlySpan<byte> port, bool hasId, bool hasPort)
        {
            if (_bytes is null || hasId != _hasId || hasPort != _hasPort
                || host.Length != _host || target.Length != _target || id.Length != _id || port.Length != _port) return false;
            var b = _bytes.AsSpan();
            return b[.._host].SequenceEqual(host)
                && b.Slice(_host, _target).SequenceEqual(target)
                && b.Slice(_host + _target, _id).SequenceEqual(id)
                && b.Slice(_host + _target + _id, _port).SequenceEqual(port);
        }

        public void Set(ReadOnlySpan<byte> host, ReadOnlySpan<byte> target, ReadOnlySpan<byte> id, ReadOnlySpan<byte> port, bool hasId, bool hasPort)
        {
            var total = host.Length + target.Length + id.Length + port.Length;
            if (_bytes is null || _bytes.Length < total) _bytes = new byte[Math.Max(total, 256)];
            host.CopyTo(_bytes);
            target.CopyTo(_bytes.AsSpan(host.Length));
            id.CopyTo(_bytes.AsSpan(host.Length + target.Length));
            port.CopyTo(_bytes.AsSpan(host.Length + target.Length + id.Length));
            (_host, _target, _id, _port, _hasId, _hasPort) = (host.Length, target.Length, id.Length, port.Length, hasId, hasPort);
        }
    }
}
