using System.Runtime.CompilerServices;
using Microsoft.AspNetCore.Http.Features;

namespace Portal.Web.Hosting;

/// <summary>
/// An upgraded connection (a WebSocket: the dashboard's Blazor circuits) whose reads and writes
/// resume on the thread pool. With inline socket completions the connection's pipes complete on
/// the epoll thread that saw the bytes, and the framework code reading them (SignalR, the circuit,
/// components) awaits with <c>ConfigureAwait(false)</c>, so a plain upgrade would run all of it on
/// that loop thread, which must only ever run proxy code that never blocks.
/// One hop per WebSocket read is nothing for a dashboard; proxied sandbox WebSockets never get here
/// (they are forwarded before the portal's own endpoints).
/// </summary>
public sealed class PoolResumingStream(Stream inner) : Stream
{
    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default)
    {
        var n = await inner.ReadAsync(buffer, ct).ConfigureAwait(false);
        await PoolHop.Instance;
        return n;
    }

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken ct = default)
    {
        await inner.WriteAsync(buffer, ct).ConfigureAwait(false);
        await PoolHop.Instance;
    }

    public override async Task FlushAsync(CancellationToken ct)
    {
        await inner.FlushAsync(ct).ConfigureAwait(false);
        await PoolHop.Instance;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken ct) => ReadAsync(buffer.AsMemory(offset, count), ct).AsTask();
    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken ct) => WriteAsync(buffer.AsMemory(offset, count), ct).AsTask();
    public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, count);
    public override void Write(byte[] buffer, int offset, int count) => inner.Write(buffer, offset, count);
    public override void Flush() => inner.Flush();
    public override bool CanRead => inner.CanRead;
    public override bool CanWrite => inner.CanWrite;
    public override bool CanSeek => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing) inner.Dispose();
        base.Dispose(disposing);
    }

    public override ValueTask DisposeAsync() => inner.DisposeAsync();

    /// <summary>Makes this request's upgrades (HTTP/1.1 <c>Upgrade</c>, HTTP/2 extended CONNECT) hand out pool-resuming streams.</summary>
    public static void Install(HttpContext ctx)
    {
        if (ctx.Features.Get<IHttpUpgradeFeature>() is { IsUpgradableRequest: true } upgrade)
            ctx.Features.Set<IHttpUpgradeFeature>(new Upgrade(upgrade));
        if (ctx.Features.Get<IHttpExtendedConnectFeature>() is { IsExtendedConnect: true } connect)
            ctx.Features.Set<IHttpExtendedConnectFeature>(new ExtendedConnect(connect));
    }

    private sealed class Upgrade(IHttpUpgradeFeature inner) : IHttpUpgradeFeature
    {
        public bool IsUpgradableRequest => inner.IsUpgradableRequest;
        public async Task<Stream> UpgradeAsync() => new PoolResumingStream(await inner.UpgradeAsync());
    }

    private sealed class ExtendedConnect(IHttpExtendedConnectFeature inner) : IHttpExtendedConnectFeature
    {
        public bool IsExtendedConnect => inner.IsExtendedConnect;
        public string? Protocol => inner.Protocol;
        public async ValueTask<Stream> AcceptAsync() => new PoolResumingStream(await inner.AcceptAsync());
    }
}

/// <summary><c>await PoolHop.Instance</c>: continues on the thread pool, at once when already there.</summary>
public readonly struct PoolHop : ICriticalNotifyCompletion
{
    public static PoolHop Instance => default;
    public PoolHop GetAwaiter() => this;
    public bool IsCompleted => Thread.CurrentThread.IsThreadPoolThread;
    public void GetResult() { }
    public void OnCompleted(Action continuation) => ThreadPool.QueueUserWorkItem(static c => c(), continuation, preferLocal: false);
    public void UnsafeOnCompleted(Action continuation) => ThreadPool.UnsafeQueueUserWorkItem(static c => c(), continuation, preferLocal: false);
}
