using System.Collections.Concurrent;

namespace Portal.Core.Sandboxes;

/// <summary>Counters the web layer exports in Prometheus format. Thread-safe, lock-free counts.</summary>
public sealed class PortalTelemetry
{
    /// <summary>Upper bounds (seconds) of the create-latency histogram buckets.</summary>
    public static readonly double[] CreateLatencyBuckets = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

    private readonly long[] _createBuckets = new long[CreateLatencyBuckets.Length];
    private long _createCount;
    private long _createSumMicros;
    private readonly ConcurrentDictionary<string, long> _creates = new();
    private long _proxied;
    /// <summary>Failed creates per minute (minutes since the process started), the last <see cref="FailureMinutesKept"/> kept.</summary>
    private readonly ConcurrentDictionary<long, long> _failuresByMinute = new();
    public const int FailureMinutesKept = 60;
    private readonly ConcurrentDictionary<string, long> _proxyErrors = new();

    public void RecordCreate(string outcome, TimeSpan latency)
    {
        _creates.AddOrUpdate(outcome, 1, (_, v) => v + 1);
        if (outcome != "success")
        {
            var minute = Minute();
            _failuresByMinute.AddOrUpdate(minute, 1, (_, v) => v + 1);
            foreach (var old in _failuresByMinute.Keys)
                if (old <= minute - FailureMinutesKept) _failuresByMinute.TryRemove(old, out _);
            return;
        }
        Interlocked.Increment(ref _createCount);
        Interlocked.Add(ref _createSumMicros, (long)(latency.TotalMilliseconds * 1000));
        for (var i = 0; i < CreateLatencyBuckets.Length; i++)
            if (latency.TotalSeconds <= CreateLatencyBuckets[i]) Interlocked.Increment(ref _createBuckets[i]);
    }

    public void RecordProxied() => Interlocked.Increment(ref _proxied);

    private long _circuitActivities;
    private long _circuitActivitiesOffPool;

    /// <summary>A dashboard circuit's inbound activity, and whether it arrived on a thread-pool thread.</summary>
    public void RecordCircuitActivity(bool onPool)
    {
        Interlocked.Increment(ref _circuitActivities);
        if (!onPool) Interlocked.Increment(ref _circuitActivitiesOffPool);
    }

    private long _circuitsOpened;
    private long _circuitsClosed;
    private long _circuitDisconnects;

    /// <summary>A dashboard circuit started (a browser page became interactive).</summary>
    public void RecordCircuitOpened() => Interlocked.Increment(ref _circuitsOpened);
    /// <summary>A dashboard circuit ended (its page closed, or it stayed disconnected past the retention period).</summary>
    public void RecordCircuitClosed() => Interlocked.Increment(ref _circuitsClosed);
    /// <summary>A dashboard circuit's connection went down (it may reconnect, or close).</summary>
    public void RecordCircuitDisconnect() => Interlocked.Increment(ref _circuitDisconnects);

    /// <summary>Dashboard circuits alive now, connected or waiting for their browser to reconnect.</summary>
    public long CircuitsOpen => Interlocked.Read(ref _circuitsOpened) - Interlocked.Read(ref _circuitsClosed);
    public long CircuitsClosed => Interlocked.Read(ref _circuitsClosed);
    public long CircuitDisconnects => Interlocked.Read(ref _circuitDisconnects);
    public long CircuitActivities => Interlocked.Read(ref _circuitActivities);
    public long CircuitActivitiesOffPool => Interlocked.Read(ref _circuitActivitiesOffPool);
    public void RecordProxyError(string reason) => _proxyErrors.AddOrUpdate(reason, 1, (_, v) => v + 1);

    public IReadOnlyDictionary<string, long> Creates => _creates;

    /// <summary>Failed creates in each of the last <paramref name="minutes"/> minutes, oldest first (the current minute last).</summary>
    public long[] CreateFailuresPerMinute(int minutes)
    {
        var now = Minute();
        return Enumerable.Range(0, Math.Clamp(minutes, 1, FailureMinutesKept))
            .Select(i => _failuresByMinute.GetValueOrDefault(now - (Math.Clamp(minutes, 1, FailureMinutesKept) - 1 - i))).ToArray();
    }

    /// <summary>Monotonic minutes: wall-clock changes must not move counts between minutes.</summary>
    private static long Minute() => Environment.TickCount64 / 60_000;
    public long CreateLatencyCount => Interlocked.Read(ref _createCount);
    public double CreateLatencySumSeconds => Interlocked.Read(ref _createSumMicros) / 1_000_000.0;
    public long CreateLatencyBucket(int i) => Interlocked.Read(ref _createBuckets[i]);
    public long Proxied => Interlocked.Read(ref _proxied);
    public IReadOnlyDictionary<string, long> ProxyErrors => _proxyErrors;
}
