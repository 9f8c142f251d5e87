using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using Microsoft.Extensions.Options;
using Portal.Core.Sandboxes;
using Portal.Web.Options;
using Portal.Web.Transport;

namespace Portal.Web.Proxy;

/// <summary>
/// Keep-alive HTTP/1.1 connections to sandbox ports for <see cref="Http1Forwarder"/> and
/// <see cref="Http1ConnectionProxy"/>, kept per client connection (<see cref="UpstreamOwner"/>)
/// and per (sandbox, port). Streams come from <see cref="SandboxConnections.OpenAsync"/>, so a
/// sandbox that stops cuts its pooled and busy connections alike. One sweep timer (not a timer per
/// request) closes connections idle longer than <c>Portal:Proxy:PooledConnectionIdleTimeout</c>
/// and cuts busy ones with no bytes either way for <c>Portal:Proxy:ActivityTimeout</c>.
/// </summary>
/// <remarks>
/// Why per client connection: the server on a sandbox port is the sandbox owner's code, and any
/// server can get HTTP framing wrong — answer twice, ignore a body its method does not expect
/// (<c>Content-Length</c> on a GET: the body then reads as a second request), send a body after
/// a HEAD answer. On a connection shared between clients the extra bytes become the next
/// client's response. An upstream connection therefore never serves a second client connection:
/// it is opened for one, reused only by that one (a keep-alive client, as every SDK and load
/// generator is, still gets one upstream connection for all its requests) and closed with it.
/// A misbehaving server can then only confuse the stream of the client that talks to it, as
/// behind a proxy without shared upstream keep-alive. On top of that a connection is not reused
/// when bytes nobody asked for are waiting on it, nor after a request whose body the server may
/// ignore (see <see cref="BodyMayBeIgnored"/>), so even its own client gets a clean exchange
/// whenever the server's extra bytes can be seen in time.
/// </remarks>
public sealed class UpstreamPool : IDisposable
{
    private readonly SandboxConnections _connections;
    private readonly SandboxService _sandboxes;
    private readonly ProxyOptions _options;
    private readonly ConcurrentDictionary<UpstreamConnection, byte> _all = new(ReferenceEqualityComparer.Instance);
    private readonly Timer _sweep;
    private readonly bool _direct;

    public UpstreamPool(SandboxConnections connections, SandboxService sandboxes, IOptions<ProxyOptions> options, IOptions<PortalOptions> portal)
    {
        // With the epoll transport, sandbox connections join the client connections' event loop.
        _direct = PortalOptions.UsesEpoll(portal.Value.Transport);
        _connections = connections;
        _sandboxes = sandboxes;
        _options = options.Value;
        var period = TimeSpan.FromSeconds(Math.Clamp(Math.Min(_options.PooledConnectionIdleTimeout.TotalSeconds, _options.ActivityTimeout.TotalSeconds) / 4, 0.05, 5));
        _sweep = new Timer(static s => ((UpstreamPool)s!).Sweep(), this, period, period);
        // A sandbox that stopped: its connections (already cut) leave the pool at once, not at the next sweep.
        _connections.SandboxCut += CloseAllOf;
    }

    private void CloseAllOf(string sandboxId)
    {
        foreach (var c in _all.Keys)
            if (c.SandboxId == sandboxId) Close(c);
    }

    /// <summary>Connections open now (idle and busy), for tests and metrics.</summary>
    public int OpenCount => _all.Count;

    /// <summary>Of those, the ones on the portal's event loop (for tests).</summary>
    internal int DirectCount => _all.Keys.Count(c => c.Direct);

    /// <summary>Methods a sandbox may see twice without harm (RFC 9110's idempotent ones): what <see cref="MayRetry"/> retries after sending.</summary>
    public static bool IsIdempotent(ReadOnlySpan<char> method) =>
        method is "GET" or "HEAD" or "OPTIONS" or "PUT" or "DELETE" or "TRACE";

    /// <inheritdoc cref="IsIdempotent(ReadOnlySpan{char})"/>
    public static bool IsIdempotent(ReadOnlySpan<byte> method) =>
        method.SequenceEqual("GET"u8) || method.SequenceEqual("HEAD"u8) || method.SequenceEqual("OPTIONS"u8)
        || method.SequenceEqual("PUT"u8) || method.SequenceEqual("DELETE"u8) || method.SequenceEqual("TRACE"u8);

