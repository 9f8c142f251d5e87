using System.IO.Pipelines;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace Portal.Web.Proxy;

/// <summary>
/// Kestrel's <c>MinResponseDataRate</c> for the fast path's writes to a client: a write of N bytes
/// must finish within max(grace period, N / rate) of its start, as Kestrel times its own. A
/// client that stops reading (or reads slower than the rate) is cut by the proxy's sweep, which
/// ends the exchange and closes its sandbox connection: it cannot pin either forever.
/// </summary>
internal sealed class WriteDeadline(MinDataRate? rate)
{
    private long _deadline; // Environment.TickCount64 by which the pending write must end; 0: none pending

    public void Start(long bytes)
    {
        if (rate is null || bytes <= 0) return;
        var ms = Math.Max((long)rate.GracePeriod.TotalMilliseconds, (long)(bytes * 1000 / Math.Max(rate.BytesPerSecond, 1)));
        Volatile.Write(ref _deadline, Environment.TickCount64 + ms);
    }

    public void Stop() => Volatile.Write(ref _deadline, 0);

    public bool Expired(long now) => Volatile.Read(ref _deadline) is var d && d != 0 && now > d;
}

/// <summary>The connection's output pipe with its writes timed (the fast path after Kestrel answered a request on the connection).</summary>
internal sealed class TimedPipeWriter(PipeWriter inner, WriteDeadline deadline) : PipeWriter
{
    private long _unflushed;

    public override void Advance(int bytes) { _unflushed += bytes; inner.Advance(bytes); }
    public override Memory<byte> GetMemory(int sizeHint = 0) => inner.GetMemory(sizeHint);
    public override Span<byte> GetSpan(int sizeHint = 0) => inner.GetSpan(sizeHint);
    public override void CancelPendingFlush() => inner.CancelPendingFlush();
    public override void Complete(Exception? exception = null) => inner.Complete(exception);

    public override async ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default)
    {
        deadline.Start(_unflushed);
        _unflushed = 0;
        try { return await inner.FlushAsync(cancellationToken); }
        finally { deadline.Stop(); }
    }
}
