using System.Buffers;
using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Threading.Tasks.Sources;

// One source, two assemblies: the portal compiles this transport here, and Portal.Envd (NativeAOT,
// no reference to Portal.Web) links the same files with PORTAL_ENVD defined, under its own
// namespace so a project referencing both sees two distinct types.
#if PORTAL_ENVD
namespace Portal.Envd.Transport;
#else
namespace Portal.Web.Transport;
#endif

/// <summary>
/// A non-blocking stream socket on an <see cref="EpollLoop"/> (edge-triggered), read and written
/// with plain <c>recv</c>/<c>send</c>. Its point is the read rule nginx uses: a read that came back
/// short (or with <c>EAGAIN</c>) drained the socket, so the next read waits for the next readiness
/// event instead of making a system call that can only say <c>EAGAIN</c> — .NET's sockets always try
/// first, which cost ~1.35 useless calls per proxied request (docs/benchmarks.md). Write readiness is
/// only asked for once a send could not complete: with it always on, every read the peer makes of a
/// Unix socket would wake the loop.
/// </summary>
/// <remarks>
/// One reader and one writer at a time. The <see cref="Socket"/> underneath is never used for
/// asynchronous operations (that would register it with the runtime's own epoll as well); it keeps
/// the descriptor's lifetime (a call in flight holds it open), shutdown and options.
/// Continuations run on the loop thread: they must not block.
/// </remarks>
internal sealed class EpollSocket : IDisposable
{
    private const uint ReadEvents = LibC.EpollIn | LibC.EpollErr | LibC.EpollHup | LibC.EpollRdHup;
    private const uint WriteEvents = LibC.EpollOut | LibC.EpollErr | LibC.EpollHup;

    private readonly Socket _socket;
    private readonly EpollLoop _loop;
    private readonly Lock _gate = new();
    private readonly Waiter _readWaiter = new(), _writeWaiter = new();
    // Readiness events seen, per direction, and the count a read last found the socket drained at.
    private int _readEvents = 1, _readDrainedAt, _writeEvents = 1;
    private bool _readWaiting, _writeWaiting, _writeRegistered, _peerClosed;
    private int _disposed;

    public EpollSocket(Socket socket)
    {
        _socket = socket;
        socket.Blocking = false;
        _loop = EpollLoop.Pick();
        _loop.Add(this, socket.SafeHandle, ReadEvents | LibC.EpollEt);
    }

    /// <summary>The key of this socket's registration (set by the loop).</summary>
    internal ulong Key { get; set; }

    public Socket Socket => _socket;
    /// <summary><c>recv</c> calls made (for tests: the drained-read rule is observable only here).</summary>
    internal long ReceiveCalls;
    public bool IsDisposed => Volatile.Read(ref _disposed) != 0;
    /// <summary>The peer has shut down its side (or the connection failed): seen from events, no system call.</summary>
    public bool PeerClosed => Volatile.Read(ref _peerClosed);
    /// <summary>Readiness was reported since a read last drained the socket (no system call).</summary>
    public bool MayHaveUnreadBytes => Volatile.Read(ref _readEvents) != _readDrainedAt;
    /// <summary>Runs once when the socket is disposed.</summary>
    public Action? Disposed { get; set; }

