using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http.Features;

// One source, two assemblies: the portal compiles this transport here, and Portal.Envd (NativeAOT,
// no reference to Portal.Web) links the same files with PORTAL_ENVD defined, under its own
// namespace so a project referencing both sees two distinct types.
#if PORTAL_ENVD
namespace Portal.Envd.Transport;
#else
namespace Portal.Web.Transport;
#endif

/// <summary>The connection's <see cref="EpollSocket"/>, for code that writes to the client itself (the proxy's fast path).</summary>
internal interface IEpollSocketFeature
{
    EpollSocket Socket { get; }
}

/// <summary>
/// One accepted connection of <see cref="EpollTransportFactory"/>: a receive loop filling the input
/// pipe and a send loop draining the output pipe, with Kestrel's socket transport's semantics
/// (end of input on the client's FIN, <see cref="ConnectionClosed"/> when the receive side ends,
/// shutdown and close when the output completes or the connection is aborted).
/// </summary>
internal sealed class EpollConnection : ConnectionContext,
    IConnectionIdFeature, IConnectionTransportFeature, IConnectionItemsFeature, IMemoryPoolFeature,
    IConnectionLifetimeFeature, IConnectionEndPointFeature, IEpollSocketFeature
{
    // Half of the pool's 4 KB blocks, as Kestrel's socket transport asks for.
    private const int MinReadBuffer = 2048;
    private static long _lastId;

    private readonly EpollSocket _socket;
    private readonly Pipe _input, _output;
    private readonly IDuplexPipe _transport;
    private readonly CancellationTokenSource _closed = new();
    private readonly TaskCompletionSource _closedFired = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Lock _shutdownLock = new();
    private volatile Exception? _shutdownReason;
    private Task _receiving = Task.CompletedTask, _sending = Task.CompletedTask;
    private IDictionary<object, object?>? _items;
    private int _closedScheduled;

    public EpollConnection(EpollSocket socket, MemoryPool<byte> pool, PipeScheduler application, long maxRead, long maxWrite)
    {
        _socket = socket;
        MemoryPool = pool;
        ConnectionId = "E" + Interlocked.Increment(ref _lastId).ToString("X8", System.Globalization.CultureInfo.InvariantCulture);
        LocalEndPoint = socket.Socket.LocalEndPoint;
        RemoteEndPoint = socket.Socket.RemoteEndPoint;
        ConnectionClosed = _closed.Token;
        // The transport's ends resume inline (on the loop thread); the application's as configured.
        _input = new Pipe(new PipeOptions(pool, application, PipeScheduler.Inline, maxRead, maxRead / 2, useSynchronizationContext: false));
        _output = new Pipe(new PipeOptions(pool, PipeScheduler.Inline, application, maxWrite, maxWrite / 2, useSynchronizationContext: false));
        _transport = Transport = new DuplexPipe(_input.Reader, _output.Writer);

        var features = new FeatureCollection();
        features.Set<IConnectionIdFeature>(this);
        features.Set<IConnectionTransportFeature>(this);
        features.Set<IConnectionItemsFeature>(this);
        features.Set<IMemoryPoolFeature>(this);
        features.Set<IConnectionLifetimeFeature>(this);
        features.Set<IConnectionEndPointFeature>(this);
        features.Set<IEpollSocketFeature>(this);
        Features = features;
    }

    public override string ConnectionId { get; set; }
    public override IFeatureCollection Features { get; }
    public override IDuplexPipe Transport { get; set; }
    public override IDictionary<object, object?> Items
    {
        get => _items ??= new Dictionary<object, object?>();
        set => _items = value;
    }
    public MemoryPool<byte> MemoryPool { get; }
    public override CancellationToken ConnectionClosed { get; set; }
    public override EndPoint? LocalEndPoint { get; set; }
    public override EndPoint? RemoteEndPoint { get; set; }
    EpollSocket IEpollSocketFeature.Socket => _socket;

    public void Start()
    {
        // Without the accept loop's execution context: none to restore at every await of the loops.
        using (ExecutionContext.SuppressFlow())
        {
            _receiving = ReceiveLoopAsync();
            _sending = SendLoopAsync();
        }
    }

    public override void Abort(ConnectionAbortedException abortReason)
    {
        Shutdown(abortReason);
        _output.Reader.CancelPendingRead(); // ends the send loop
    }

    /// <summary>Called by Kestrel once the connection's middleware is done (so after <see cref="ConnectionClosed"/>).</summary>
    public override async ValueTask DisposeAsync()
    {
        _transport.Input.Complete();
        _transport.Output.Complete();
        await _receiving;
        await _sending;
        _closed.Dispose();
    }

    private async Task ReceiveLoopAsync()
    {
        Exception? error = null;
        var input = _input.Writer;
        try
        {
            while (true)
            {
                // A buffer only once there is something to read: an idle keep-alive connection holds
                // none, and waiting for a drained socket costs no system call.
                if (!await _socket.WaitReadableAsync()) break;
                var memory = input.GetMemory(MinReadBuffer);
                var n = await _socket.ReceiveAsync(memory);
                if (n == 0) break; // FIN
                input.Advance(n);
                var flush = await input.FlushAsync();
                if (flush.IsCompleted || flush.IsCanceled) break;
            }
        }
        catch (SocketException e) when (IsReset(e.SocketErrorCode))
        {
            error = new ConnectionResetException(e.Message, e);
        }
        catch (Exception e) when (e is ObjectDisposedException || (e is SocketException s && IsAbort(s.SocketErrorCode)))
        {
            error = e; // a shutdown reason is set: that is what the application sees
        }
        catch (Exception e)
        {
            error = new IOException(e.Message, e);
        }
        finally
        {
            input.Complete(_shutdownReason ?? error);
            FireConnectionClosed();
            await _closedFired.Task;
        }
    }

    private async Task SendLoopAsync()
    {
        Exception? shutdownReason = null, unexpected = null;
        var output = _output.Reader;
        try
        {
            while (true)
            {
                var result = await output.ReadAsync();
                if (result.IsCanceled) break;
                var buffer = result.Buffer;
                if (!buffer.IsEmpty) await _socket.SendAsync(buffer);
                output.AdvanceTo(buffer.End);
                if (result.IsCompleted) break;
            }
        }
        catch (SocketException e) when (IsReset(e.SocketErrorCode))
        {
            shutdownReason = new ConnectionResetException(e.Message, e);
        }
        catch (Exception e) when (e is ObjectDisposedException || (e is SocketException s && IsAbort(s.SocketErrorCode)))
        {
            shutdownReason = e;
        }
        catch (Exception e)
        {
            shutdownReason = unexpected = e;
        }
        finally
        {
            Shutdown(shutdownReason);
            output.Complete(unexpected);
            _input.Writer.CancelPendingFlush(); // un-pauses a receive loop waiting on a full input pipe
        }
    }

    private void Shutdown(Exception? reason)
    {
        lock (_shutdownLock)
        {
            if (_shutdownReason is not null) return;
            _shutdownReason = reason ?? new ConnectionAbortedException("The epoll transport's send loop completed gracefully.");
            _socket.Shutdown();
            _socket.Dispose();
        }
    }

    private void FireConnectionClosed()
    {
        if (Interlocked.Exchange(ref _closedScheduled, 1) != 0) return;
        // Off the loop thread: the token's callbacks are Kestrel's and the application's.
        ThreadPool.UnsafeQueueUserWorkItem(static c =>
        {
            try { c._closed.Cancel(); }
            catch (Exception) { /* a callback's failure is its own */ }
            c._closedFired.TrySetResult();
        }, this, preferLocal: false);
    }

    private static bool IsReset(SocketError e) => e is SocketError.ConnectionReset or SocketError.Shutdown;
    private static bool IsAbort(SocketError e) => e is SocketError.OperationAborted or SocketError.Interrupted or SocketError.InvalidArgument;

    private sealed class DuplexPipe(PipeReader input, PipeWriter output) : IDuplexPipe
    {
        public PipeReader Input { get; } = input;
        public PipeWriter Output { get; } = output;
    }
}
