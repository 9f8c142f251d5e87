using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using Microsoft.Extensions.Options;
using Portal.Core.Sandboxes;
using Portal.Web.Options;
using Portal.Web.Transport;

namespace Portal.Web.Proxy;

/// <summary>
/// Keep-alive HTTP/1.1 connections to sandbox ports for <see cref="Http1Forwarder"/>, per
/// (sandbox, port), most recently used first. Streams come from
/// <see cref="SandboxConnections.OpenAsync"/>, so a sandbox that stops cuts its pooled and busy
/// connections alike. One sweep timer (not a timer per request) closes connections idle longer
/// than <c>Portal:Proxy:PooledConnectionIdleTimeout</c> and cuts busy ones with no bytes either
/// way for <c>Portal:Proxy:ActivityTimeout</c>.
/// </summary>
public sealed class UpstreamPool : IDisposable
{
    private readonly SandboxConnections _connections;
    private readonly SandboxService _sandboxes;
    private readonly ProxyOptions _options;
    private readonly ConcurrentDictionary<(string Id, int Port), ConcurrentStack<UpstreamConnection>> _idle = new();
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
        _sandboxes.SandboxStopped += Forget;
        var period = TimeSpan.FromSeconds(Math.Clamp(Math.Min(_options.PooledConnectionIdleTimeout.TotalSeconds, _options.ActivityTimeout.TotalSeconds) / 4, 0.05, 5));
        _sweep = new Timer(static s => ((UpstreamPool)s!).Sweep(), this, period, period);
    }

    /// <summary>Connections open now (idle and busy), for tests and metrics.</summary>
    public int OpenCount => _all.Count;

    /// <summary>Of those, the ones on the portal's event loop (for tests).</summary>
    internal int DirectCount => _all.Keys.Count(c => c.Direct);

    /// <summary>A pooled connection (<see cref="UpstreamConnection.Reused"/>) or a new one.</summary>
    public async ValueTask<UpstreamConnection> RentAsync(string sandboxId, int port, CancellationToken ct)
    {
        if (_idle.TryGetValue((sandboxId, port), out var stack))
        {
            var now = Environment.TickCount64;
            var idleLimit = (long)_options.PooledConnectionIdleTimeout.TotalMilliseconds;
            while (stack.TryPop(out var pooled))
            {
                var idle = now - pooled.LastActivity;
                // A server that closed an idle connection (node's http server does after 5 s) has
                // sent its FIN by now: skip the connection instead of failing a request on it. Not
                // polled when reused at once (the hot path of a busy client).
                if (!pooled.IsClosed && idle < idleLimit && !(idle > 50 && pooled.PeerClosed()))
                {
                    pooled.Reused = true;
                    pooled.Busy = true;
                    pooled.LastActivity = now;
                    return pooled;
                }
                Close(pooled);
            }
        }
        return await OpenAsync(sandboxId, port, ct);
    }

    /// <summary>A new connection, never a pooled one (the retry after a pooled one turned out closed).</summary>
    public async ValueTask<UpstreamConnection> OpenAsync(string sandboxId, int port, CancellationToken ct)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(_options.ConnectTimeout);
        var connection = _direct && await _connections.OpenDirectAsync(sandboxId, port, timeout.Token) is { } socket
            ? new UpstreamConnection(sandboxId, port, socket) { Busy = true }
            : new UpstreamConnection(sandboxId, port, await _connections.OpenAsync(sandboxId, port, timeout.Token)) { Busy = true };
        _all[connection] = 0;
        if (connection.IsClosed) Close(connection); // cut while we were connecting
        return connection;
    }

    /// <summary>Back to the pool when its last exchange ended cleanly; closed otherwise.</summary>
    public void Return(UpstreamConnection connection, bool reusable)
    {
        connection.Busy = false;
        if (!reusable || connection.IsClosed || connection.Buffered != 0)
        {
            Close(connection);
            return;
        }
        connection.LastActivity = Environment.TickCount64;
        var stack = _idle.GetOrAdd((connection.SandboxId, connection.Port), static _ => new ConcurrentStack<UpstreamConnection>());
        stack.Push(connection);
        // The sandbox may have stopped between its cut and this push.
        if (_sandboxes.FindLive(connection.SandboxId) is not { Status: SandboxStatus.Running }) Forget(connection.SandboxId);
    }

    public void Close(UpstreamConnection connection)
    {
        _all.TryRemove(connection, out _);
        connection.Dispose();
    }

    private void Forget(string sandboxId)
    {
        foreach (var key in _idle.Keys)
        {
            if (key.Id != sandboxId || !_idle.TryRemove(key, out var stack)) continue;
            while (stack.TryPop(out var c)) Close(c);
        }
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
        foreach (var (key, stack) in _idle)
            if (stack.IsEmpty) _idle.TryRemove(new KeyValuePair<(string, int), ConcurrentStack<UpstreamConnection>>(key, stack));
    }

    public void Dispose()
    {
        _sandboxes.SandboxStopped -= Forget;
        _sweep.Dispose();
        foreach (var c in _all.Keys) Close(c);
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

    internal UpstreamConnection(string sandboxId, int port, Stream stream) : this(sandboxId, port) => _stream = stream;

    internal UpstreamConnection(string sandboxId, int port, EpollSocket socket) : this(sandboxId, port) => _socket = socket;

    private UpstreamConnection(string sandboxId, int port)
    {
        SandboxId = sandboxId;
        Port = port;
        LastActivity = Environment.TickCount64;
    }

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