    /// <summary>A connected socket to <paramref name="endPoint"/> (TCP or Unix), connected without blocking the caller.</summary>
    public static async ValueTask<EpollSocket> ConnectAsync(EndPoint endPoint, CancellationToken ct)
    {
        var unix = endPoint is UnixDomainSocketEndPoint;
        var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, unix ? ProtocolType.Unspecified : ProtocolType.Tcp);
        EpollSocket? s = null;
        try
        {
            if (!unix) socket.NoDelay = true;
            socket.Blocking = false;
            var pending = false;
            try
            {
                socket.Connect(endPoint);
            }
            catch (SocketException e) when (e.SocketErrorCode is SocketError.WouldBlock or SocketError.InProgress)
            {
                pending = true;
            }
            // Registered only once connecting: a socket that is not connected yet polls as hung up,
            // which would mark the peer as gone from the first event.
            s = new EpollSocket(socket);
            if (!pending) return s;
            await using (ct.UnsafeRegister(static o => ((EpollSocket)o!).Dispose(), s))
            {
                if (!await s.WaitWritableAsync(seen: 1)) throw new OperationCanceledException(ct);
            }
            var error = (int)socket.GetSocketOption(SocketOptionLevel.Socket, SocketOptionName.Error)!;
            if (error != 0) throw new SocketException(error);
            return s;
        }
        catch
        {
            if (s is null) socket.Dispose();
            else s.Dispose();
            throw;
        }
    }

    // ---- reading ----

    /// <summary>Bytes read into <paramref name="buffer"/> (not empty); 0 at end of stream.</summary>
    public ValueTask<int> ReceiveAsync(Memory<byte> buffer)
    {
        if (TryReceive(buffer.Span, out var n, out var seen)) return new ValueTask<int>(n);
        return ReceiveSlowAsync(buffer, seen);
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<int> ReceiveSlowAsync(Memory<byte> buffer, int seen)
    {
        while (true)
        {
            if (!await WaitReadableAsync(seen)) throw Aborted();
            if (TryReceive(buffer.Span, out var n, out seen)) return n;
        }
    }

    /// <summary>Completes when the socket may have bytes to read (at once unless the last read drained it).</summary>
    public ValueTask<bool> WaitReadableAsync() => WaitReadableAsync(_readDrainedAt);

    private unsafe bool TryReceive(Span<byte> buffer, out int received, out int seen)
    {
        while (true)
        {
            seen = Volatile.Read(ref _readEvents);
            if (seen == _readDrainedAt)
            {
                received = 0;
                return false; // nothing new since a read drained it: wait, no system call
            }
            nint n;
            ReceiveCalls++;
            fixed (byte* p = buffer) n = LibC.Recv(_socket.SafeHandle, p, buffer.Length, 0);
            if (n >= 0)
            {
                // A short read drained the socket — unless the peer has shut down: its FIN may have
                // come in the same event as the data, and only a further read sees the end.
                if (n < buffer.Length && !Volatile.Read(ref _peerClosed)) _readDrainedAt = seen;
                received = (int)n;
                return true;
            }
            var errno = LibC.Errno;
            if (errno == LibC.EIntr) continue;
            if (errno != LibC.EAgain) throw LibC.SocketError(errno);
            _readDrainedAt = seen;
        }
    }

    private ValueTask<bool> WaitReadableAsync(int seen)
    {
        lock (_gate)
        {
            if (_disposed != 0) return new ValueTask<bool>(false);
            if (_readEvents != seen) return new ValueTask<bool>(true);
            _readWaiter.Reset();
            _readWaiting = true;
        }
        return _readWaiter.Task;
    }

    // ---- writing ----

    /// <summary>Sends all of <paramref name="data"/> (waiting for room when the socket's buffer is full).</summary>
    public ValueTask SendAsync(ReadOnlyMemory<byte> data)
    {
        var seen = Volatile.Read(ref _writeEvents);
        var sent = TrySend(data.Span);
        return sent == data.Length ? default : SendSlowAsync(data[sent..], seen);
    }

    /// <summary>Sends a whole sequence, up to 64 segments per <c>sendmsg</c>.</summary>
    public ValueTask SendAsync(in ReadOnlySequence<byte> data)
    {
        if (data.IsSingleSegment) return SendAsync(data.First);
        return SendSequenceAsync(data);
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask SendSlowAsync(ReadOnlyMemory<byte> rest, int seen)
    {
        while (true)
        {
            if (!await WaitWritableAsync(seen)) throw Aborted();
            seen = Volatile.Read(ref _writeEvents);
            rest = rest[TrySend(rest.Span)..];
            if (rest.IsEmpty) return;
        }
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask SendSequenceAsync(ReadOnlySequence<byte> data)
    {
        while (!data.IsEmpty)
        {
            var seen = Volatile.Read(ref _writeEvents);
            var sent = TrySendSegments(data);
            data = data.Slice(sent);
            if (sent == 0 && !await WaitWritableAsync(seen)) throw Aborted();
        }
    }

    /// <summary>One <c>sendmsg</c> of up to 64 segments: bytes sent (0 when the socket's buffer is full).</summary>
    private unsafe long TrySendSegments(in ReadOnlySequence<byte> data)
    {
        const int MaxSegments = 64;
        var iov = stackalloc LibC.IoVec[MaxSegments];
        var handles = ArrayPool<MemoryHandle>.Shared.Rent(MaxSegments);
        var count = 0;
        try
        {
            foreach (var segment in data)
            {
                if (segment.IsEmpty) continue;
                handles[count] = segment.Pin();
                iov[count].Base = (byte*)handles[count].Pointer;
                iov[count].Length = segment.Length;
                if (++count == MaxSegments) break;
            }
            var message = new LibC.MsgHdr { Iov = iov, IovLength = count };
            while (true)
            {
                var n = LibC.SendMsg(_socket.SafeHandle, &message, LibC.MsgNoSignal);
                if (n >= 0) return n;
                var errno = LibC.Errno;
                if (errno == LibC.EIntr) continue;
                if (errno == LibC.EAgain) return 0;
                throw LibC.SocketError(errno);
            }
        }
        finally
        {
            for (var i = 0; i < count; i++) handles[i].Dispose();
            ArrayPool<MemoryHandle>.Shared.Return(handles, clearArray: true);
        }
    }

    /// <summary>Bytes sent now (0 when the socket's buffer is full).</summary>
    private unsafe int TrySend(ReadOnlySpan<byte> data)
    {
        var sent = 0;
        while (sent < data.Length)
        {
            nint n;
            fixed (byte* p = data) n = LibC.Send(_socket.SafeHandle, p + sent, data.Length - sent, LibC.MsgNoSignal);
            if (n >= 0)
            {
                sent += (int)n;
                continue;
            }
            var errno = LibC.Errno;
            if (errno == LibC.EIntr) continue;
            if (errno == LibC.EAgain) break;
            throw LibC.SocketError(errno);
        }
        return sent;
    }

    private ValueTask<bool> WaitWritableAsync(int seen)
    {
        bool register;
        lock (_gate)
        {
            if (_disposed != 0) return new ValueTask<bool>(false);
            if (_writeEvents != seen) return new ValueTask<bool>(true);
            _writeWaiter.Reset();
            _writeWaiting = true;
            register = !_writeRegistered;
            _writeRegistered = true;
        }
        // Asked for from now on (a socket that filled its buffer once will likely do it again).
        // Edge-triggered, the change itself reports a socket that is writable already.
        if (register)
        {
            try { _loop.Modify(_socket.SafeHandle, ReadEvents | WriteEvents | LibC.EpollEt, Key); }
            catch (Exception e) when (e is SocketException or ObjectDisposedException) { Dispose(); }
        }
        return _writeWaiter.Task;
    }

    // ---- events, shutdown ----

    /// <summary>On the loop thread: readiness for one or both directions.</summary>
    internal void OnEvents(uint events)
    {
        Waiter? read = null, write = null;
        lock (_gate)
        {
            if ((events & ReadEvents) != 0)
            {
                _readEvents++;
                if (_readWaiting) { _readWaiting = false; read = _readWaiter; }
            }
            if ((events & WriteEvents) != 0)
            {
                _writeEvents++;
                if (_writeWaiting) { _writeWaiting = false; write = _writeWaiter; }
            }
            if ((events & (LibC.EpollRdHup | LibC.EpollHup | LibC.EpollErr)) != 0) _peerClosed = true;
        }
        write?.Set(true);
        read?.Set(true);
    }

    /// <summary>Shuts the connection down both ways (a FIN to the peer), ignoring a socket already gone.</summary>
    public void Shutdown()
    {
        try { _socket.Shutdown(SocketShutdown.Both); }
        catch (Exception e) when (e is SocketException or ObjectDisposedException) { }
    }

    /// <summary>Closes the socket; a pending read or write fails with <see cref="SocketError.OperationAborted"/>.</summary>
    public void Dispose()
    {
        Waiter? read = null, write = null;
        lock (_gate)
        {
            if (_disposed != 0) return;
            _disposed = 1;
            if (_readWaiting) { _readWaiting = false; read = _readWaiter; }
            if (_writeWaiting) { _writeWaiting = false; write = _writeWaiter; }
        }
        _socket.Dispose();
        _loop.Remove(Key);
        write?.Set(false);
        read?.Set(false);
        Disposed?.Invoke();
    }

    private static SocketException Aborted() => new((int)SocketError.OperationAborted);

    /// <summary>A reusable wait for one direction: true when an event came, false when the socket closed.</summary>
    private sealed class Waiter : IValueTaskSource<bool>
    {
        private ManualResetValueTaskSourceCore<bool> _core;

        public ValueTask<bool> Task => new(this, _core.Version);
        public void Reset() => _core.Reset();
        public void Set(bool result) => _core.SetResult(result);

        public bool GetResult(short token) => _core.GetResult(token);
        public ValueTaskSourceStatus GetStatus(short token) => _core.GetStatus(token);
        public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
            _core.OnCompleted(continuation, state, token, flags);
    }
}
