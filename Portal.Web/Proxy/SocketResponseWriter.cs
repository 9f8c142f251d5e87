using System.Buffers;
using System.IO.Pipelines;
using System.Net.Sockets;

namespace Portal.Web.Proxy;

/// <summary>
/// The fast path's writer to the client: bytes gather in one buffer and <see cref="FlushAsync"/>
/// sends them with <c>send</c> on the connection's socket, instead of through Kestrel's output pipe
/// and its send loop (one wake-up and one state machine less per response). Safe because nothing
/// else writes to the connection while the fast path owns it, and every flush has finished
/// sending before the connection is handed to Kestrel.
/// </summary>
internal sealed class SocketResponseWriter : PipeWriter
{
    private readonly Socket? _socket;
    private readonly Transport.EpollSocket? _epoll;

    private readonly WriteDeadline _deadline;

    /// <summary>On a connection of Kestrel's socket transport.</summary>
    public SocketResponseWriter(Socket socket, WriteDeadline deadline)
    {
        _socket = socket;
        _deadline = deadline;
    }

    /// <summary>On a connection of the portal's epoll transport.</summary>
    public SocketResponseWriter(Transport.EpollSocket socket, WriteDeadline deadline)
    {
        _epoll = socket;
        _deadline = deadline;
    }

    private const int InitialSize = 16 * 1024;

    // Rented for a response and returned once it is sent: an idle keep-alive connection holds none.
    private byte[]? _buffer;
    private int _written;
    private bool _failed;

    public override Memory<byte> GetMemory(int sizeHint = 0)
    {
        Ensure(sizeHint);
        return _buffer!.AsMemory(_written);
    }

    public override Span<byte> GetSpan(int sizeHint = 0)
    {
        Ensure(sizeHint);
        return _buffer!.AsSpan(_written);
    }

    public override void Advance(int bytes)
    {
        if (_buffer is null || (uint)bytes > (uint)(_buffer.Length - _written)) throw new ArgumentOutOfRangeException(nameof(bytes));
        _written += bytes;
    }

    /// <summary>Sends everything written; a result with <c>IsCompleted</c> when the client is gone.</summary>
    public override async ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default)
    {
        var sent = 0;
        _deadline.Start(_written);
        try
        {
            if (_epoll is not null) await _epoll.SendAsync(_buffer.AsMemory(0, _written));
            else
                while (sent < _written && !_failed)
                    sent += await _socket!.SendAsync(_buffer.AsMemory(sent, _written - sent), SocketFlags.None, cancellationToken);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            _failed = true;
        }
        _deadline.Stop();
        _written = 0;
        if (_buffer is { } b)
        {
            _buffer = null;
            ArrayPool<byte>.Shared.Return(b);
        }
        return new FlushResult(isCanceled: false, isCompleted: _failed);
    }

    private void Ensure(int sizeHint)
    {
        var need = Math.Max(sizeHint, 1);
        if (_buffer is null)
        {
            _buffer = ArrayPool<byte>.Shared.Rent(Math.Max(need, InitialSize));
            return;
        }
        if (_buffer.Length - _written >= need) return;
        var bigger = ArrayPool<byte>.Shared.Rent(Math.Max(_buffer.Length * 2, _written + need));
        _buffer.AsSpan(0, _written).CopyTo(bigger);
        ArrayPool<byte>.Shared.Return(_buffer);
        _buffer = bigger;
    }

    public override void CancelPendingFlush() { }

    /// <summary>Drops anything unsent (the connection is over).</summary>
    public override void Complete(Exception? exception = null)
    {
        _written = 0;
        if (_buffer is { } b)
        {
            _buffer = null;
            ArrayPool<byte>.Shared.Return(b);
        }
    }
}
