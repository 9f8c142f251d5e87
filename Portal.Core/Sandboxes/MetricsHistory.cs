using System.Collections.Concurrent;

namespace Portal.Core.Sandboxes;

/// <summary>Recent metrics samples per sandbox, in memory (a bounded ring each).</summary>
public sealed class MetricsHistory(int capacity)
{
    private readonly ConcurrentDictionary<string, Queue<SandboxMetricSample>> _rings = new();

    public void Add(string sandboxId, SandboxMetricSample sample)
    {
        var ring = _rings.GetOrAdd(sandboxId, _ => new Queue<SandboxMetricSample>());
        lock (ring)
        {
            ring.Enqueue(sample);
            while (ring.Count > capacity) ring.Dequeue();
        }
    }

    public IReadOnlyList<SandboxMetricSample> Get(string sandboxId, DateTimeOffset? start, DateTimeOffset? end)
    {
        if (!_rings.TryGetValue(sandboxId, out var ring)) return [];
        lock (ring)
            return ring.Where(s => (start is null || s.Timestamp >= start) && (end is null || s.Timestamp <= end)).ToList();
    }

    public bool IsEmpty(string sandboxId) => !_rings.TryGetValue(sandboxId, out var ring) || ring.Count == 0;

    public void Remove(string sandboxId) => _rings.TryRemove(sandboxId, out _);
}
