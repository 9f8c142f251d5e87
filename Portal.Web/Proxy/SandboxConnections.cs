using System.Collections.Concurrent;
using System.Net;
using Microsoft.Extensions.Options;
using Portal.Core.Runtime;
using Portal.Core.Sandboxes;
using Portal.Web.Options;
using Portal.Web.Transport;

namespace Portal.Web.Proxy;

/// <summary>
/// The one long-lived <see cref="HttpMessageInvoker"/> the proxy sends through. Its
/// <c>ConnectCallback</c> opens a byte stream to the target port of the target sandbox via
/// <see cref="ISandboxRuntime.ConnectAsync"/> (the destination host is the sandbox ID), so
/// HTTP/1.1, streaming and WebSocket upgrades all run over the runtime's stream. Every stream
/// and every in-flight proxied request is tracked per sandbox and cut when the sandbox stops.
/// </summary>
public sealed class SandboxConnections : IDisposable
{
    private readonly ISandboxRuntime _runtime;
    private readonly SandboxService _sandboxes;
    // Per sandbox: everything to cut when it stops (open streams and in-flight requests).
    private readonly ConcurrentDictionary<string, ConcurrentDictionary<ICuttable, byte>> _open = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _stop = new();

    public SandboxConnections(ISandboxRuntime runtime, SandboxService sandboxes, IOptions<ProxyOptions> options)
    {
        _runtime = runtime;
        _sandboxes = sandboxes;
        var o = options.Value;
        Invoker = new HttpMessageInvoker(new SocketsHttpHandler
        {
            UseProxy = false,
            AllowAutoRedirect = false,
            AutomaticDecompression = DecompressionMethods.None,
            UseCookies = false,
            ActivityHeadersPropagator = null,
            ConnectTimeout = o.ConnectTimeout,
            PooledConnectionIdleTimeout = o.PooledConnectionIdleTimeout,
            EnableMultipleHttp2Connections = true,
            ConnectCallback = ConnectAsync,
        }, disposeHandler: true);
        _ = Task.Run(FollowChangesAsync);
    }

