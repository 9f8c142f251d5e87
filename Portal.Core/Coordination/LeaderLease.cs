using Portal.Core.Persistence;

namespace Portal.Core.Coordination;

/// <summary>
/// Leadership among replicas sharing a database, one named lease at a time, decided by an
/// <see cref="ILeaseArbiter"/> (the store's leases; a Kubernetes Lease on Kubernetes; a single
/// process simply always holds it). Work that must run on one replica only holds the lease while
/// it runs and writes under its fence, checked by the store, so a leader that lost the lease while
/// paused (GC, a stalled network) cannot write late. Heartbeats (is a replica alive) stay in the
/// store. Replicas' clocks are assumed to agree to well within the lease's duration (NTP).
/// </summary>
public sealed class LeaderLease(IPortalStore store, TimeProvider clock, ILeaseArbiter arbiter)
{

    /// <summary>This process, as lease holder: host name and a random suffix (two processes on one host differ).</summary>
    public string Holder { get; } = $"{Environment.MachineName}/{Guid.NewGuid():N}"[..Math.Min(Environment.MachineName.Length + 13, 200)];

    /// <summary>The lease that says this replica is alive (renewed with the deadline checks).</summary>
    public static string HeartbeatOf(string holder) => "replica/" + holder;

    public Task HeartbeatAsync(TimeSpan duration, CancellationToken ct) =>
        store.TryHoldLeaseAsync(HeartbeatOf(Holder), Holder, clock.GetUtcNow(), duration, ct);

    /// <summary>Whether replica <paramref name="holder"/> renewed its heartbeat lease recently enough.</summary>
    public Task<bool> IsAliveAsync(string holder, CancellationToken ct) =>
        holder == Holder ? Task.FromResult(true) : store.IsLeaseHeldAsync(HeartbeatOf(holder), clock.GetUtcNow(), ct);

    /// <summary>Takes or renews <paramref name="name"/>; the fence to write under, or null while another replica holds it.</summary>
    public async Task<LeaseFence?> HoldAsync(string name, TimeSpan duration, CancellationToken ct) =>
        await arbiter.TryHoldAsync(name, Holder, duration, ct) is { } epoch
            ? new LeaseFence(name, Holder, epoch)
            : null;
}
