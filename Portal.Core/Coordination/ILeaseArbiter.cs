using Portal.Core.Persistence;

namespace Portal.Core.Coordination;

/// <summary>
/// Where it is decided which replica holds a named lease: the store's <c>leases</c> table, or a
/// Kubernetes <c>coordination.k8s.io</c> Lease when the portal runs on Kubernetes. Either way the
/// answer is an epoch recorded in the store, which fenced writes are checked against there.
/// </summary>
public interface ILeaseArbiter
{
    /// <summary>Takes or renews <paramref name="name"/> for <paramref name="holder"/>; its epoch, or null while another holds it.</summary>
    Task<long?> TryHoldAsync(string name, string holder, TimeSpan duration, CancellationToken ct);
}

/// <summary>Leases decided by the store itself (SQLite, or PostgreSQL shared by replicas).</summary>
public sealed class StoreLeaseArbiter(IPortalStore store, TimeProvider clock) : ILeaseArbiter
{
    public Task<long?> TryHoldAsync(string name, string holder, TimeSpan duration, CancellationToken ct) =>
        store.TryHoldLeaseAsync(name, holder, clock.GetUtcNow(), duration, ct);
}
