using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http.Features;

namespace Portal.Web.Proxy;

/// <summary>
/// The connection as Kestrel's HTTP layer sees it for one request the fast path hands over: the
/// input ends after that request's bytes (head and sized body), and
/// Kestrel's completing the pipes at the end does not end the connection. When Kestrel has
/// answered, <see cref="Http1ConnectionProxy"/> goes on with the next request — so a client that
/// mixes API calls and sandbox calls on one connection (the SDK with one URL) keeps the fast path.
/// </summary>
internal sealed class OneRequestConnection : ConnectionContext
{
    private readonly ConnectionContext _inner;
    private readonly Heartbeat _heartbeat = new();
    private readonly LimitedReader _reader;

    /// <summary>Whether Kestrel read the whole request (else the input is mid-body: the connection cannot go on).</summary>
    public bool ReadWhole => _reader.Remaining == 0;

    public OneRequestConnection(ConnectionContext inner, long length)
    {
        _inner = inner;
        _reader = new LimitedReader(inner.Transport.Input, length);
        Transport = new Duplex(_reader, new KeepOpenWriter(inner.Transport.Output));
        // Kestrel's HTTP layer registers its timeouts on the connection's heartbeat and never
        // unregisters: registrations go to this request's own heartbeat instead, which
        // Http1ConnectionProxy ticks while the request runs and which ends with it.
        Features = new FeatureCollection(inner.Features);
        Features.Set<IConnectionHeartbeatFeature>(_heartbeat);
    }

    /// <summary>Runs Kestrel's per-connection timeout checks (once a second, from the proxy's sweep).</summary>
    public void Tick() => _heartbeat.Tick();

    public override IDuplexPipe Transport { get; set; }
    public override IFeatureCollection Features { get; }

    public override string ConnectionId { get => _inner.ConnectionId; set => _inner.ConnectionId = value; }
    public override IDictionary<object, object?> Items { get => _inner.Items; set => _inner.Items = value; }
    public override CancellationToken ConnectionClosed { get => _inner.ConnectionClosed; set => _inner.ConnectionClosed = value; }
    public override EndPoint? LocalEndPoint { get => _inner.LocalEndPoint; set => _inner.LocalEndPoint = value; }
    public override EndPoint? RemoteEndPoint { get => _inner.RemoteEndPoint; set => _inner.RemoteEndPoint = value; }
    public override void Abort(ConnectionAbortedException abortReason) => _inner.Abort(abortReason);
    public override void Abort() => _inner.Abort();
    public override ValueTask DisposeAsync() => ValueTask.CompletedTask; // the connection goes on

    private sealed class Heartbeat : IConnectionHeartbeatFeature
    {
        private readonly List<(Action<object> Action, object State)> _callbacks = [];

        public void OnHeartbeat(Action<object> action, object state)
        {
            lock (_callbacks) _callbacks.Add((action, state));
        }

        public void Tick()
        {
            (Action<object> Action, object State)[] callbacks;
            lock (_callbacks) callbacks = [.. _callbacks];
            foreach (var (action, state) in callbacks) action(state);
        }
    }

    private sealed class Duplex(PipeReader input, PipeWriter output) : IDuplexPipe
    {
        public PipeReader Input => input;
        public PipeWriter Output => output;
    }

    /// <summary>The real input, cut off after a number of bytes (then it reads as ended).</summary>
    private sealed class LimitedReader(PipeReader inner, long length) : PipeReader
    {
        private long _remaining = length;
        public long Remaining => _remaining;
        private ReadOnlySequence<byte> _handedOut;

        public override async ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default)
        {
            if (_remaining == 0) return Ended();
            return Limit(await inner.ReadAsync(cancellationToken));
        }

        public override bool TryRead(out ReadResult result)
        {
            if (_remaining == 0)
            {
                result = Ended();
                return true;
            }
            if (!inner.TryRead(out var r))
            {
                result = default;
                return false;
            }
            result = Limit(r);
            return true;
        }

        private ReadResult Ended()
        {
            _handedOut = default;
            return new ReadResult(default, isCanceled: false, isCompleted: true);
        }

        private ReadResult Limit(ReadResult r)
        {
            // Not "completed" when the request is all there: to Kestrel that would mean the client
            // closed its side mid-request. The end shows on the read after the request is consumed.
            var buffer = r.Buffer;
            if (buffer.Length > _remaining) buffer = buffer.Slice(0, _remaining);
            _handedOut = buffer;
            return new ReadResult(buffer, r.IsCanceled, r.IsCompleted);
        }

        public override void AdvanceTo(SequencePosition consumed) => AdvanceTo(consumed, consumed);

        public override void AdvanceTo(SequencePosition consumed, SequencePosition examined)
        {
            if (_handedOut.IsEmpty && _remaining == 0) return; // the ended result: nothing of the real input
            _remaining -= _handedOut.Slice(0, consumed).Length;
            inner.AdvanceTo(consumed, examined);
        }

        public override void CancelPendingRead() => inner.CancelPendingRead();
        public override void Complete(Exception? exception = null) { }
    }

    /// <summary>The real output; completing it does not end the connection.</summary>
    private sealed class KeepOpenWriter(PipeWriter inner) : PipeWriter
    {
        public override void Advance(int bytes) => inner.Advance(bytes);
        public override Memory<byte> GetMemory(int sizeHint = 0) => inner.GetMemory(sizeHint);
        public override Span<byte> GetSpan(int sizeHint = 0) => inner.GetSpan(sizeHint);
        public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default) => inner.FlushAsync(cancellationToken);
        public override void CancelPendingFlush() => inner.CancelPendingFlush();
        public override bool CanGetUnflushedBytes => inner.CanGetUnflushedBytes;
        public override long UnflushedBytes => inner.UnflushedBytes;
        public override void Complete(Exception? exception = null) { }
    }
}