    /// <summary>
    /// Whether a server may leave a body of this method unread (RFC 9110 gives a body on these no
    /// meaning): the connection is not reused after such a request carried one.
    /// </summary>
    public static bool BodyMayBeIgnored(ReadOnlySpan<char> method) =>
        method is "GET" or "HEAD" or "DELETE" or "OPTIONS" or "TRACE" or "CONNECT";

    /// <inheritdoc cref="BodyMayBeIgnored(ReadOnlySpan{char})"/>
    public static bool BodyMayBeIgnored(ReadOnlySpan<byte> method) =>
        method.SequenceEqual("GET"u8) || method.SequenceEqual("HEAD"u8) || method.SequenceEqual("DELETE"u8)
        || method.SequenceEqual("OPTIONS"u8) || method.SequenceEqual("TRACE"u8) || method.SequenceEqual("CONNECT"u8);

    /// <summary>
    /// The owner of the client connection whose <paramref name="items"/> these are (made on first
    /// use, closed with its idle connections when <paramref name="connectionClosed"/> fires).
    /// Without both, an owner for one exchange: its connection is closed after it.
    /// </summary>
    public UpstreamOwner OwnerOf(IDictionary<object, object?>? items, CancellationToken connectionClosed)
    {
        if (items is null || !connectionClosed.CanBeCanceled) return new UpstreamOwner(this, pooling: false);
        UpstreamOwner owner;
        // HTTP/2 streams of one connection may get here at once; the items are a plain dictionary.
        lock (items)
        {
            if (items.TryGetValue(typeof(UpstreamOwner), out var found) && found is UpstreamOwner existing) return existing;
            owner = new UpstreamOwner(this, pooling: true);
            items[typeof(UpstreamOwner)] = owner;
        }
        connectionClosed.UnsafeRegister(static o => ((UpstreamOwner)o!).Close(), owner);
        return owner;
    }

    /// <summary>
    /// The one retry rule for both paths: a reused connection that failed before any response byte
    /// arrived was most likely closed by the sandbox while idle, so the request goes once more on a
    /// new connection — only when the sandbox cannot have seen it (<paramref name="sent"/> false) or
    /// seeing it twice is harmless (<paramref name="idempotent"/>), and only while the caller still
    /// holds the whole request (<paramref name="held"/>: not a body streamed from the client).
    /// </summary>
    public static bool MayRetry(UpstreamConnection c, bool sent, bool idempotent, bool held, CancellationToken aborted) =>
        c.Reused && held && c.Buffered == 0 && !aborted.IsCancellationRequested && (!sent || idempotent);

    /// <summary>A connection this client used before (<see cref="UpstreamConnection.Reused"/>) or a new one.</summary>
    public ValueTask<UpstreamConnection> RentAsync(UpstreamOwner owner, string sandboxId, int port, CancellationToken ct)
    {
        var now = Environment.TickCount64;
        var idleLimit = (long)_options.PooledConnectionIdleTimeout.TotalMilliseconds;
        while (owner.TryTake(sandboxId, port) is { } pooled)
        {
            var idle = now - pooled.LastActivity;
            // A server that closed an idle connection (node's http server does after 5 s) has
            // sent its FIN by now: skip the connection instead of failing a request on it. Not
            // polled when reused at once (the hot path of a busy client). Bytes waiting on an
            // idle connection were never asked for: a response too many.
            if (!pooled.IsClosed && idle < idleLimit && !(idle > 50 && pooled.PeerClosed()) && !pooled.HasUnsolicitedBytes())
            {
                pooled.Reused = true;
                pooled.Busy = true;
                pooled.LastActivity = now;
                return new ValueTask<UpstreamConnection>(pooled);
            }
            Close(pooled);
        }
        return OpenAsync(owner, sandboxId, port, ct);
    }

