using System.Threading.Channels;

namespace Portal.Core.Sandboxes;

/// <summary>What happened to a sandbox, as the change that told of it.</summary>
public enum SandboxChangeCause
{
    /// <summary>Part of a subscriber's snapshot, or found again after a portal restart.</summary>
    Present,
    Created,
    Paused,
    Resumed,
    /// <summary>The deadline moved: set timeout, refresh, connect.</summary>
    DeadlineMoved,
    MetadataChanged,
    /// <summary>A process inside was killed at the memory limit; the sandbox lives on.</summary>
    OutOfMemory,
    Killed,
    /// <summary>The runtime reported it gone (every process exited, or it vanished).</summary>
    Died,
    /// <summary>Its egress rules were replaced (PUT /sandboxes/{id}/network).</summary>
    NetworkChanged,
    /// <summary>A snapshot of it was taken (a snapshot or a fork); the sandbox itself is unchanged.</summary>
    Checkpointed,
}

/// <summary>
/// One change of a sandbox: an upsert carrying the full record, or a delete (the sandbox is no
/// longer live: killed, died, expired). <see cref="Version"/> grows by one with each change of
/// that sandbox, so a subscriber can tell an older record from a newer one.
/// </summary>
public sealed record SandboxChange(SandboxRecord Sandbox, long Version, SandboxChangeCause Cause)
{
    public bool IsDelete => !Sandbox.IsLive;

    /// <summary>When it was published (<see cref="System.Diagnostics.Stopwatch"/> ticks): right after its commit.</summary>
    public long PublishedAt { get; init; } = System.Diagnostics.Stopwatch.GetTimestamp();
}

/// <summary>Ends a subscription whose reader fell behind; subscribe again for a fresh snapshot.</summary>
public sealed class SandboxChangeStreamOverflowException(int capacity)
    : Exception($"the subscriber fell more than {capacity} changes behind: subscribe again for a fresh snapshot");

/// <summary>
/// The control plane's change stream: a subscriber gets a snapshot of the live sandboxes it may
/// see, then every later change of those, in order per sandbox, with no gap and no overlap
/// between the two (snapshot and registration happen under one lock, as publishing does).
/// Publishing never waits for a subscriber: each has a bounded buffer, and one that lets it fill
/// is dropped, its reader ending with <see cref="SandboxChangeStreamOverflowException"/>.
/// The shape is the Aspire dashboard's resource service (snapshot, then upserts and deletes).
/// </summary>
public sealed class SandboxChangeStream
{
    public const int DefaultCapacity = 1024;

    private readonly object _gate = new();
    private readonly Dictionary<string, SandboxChange> _current = new(StringComparer.Ordinal);
    private readonly List<Subscription> _subscribers = [];
    /// <summary>Subscribers now (for tests and metrics).</summary>
    public int SubscriberCount { get { lock (_gate) return _subscribers.Count; } }

    /// <summary>
    /// Records a change of <paramref name="sandbox"/> and hands it to every subscriber that may
    /// see it. Call it in the order the changes of one sandbox were committed (the service does,
    /// under that sandbox's lock). Returns the change with its version.
    /// </summary>
    public SandboxChange Publish(SandboxRecord sandbox, SandboxChangeCause cause)
    {
        lock (_gate)
        {
            var version = _current.TryGetValue(sandbox.SandboxId, out var previous) ? previous.Version + 1 : 1;
            var change = new SandboxChange(sandbox, version, cause);
            if (change.IsDelete) _current.Remove(sandbox.SandboxId);
            else _current[sandbox.SandboxId] = change;
            for (var i = _subscribers.Count - 1; i >= 0; i--)
            {
                var s = _subscribers[i];
                if (!s.Filter(sandbox)) continue;
                if (s.Writer.TryWrite(change)) continue;
                _subscribers.RemoveAt(i);
                s.Writer.TryComplete(new SandboxChangeStreamOverflowException(s.Capacity));
            }
            return change;
        }
    }

    /// <summary>
    /// The live sandboxes <paramref name="filter"/> lets through, and from then on their changes.
    /// Dispose the subscription to stop.
    /// </summary>
    public SandboxSubscription Subscribe(Func<SandboxRecord, bool> filter, int capacity = DefaultCapacity)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        var channel = Channel.CreateBounded<SandboxChange>(new BoundedChannelOptions(capacity)
        {
            SingleReader = true,
            SingleWriter = false,
            FullMode = BoundedChannelFullMode.Wait, // TryWrite fails when full: that is the overflow signal
        });
        var subscription = new Subscription(filter, channel.Writer, capacity);
        lock (_gate)
        {
            var snapshot = _current.Values.Where(c => filter(c.Sandbox))
                .Select(c => c with { Cause = SandboxChangeCause.Present }).ToList();
            _subscribers.Add(subscription);
            return new SandboxSubscription(snapshot, channel.Reader, () => Unsubscribe(subscription));
        }
    }

    private void Unsubscribe(Subscription subscription)
    {
        lock (_gate) _subscribers.Remove(subscription);
        subscription.Writer.TryComplete();
    }

    private sealed record Subscription(Func<SandboxRecord, bool> Filter, ChannelWriter<SandboxChange> Writer, int Capacity);
}

/// <summary>A snapshot and the changes after it; dispose it to unsubscribe.</summary>
public sealed class SandboxSubscription(IReadOnlyList<SandboxChange> snapshot, ChannelReader<SandboxChange> changes, Action unsubscribe) : IDisposable
{
    private int _disposed;

    /// <summary>The live sandboxes at the moment of subscribing (cause <see cref="SandboxChangeCause.Present"/>).</summary>
    public IReadOnlyList<SandboxChange> Snapshot { get; } = snapshot;

    /// <summary>
    /// Every change after the snapshot, in order per sandbox. Ends when disposed, or with
    /// <see cref="SandboxChangeStreamOverflowException"/> when this reader fell behind.
    /// </summary>
    public ChannelReader<SandboxChange> Changes { get; } = changes;

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0) unsubscribe();
    }
}
