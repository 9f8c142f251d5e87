using System.Threading.Tasks.Sources;
using Portal.Web.Hosting;

namespace Portal.Tests.Web.Hosting;

/// <summary>
/// The dashboard's WebSockets (<see cref="PoolResumingStream"/>): framework code awaiting a read or
/// write with ConfigureAwait(false) must resume on the thread pool even when the I/O completed on
/// another thread (with inline completions: an epoll loop thread).
/// </summary>
public class PoolResumingStreamTests
{
    /// <summary>
    /// A stream whose reads and writes complete on a dedicated, non-pool thread, like a socket
    /// engine's: the thread starts only once the caller has registered its continuation, so that
    /// continuation runs on it (no race with a synchronous completion).
    /// </summary>
    private sealed class CompletesOnItsOwnThread : MemoryStream, IValueTaskSource<int>
    {
        private ManualResetValueTaskSourceCore<int> _core;

        private ValueTask<int> Pending(Action onStart)
        {
            _core.Reset();
            _pendingStart = onStart;
            return new ValueTask<int>(this, _core.Version);
        }

        private Action? _pendingStart;

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default) => Pending(() => buffer.Span[0] = 42);

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken ct = default) => new(Pending(() => { }).AsTask());

        int IValueTaskSource<int>.GetResult(short token) => _core.GetResult(token);
        ValueTaskSourceStatus IValueTaskSource<int>.GetStatus(short token) => _core.GetStatus(token);

        void IValueTaskSource<int>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags)
        {
            _core.OnCompleted(continuation, state, token, flags);
            var start = _pendingStart!;
            new Thread(() => { start(); _core.SetResult(1); }) { IsBackground = true }.Start();
        }
    }

    [Fact]
    public async Task ReadsAndWrites_ResumeOnThePool_WhereverTheyCompleted()
    {
        var (bareOnPool, readOnPool, writeOnPool, read) = await AsFrameworkCodeDoesAsync(TestContext.Current.CancellationToken);
        Assert.False(bareOnPool); // the check can tell the difference
        Assert.Equal(42, read);
        Assert.True(readOnPool);
        Assert.True(writeOnPool);
    }

    /// <summary>Awaits as SignalR's WebSocket transport does (ConfigureAwait(false)) and notes where each await resumed.</summary>
    private static async Task<(bool BareOnPool, bool ReadOnPool, bool WriteOnPool, byte Read)> AsFrameworkCodeDoesAsync(CancellationToken ct)
    {
        var bare = new CompletesOnItsOwnThread();
        await bare.ReadAsync(new byte[1], ct).ConfigureAwait(false);
        var bareOnPool = Thread.CurrentThread.IsThreadPoolThread;

        await using var stream = new PoolResumingStream(new CompletesOnItsOwnThread());
        var buffer = new byte[1];
        await stream.ReadAsync(buffer, ct).ConfigureAwait(false);
        var readOnPool = Thread.CurrentThread.IsThreadPoolThread;
        await stream.WriteAsync(buffer, ct).ConfigureAwait(false);
        var writeOnPool = Thread.CurrentThread.IsThreadPoolThread;
        return (bareOnPool, readOnPool, writeOnPool, buffer[0]);
    }
}