    /// <summary>A new connection, never a pooled one (the retry after a pooled one turned out closed).</summary>
    public async ValueTask<UpstreamConnection> OpenAsync(UpstreamOwner owner, string sandboxId, int port, CancellationToken ct)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(_options.ConnectTimeout);
        var connection = _direct && await _connections.OpenDirectAsync(sandboxId, port, timeout.Token) is { } socket
            ? new UpstreamConnection(owner, sandboxId, port, socket) { Busy = true }
            : new UpstreamConnection(owner, sandboxId, port, await _connections.OpenAsync(sandboxId, port, timeout.Token)) { Busy = true };
        _all[connection] = 0;
        if (connection.IsClosed) Close(connection); // cut while we were connecting
        return connection;
    }

    /// <summary>Back to its client's idle set when its last exchange ended cleanly; closed otherwise.</summary>
    public void Return(UpstreamConnection connection, bool reusable)
    {
        connection.Busy = false;
        if (!reusable || connection.IsClosed || connection.Buffered != 0
            || _sandboxes.FindLive(connection.SandboxId) is not { Status: SandboxStatus.Running })
        {
            Close(connection);
            return;
        }
        connection.LastActivity = Environment.TickCount64;
        if (!connection.Owner.TryKeep(connection)) Close(connection);
    }

    public void Close(UpstreamConnection connection)
    {
        _all.TryRemove(connection, out _);
        connection.Dispose();
    }

    private void Sweep()
    {
        var now = Environment.TickCount64;
        var idleLimit = (long)_options.PooledConnectionIdleTimeout.TotalMilliseconds;
        var activityLimit = (long)_options.ActivityTimeout.TotalMilliseconds;
        foreach (var c in _all.Keys)
        {
            if (c.IsClosed) { _all.TryRemove(c, out _); continue; }
            var quiet = now - c.LastActivity;
            // A busy connection is cut (its request fails and is answered or aborted by the
            // forwarder); an idle one is only closed: the next rent skips it.
            if (c.Busy ? quiet > activityLimit : quiet > idleLimit) Close(c);
        }
    }

    public void Dispose()
    {
        _connections.SandboxCut -= CloseAllOf;
        _sweep.Dispose();
        foreach (var c in _all.Keys) Close(c);
    }

    internal void CloseAll(List<UpstreamConnection> idle)
    {
        foreach (var c in idle) Close(c);
    }
}

/// <summary>
/// One client connection as <see cref="UpstreamPool"/> sees it: the only one its upstream
/// connections ever serve (see the pool's remarks for why).
/// </summary>
public sealed class UpstreamOwner
{
    private readonly UpstreamPool _pool;
    private readonly bool _pooling;
    // Tiny (one entry for an HTTP/1.1 client): a list under a lock beats any dictionary.
    private readonly List<UpstreamConnection> _idle = [];
    private bool _closed;

    internal UpstreamOwner(UpstreamPool pool, bool pooling)
    {
        _pool = pool;
        _pooling = pooling;
    }

    internal UpstreamConnection? TryTake(string sandboxId, int port)
    {
        lock (_idle)
        {
            for (var i = _idle.Count - 1; i >= 0; i--)
            {
                var c = _idle[i];
                if (c.Port != port || !string.Equals(c.SandboxId, sandboxId, StringComparison.Ordinal)) continue;
                _idle.RemoveAt(i);
                return c;
            }
        }
        return null;
    }

    /// <summary>False when it cannot be kept (the client connection is gone, or enough are idle): close it.</summary>
    internal bool TryKeep(UpstreamConnection c)
    {
        if (!_pooling) return false;
        lock (_idle)
        {
            if (_closed || _idle.Count >= MaxIdle) return false;
            _idle.Add(c);
            return true;
        }
    }

    /// <summary>Idle connections one client connection may keep (an HTTP/2 client runs requests in parallel).</summary>
    private const int MaxIdle = 8;

    /// <summary>The client connection ended: its idle upstream connections close now, busy ones when returned.</summary>
    internal void Close()
    {
        List<UpstreamConnection> idle;
        lock (_idle)
        {
            _closed = true;
            idle = [.. _idle];
            _idle.Clear();
        }
        _pool.CloseAll(idle);
    }
}

/// <summary>One keep-alive connection to a sandbox port and its read buffer.</summary>
/// <remarks>
/// Over a socket on the portal's event loop (<see cref="EpollSocket"/>) when the runtime gives the
/// port's address, otherwise over the runtime's stream.
/// </remarks>
public sealed class UpstreamConnection : IDisposable
{
    public const int BufferSize = 16 * 1024;

    // Not pooled: a cut from another thread may race the owner's read, and the connection
    // lives for many exchanges, so one allocation per connection is cheap.
    private readonly byte[] _buffer = new byte[BufferSize];
    private readonly Stream? _stream;
    private readonly EpollSocket? _socket;
    private int _disposed;