    /// <summary>
    /// A subscriber of the change stream: a sandbox that is no longer running (paused, killed,
    /// died) has its streams and requests cut. After a resync (this reader fell behind) every
    /// tracked sandbox the fresh snapshot does not show running is cut.
    /// </summary>
    private async Task FollowChangesAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            using var subscription = _sandboxes.Changes.Subscribe(static _ => true);
            var running = subscription.Snapshot.Where(c => c.Sandbox.Status == SandboxStatus.Running)
                .Select(c => c.Sandbox.SandboxId).ToHashSet(StringComparer.Ordinal);
            foreach (var id in _open.Keys)
                if (!running.Contains(id)) Cut(id);
            try
            {
                await foreach (var change in subscription.Changes.ReadAllAsync(_stop.Token))
                    if (change.Sandbox.Status != SandboxStatus.Running) Cut(change.Sandbox.SandboxId);
                return; // completed: the stream is shutting down
            }
            catch (SandboxChangeStreamOverflowException) { /* subscribe again: a fresh snapshot */ }
            catch (OperationCanceledException) { return; }
        }
    }

    public HttpMessageInvoker Invoker { get; }

    /// <summary>Destination prefix for a sandbox port: the host part is read back by the connect callback.</summary>
    public static string DestinationPrefix(string sandboxId, int port) => $"http://{sandboxId}:{port}/";

    private ValueTask<Stream> ConnectAsync(SocketsHttpConnectionContext ctx, CancellationToken ct) =>
        OpenAsync(ctx.DnsEndPoint.Host, ctx.DnsEndPoint.Port, ct);

    /// <summary>
    /// A byte stream to <paramref name="port"/> of sandbox <paramref name="id"/>, cut (disposed,
    /// <see cref="ICuttableStream.IsCut"/>) when the sandbox stops.
    /// </summary>
    public async ValueTask<Stream> OpenAsync(string id, int port, CancellationToken ct)
    {
        var stream = await _runtime.ConnectAsync(id, port, ct);
        var tracked = new TrackedStream(stream);
        var set = SetOf(id);
        set[tracked] = 0;
        tracked.Closed = () => set.TryRemove(tracked, out _);
        // The sandbox may have stopped while we were connecting.
        if (_sandboxes.FindLive(id) is not { Status: SandboxStatus.Running }) tracked.Cut();
        return tracked;
    }

    /// <summary>
    /// A socket on the portal's event loop to <paramref name="port"/> of sandbox <paramref name="id"/>
    /// when the runtime names an address for it (<see cref="ISandboxRuntime.DirectEndPoint"/>),
    /// closed when the sandbox stops; null when it does not, or when connecting there failed (the
    /// caller then goes through <see cref="OpenAsync"/>, which says why).
    /// </summary>
    internal async ValueTask<EpollSocket?> OpenDirectAsync(string id, int port, CancellationToken ct)
    {
        if (_runtime.DirectEndPoint(id, port) is not { } endPoint) return null;
        EpollSocket socket;
        try
        {
            socket = await EpollSocket.ConnectAsync(endPoint, ct);
        }
        catch (System.Net.Sockets.SocketException)
        {
            return null;
        }
        var tracked = new TrackedSocket(socket);
        var set = SetOf(id);
        set[tracked] = 0;
        socket.Disposed = () => set.TryRemove(tracked, out _);
        if (_sandboxes.FindLive(id) is not { Status: SandboxStatus.Running }) socket.Dispose();
        return socket;
    }

    /// <summary>Registers an in-flight proxied request so a kill aborts it; dispose to unregister.</summary>
    public IDisposable Track(string sandboxId, HttpContext http)
    {
        // One small object per request (this runs on every proxied request).
        var registration = new RequestRegistration(SetOf(sandboxId), http);
        registration.Set[registration] = 0;
        return registration;
    }

    private ConcurrentDictionary<ICuttable, byte> SetOf(string sandboxId) =>
        _open.GetOrAdd(sandboxId, static _ => new ConcurrentDictionary<ICuttable, byte>(ReferenceEqualityComparer.Instance));

    /// <summary>Raised (sandbox ID) after a sandbox's streams were cut: the pool drops its connections to it.</summary>
    public event Action<string>? SandboxCut;

    /// <summary>Cuts every stream and request of a sandbox (killed, paused or died).</summary>
    public void Cut(string sandboxId)
    {
        if (!_open.TryRemove(sandboxId, out var set)) return;
        foreach (var item in set.Keys)
        {
            try { item.Cut(); } catch { /* already closed */ }
        }
        SandboxCut?.Invoke(sandboxId);
    }

    public void Dispose()
    {
        _stop.Cancel();
        Invoker.Dispose();
    }

    private interface ICuttable
    {
        void Cut();
    }

    /// <summary>A stream from <see cref="OpenAsync"/>: whether it has been cut or closed.</summary>
    public interface ICuttableStream
    {
        bool IsCut { get; }
        /// <summary>The runtime's stream underneath.</summary>
        Stream Inner { get; }
    }

    private sealed class TrackedSocket(EpollSocket socket) : ICuttable
    {
        public void Cut() => socket.Dispose();
    }

    /// <summary>An in-flight proxied request, registered until it completes.</summary>
    private sealed class RequestRegistration(ConcurrentDictionary<ICuttable, byte> set, HttpContext http) : ICuttable, IDisposable
    {
        private int _done;
        public ConcurrentDictionary<ICuttable, byte> Set => set;

        // A request still waiting for its response fails over to a clean 502 once its upstream
        // stream is cut; only responses already under way must be torn down.
        public void Cut() { if (http.Response.HasStarted) http.Abort(); }

        public void Dispose() { if (Interlocked.Exchange(ref _done, 1) == 0) set.TryRemove(this, out _); }
    }

    /// <summary>A pass-through stream that can be cut from outside and reports when it closes.</summary>
    private sealed class TrackedStream(Stream inner) : Stream, ICuttable, ICuttableStream
    {
        private int _closed;
        public bool IsCut => Volatile.Read(ref _closed) != 0;
        public Stream Inner => inner;
        public Action? Closed { get; set; }

        public void Cut() => Dispose();

        public override bool CanRead => inner.CanRead;
        public override bool CanSeek => false;
        public override bool CanWrite => inner.CanWrite;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() => inner.Flush();
        public override Task FlushAsync(CancellationToken ct) => inner.FlushAsync(ct);
        public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, count);
        public override int Read(Span<byte> buffer) => inner.Read(buffer);
        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken ct) => inner.ReadAsync(buffer, offset, count, ct);
        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default) => inner.ReadAsync(buffer, ct);
        public override void Write(byte[] buffer, int offset, int count) => inner.Write(buffer, offset, count);
        public override void Write(ReadOnlySpan<byte> buffer) => inner.Write(buffer);
        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken ct) => inner.WriteAsync(buffer, offset, count, ct);
        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken ct = default) => inner.WriteAsync(buffer, ct);
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing && Interlocked.Exchange(ref _closed, 1) == 0)
            {
                inner.Dispose();
                Closed?.Invoke();
            }
            base.Dispose(disposing);
        }

        public override async ValueTask DisposeAsync()
        {
            if (Interlocked.Exchange(ref _closed, 1) == 0)
            {
                await inner.DisposeAsync();
                Closed?.Invoke();
            }
            await base.DisposeAsync();
        }
    }
}
