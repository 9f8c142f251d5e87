using System.Collections.Concurrent;
using System.Net;
using k8s;
using k8s.Autorest;
using k8s.Models;
using Portal.Core.Persistence;

namespace Portal.Core.Coordination;

/// <summary>
/// Leases decided by Kubernetes: one <c>coordination.k8s.io/v1</c> Lease per name
/// (<c>sandbox-portal-reaper</c>, <c>-pools</c>, <c>-webhooks</c>) in the portal's namespace, taken
/// and renewed by updates that carry the resourceVersion read (the API server answers a stale one
/// 409, so of two replicas taking an expired Lease one wins). Whoever wins records itself in the
/// store (<see cref="IPortalStore.RecordLeaseHolderAsync"/>), which raises the store's epoch when
/// the holder changes: that epoch is the fence every write of the work is checked against, so a
/// deposed holder's late write is refused by the store even though the Lease lives elsewhere.
/// KubernetesClient's LeaderElector was not used: it runs its own loop with callbacks and hands
/// out no fencing token, while the portal's services ask "do I hold it, under which epoch" at
/// each round; this uses the same Lease object and calls (get, create, update) directly.
/// </summary>
public sealed class KubernetesLeaseArbiter(IKubernetes client, string ns, IPortalStore store, TimeProvider clock) : ILeaseArbiter
{
    public const string Prefix = "sandbox-portal-";

    /// <summary>The epoch this process recorded when it last took each Lease.</summary>
    private readonly ConcurrentDictionary<string, long> _epochs = new(StringComparer.Ordinal);

    public async Task<long?> TryHoldAsync(string name, string holder, TimeSpan duration, CancellationToken ct)
    {
        var leaseName = Prefix + name;
        var now = clock.GetUtcNow();
        var seconds = (int)Math.Ceiling(duration.TotalSeconds);
        V1Lease? lease;
        try { lease = await client.CoordinationV1.ReadNamespacedLeaseAsync(leaseName, ns, cancellationToken: ct); }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.NotFound) { lease = null; }

        if (lease is null)
        {
            var created = new V1Lease
            {
                Metadata = new V1ObjectMeta { Name = leaseName, NamespaceProperty = ns, Labels = new Dictionary<string, string> { ["app.kubernetes.io/managed-by"] = "sandbox-portal" } },
                Spec = new V1LeaseSpec { HolderIdentity = holder, LeaseDurationSeconds = seconds, AcquireTime = now.UtcDateTime, RenewTime = now.UtcDateTime, LeaseTransitions = 0 },
            };
            try { await client.CoordinationV1.CreateNamespacedLeaseAsync(created, ns, cancellationToken: ct); }
            catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.Conflict) { return Lost(name); } // another replica created it first
            return await TookAsync(name, holder, now, duration, ct);
        }

        var spec = lease.Spec ??= new V1LeaseSpec();
        var mine = spec.HolderIdentity == holder;
        var renewed = spec.RenewTime ?? spec.AcquireTime;
        var expired = string.IsNullOrEmpty(spec.HolderIdentity) || renewed is null
            || new DateTimeOffset(DateTime.SpecifyKind(renewed.Value, DateTimeKind.Utc)).AddSeconds(spec.LeaseDurationSeconds ?? 0) < now;
        if (!mine && !expired) return Lost(name);
        if (!mine)
        {
            spec.HolderIdentity = holder;
            spec.AcquireTime = now.UtcDateTime;
            spec.LeaseTransitions = (spec.LeaseTransitions ?? 0) + 1;
        }
        spec.RenewTime = now.UtcDateTime;
        spec.LeaseDurationSeconds = seconds;
        // The update carries the resourceVersion read: a Lease changed since (renewed or taken by
        // another replica) is answered 409 and this replica does not hold it.
        try { await client.CoordinationV1.ReplaceNamespacedLeaseAsync(lease, leaseName, ns, cancellationToken: ct); }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.Conflict) { return Lost(name); }
        return mine && _epochs.TryGetValue(name, out var epoch) ? epoch : await TookAsync(name, holder, now, duration, ct);
    }

    /// <summary>Won the Lease: the store raises its epoch (the fence) before any work runs under it.</summary>
    private async Task<long?> TookAsync(string name, string holder, DateTimeOffset now, TimeSpan duration, CancellationToken ct)
    {
        var epoch = await store.RecordLeaseHolderAsync(name, holder, now, duration, ct);
        _epochs[name] = epoch;
        return epoch;
    }

    private long? Lost(string name)
    {
        _epochs.TryRemove(name, out _);
        return null;
    }
}
