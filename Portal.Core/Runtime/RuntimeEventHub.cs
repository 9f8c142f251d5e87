using System.Runtime.CompilerServices;
using System.Threading.Channels;

namespace Portal.Core.Runtime;

/// <summary>
/// A runtime's <see cref="ISandboxRuntime.WatchAsync"/> fan-out, shared by the runtimes: each
/// watcher starts with one Created event per existing sandbox, taken under the same lock that
/// publishing takes, so no event falls between the snapshot and the stream.
/// </summary>
internal sealed class RuntimeEventHub(TimeProvider time)
{
    private readonly List<Channel<SandboxEvent>> _watchers = [];
    /// <summary>Sandboxes being created: visible to the runtime already, announced by their own Created event.</summary>
    private readonly HashSet<string> _creating = new(StringComparer.Ordinal);

    /// <summary>
    /// A create begins: until its Created event (or <see cref="EndCreate"/> when it fails) the
    /// sandbox is left out of new watchers' snapshots, which would otherwise announce it twice.
    /// </summary>
    public void BeginCreate(string sandboxId)
    {
        lock (_watchers) _creating.Add(sandboxId);
    }

    /// <summary>The create is over (its Created event published, or it failed).</summary>
    public void EndCreate(string sandboxId)
    {
        lock (_watchers) _creating.Remove(sandboxId);
    }

    public async IAsyncEnumerable<SandboxEvent> WatchAsync(Func<IEnumerable<SandboxInstance>> snapshot, [EnumeratorCancellation] CancellationToken ct)
    {
        var channel = Channel.CreateUnbounded<SandboxEvent>();
        lock (_watchers)
        {
            foreach (var s in snapshot())
                if (!_creating.Contains(s.SandboxId)) channel.Writer.TryWrite(new SandboxEvent(SandboxEventKind.Created, s, time.GetUtcNow()));
            _watchers.Add(channel);
        }
        try
        {
            await foreach (var e in channel.Reader.ReadAllAsync(ct)) yield return e;
        }
        finally
        {
            lock (_watchers) _watchers.Remove(channel);
        }
    }

    public void Publish(SandboxEventKind kind, SandboxInstance instance, string? reason = null)
    {
        var e = new SandboxEvent(kind, instance, time.GetUtcNow(), reason);
        lock (_watchers)
        {
            if (kind == SandboxEventKind.Created) _creating.Remove(instance.SandboxId);
            foreach (var w in _watchers) w.Writer.TryWrite(e);
        }
    }

    /// <summary>Ends every watch (the runtime is disposed).</summary>
    public void Complete()
    {
        lock (_watchers) foreach (var w in _watchers) w.Writer.TryComplete();
    }
}
