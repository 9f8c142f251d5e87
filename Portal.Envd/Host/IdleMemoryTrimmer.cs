namespace Portal.Envd;

/// <summary>
/// Gives memory back when envd goes idle. A sandbox spends most of its life idle, and
/// hundreds share one machine: garbage from startup or from the last upload would otherwise
/// stay resident. After a quiet period with new allocations, one aggressive collection
/// decommits the free GC regions.
/// </summary>
public sealed class IdleMemoryTrimmer : IDisposable
{
    private static readonly TimeSpan Quiet = TimeSpan.FromSeconds(2);
    private readonly Timer _timer;
    private long _lastActivity = Environment.TickCount64;
    private long _allocatedAtLastTrim = -1;
    private int _active;

    public IdleMemoryTrimmer()
    {
        _timer = new Timer(_ => TrimIfIdle(), null, TimeSpan.FromMilliseconds(300), Quiet);
    }

    public RequestDelegate Middleware(RequestDelegate next) => async http =>
    {
        Interlocked.Increment(ref _active);
        try
        {
            await next(http);
        }
        finally
        {
            Interlocked.Decrement(ref _active);
            Interlocked.Exchange(ref _lastActivity, Environment.TickCount64);
        }
    };

    private void TrimIfIdle()
    {
        if (Volatile.Read(ref _active) > 0) return;
        if (Environment.TickCount64 - Interlocked.Read(ref _lastActivity) < Quiet.TotalMilliseconds && _allocatedAtLastTrim >= 0) return;
        var allocated = GC.GetTotalAllocatedBytes();
        if (allocated - _allocatedAtLastTrim < 256 * 1024) return;
        GC.Collect(2, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        _allocatedAtLastTrim = GC.GetTotalAllocatedBytes();
    }

    public void Dispose() => _timer.Dispose();
}