    internal UpstreamConnection(UpstreamOwner owner, string sandboxId, int port, Stream stream) : this(owner, sandboxId, port) => _stream = stream;

    internal UpstreamConnection(UpstreamOwner owner, string sandboxId, int port, EpollSocket socket) : this(owner, sandboxId, port) => _socket = socket;

    private UpstreamConnection(UpstreamOwner owner, string sandboxId, int port)
    {
        Owner = owner;
        SandboxId = sandboxId;
        Port = port;
        LastActivity = Environment.TickCount64;
    }

    /// <summary>The one client connection this connection serves.</summary>
    public UpstreamOwner Owner { get; }
    public string SandboxId { get; }
    public int Port { get; }
    /// <summary>On the portal's event loop rather than a runtime stream (for tests).</summary>
    internal bool Direct => _socket is not null;
    /// <summary>Served an exchange before: a failure before any response byte may just be the peer's idle close.</summary>
    public bool Reused { get; set; }
    public bool Busy { get; set; }
    /// <summary><see cref="Environment.TickCount64"/> of the last byte either way (or of the return to the pool).</summary>
    public long LastActivity { get; set; }

    public byte[] Buffer => _buffer;
    /// <summary>Unconsumed bytes in <see cref="Buffer"/>: [<see cref="Start"/>, <see cref="End"/>).</summary>
    public int Start { get; set; }
    public int End { get; set; }
    public int Buffered => End - Start;

    /// <summary>Sends all of <paramref name="data"/>.</summary>
    public ValueTask WriteAsync(ReadOnlyMemory<byte> data) => _socket is { } s ? s.SendAsync(data) : _stream!.WriteAsync(data);

    /// <summary>Reads into <paramref name="buffer"/> (not empty), bypassing <see cref="Buffer"/>; 0 at end of stream.</summary>
    public ValueTask<int> ReadAsync(Memory<byte> buffer) => _socket is { } s ? s.ReceiveAsync(buffer) : _stream!.ReadAsync(buffer);

    /// <summary>Whether the other end has closed (or reset) this idle connection; no read.</summary>
    public bool PeerClosed()
    {
        if (_socket is { } direct) return direct.PeerClosed;
        var inner = _stream is SandboxConnections.ICuttableStream s ? s.Inner : _stream;
        if (inner is not System.Net.Sockets.NetworkStream { Socket: var socket }) return false;
        try { return socket.Poll(0, System.Net.Sockets.SelectMode.SelectRead) && socket.Available == 0; }
        catch (Exception) { return true; }
    }

    /// <summary>
    /// Whether bytes are waiting on this idle connection: the server sent something no request
    /// asked for. Free on the event loop (no readiness since the last drained read means none);
    /// one <c>FIONREAD</c> on a runtime stream.
    /// </summary>
    public bool HasUnsolicitedBytes()
    {
        if (Buffered != 0) return true;
        if (_socket is { } direct) return direct.MayHaveUnreadBytes && Available(direct.Socket) != 0;
        var inner = _stream is SandboxConnections.ICuttableStream s ? s.Inner : _stream;
        return inner is System.Net.Sockets.NetworkStream { Socket: var socket } && Available(socket) != 0;

        static int Available(System.Net.Sockets.Socket socket)
        {
            try { return socket.Available; }
            catch (Exception) { return 1; } // broken: not reusable either
        }
    }

    public bool IsClosed => Volatile.Read(ref _disposed) != 0
        || (_socket?.IsDisposed ?? false)
        || (_stream is SandboxConnections.ICuttableStream s && s.IsCut);

    /// <summary>Reads more bytes after the buffered ones (compacting first); 0 at end of stream.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public async ValueTask<int> FillAsync()
    {
        var buffer = Buffer;
        if (Start > 0)
        {
            if (End > Start) System.Buffer.BlockCopy(buffer, Start, buffer, 0, End - Start);
            End -= Start;
            Start = 0;
        }
        if (End == buffer.Length) throw new InvalidDataException("the sandbox sent a response head larger than " + BufferSize + " bytes");
        var n = await ReadAsync(buffer.AsMemory(End));
        End += n;
        LastActivity = Environment.TickCount64;
        return n;
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        if (_socket is not null) _socket.Dispose();
        else try { _stream!.Dispose(); } catch { /* already cut */ }
    }
}
