using Microsoft.Extensions.Options;
using Portal.Core.Coordination;
using Portal.Core.Persistence;
using Portal.Core.Runtime;
using Portal.Core.Sandboxes;
using Portal.Core.Threading;

namespace Portal.Web.Background;

/// <summary>
/// Ends sandboxes at their deadline (kill, or pause with autoPause), and creates whose replica
/// died: on one replica at a time, the holder of the store lease "reaper", renewed at every check.
/// </summary>
public sealed class DeadlineEnforcer(SandboxService sandboxes, LeaderLease lease, IOptions<SandboxOptions> options, TimeProvider clock, ILogger<DeadlineEnforcer> log) : BackgroundService
{
    public const string LeaseName = "reaper";

    protected override Task ExecuteAsync(CancellationToken ct) => ThreadPoolContext.Run(RunAsync, ct);

    private async Task RunAsync(CancellationToken ct)
    {
        using var timer = new PeriodicTimer(options.Value.DeadlineCheckInterval, clock);
        LeaseFence? fence = null;
        var renewedAt = DateTimeOffset.MinValue;
        var lastSweep = DateTimeOffset.MinValue;
        while (await timer.WaitForNextTickAsync(ct))
        {
            try
            {
                var leaseDuration = options.Value.ReaperLeaseDuration;
                // Leases are written at a third of their term, not at every check: each renewal is a
                // store write that queues with the sandbox saves. Between renewals the fence stands;
                // a lease lost meanwhile only makes the writes under it refused.
                if (clock.GetUtcNow() - renewedAt >= leaseDuration / 3)
                {
                    renewedAt = clock.GetUtcNow();
                    var held = await lease.HoldAsync(LeaseName, leaseDuration, ct);
                    if ((held is not null) != (fence is not null))
                        log.LogInformation(held is not null ? "This replica now ends sandboxes at their deadlines (lease '{Lease}')" : "Another replica holds lease '{Lease}' now", LeaseName);
                    fence = held;
                }
                if (fence is null) continue;
                await sandboxes.EnforceDeadlinesAsync(ct, fence);
                // Abandoned creates are rare and found by a store query: looked for once per lease term.
                if (clock.GetUtcNow() - lastSweep >= leaseDuration)
                {
                    lastSweep = clock.GetUtcNow();
                    await sandboxes.EndAbandonedCreatesAsync(fence, ct);
                }
            }
            catch (Exception e) when (e is not OperationCanceledException) { log.LogError(e, "Deadline check failed"); }
        }
    }
}

/// <summary>
/// Renews this replica's heartbeat lease (how the others know its creates are alive) at a third of
/// its term, on its own: behind the deadline work, a busy check (a burst of creates, a slow
/// runtime) let it lapse, and the reaper's holder then ended this live replica's creates.
/// </summary>
public sealed class ReplicaHeartbeat(LeaderLease lease, IOptions<SandboxOptions> options, ILogger<ReplicaHeartbeat> log) : BackgroundService
{
    protected override Task ExecuteAsync(CancellationToken ct) => ThreadPoolContext.Run(RunAsync, ct);

    private async Task RunAsync(CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            var term = options.Value.ReaperLeaseDuration;
            try { await lease.HeartbeatAsync(term, ct); }
            catch (Exception e) when (e is not OperationCanceledException) { log.LogWarning(e, "Could not renew this replica's heartbeat"); }
            try { await Task.Delay(term / 3, ct); } catch (OperationCanceledException) { return; }
        }
    }
}

/// <summary>Samples running sandboxes' metrics for <c>GET /sandboxes/{id}/metrics</c>.</summary>
public sealed class MetricsSampler(SandboxService sandboxes, IOptions<SandboxOptions> options, TimeProvider clock, ILogger<MetricsSampler> log) : BackgroundService
{
    protected override Task ExecuteAsync(CancellationToken ct) => ThreadPoolContext.Run(RunAsync, ct);

    private async Task RunAsync(CancellationToken ct)
    {
        using var timer = new PeriodicTimer(options.Value.MetricsSampleInterval, clock);
        while (await timer.WaitForNextTickAsync(ct))
        {
            try { await sandboxes.SampleAllAsync(ct); }
            catch (Exception e) when (e is not OperationCanceledException) { log.LogWarning(e, "Metrics sampling failed"); }
        }
    }
}

/// <summary>Follows the runtime's state changes (a sandbox that died on its own is marked killed).</summary>
public sealed class RuntimeEventFollower(ISandboxRuntime runtime, SandboxService sandboxes, ILogger<RuntimeEventFollower> log) : BackgroundService
{
    protected override Task ExecuteAsync(CancellationToken ct) => ThreadPoolContext.Run(RunAsync, ct);

    private async Task RunAsync(CancellationToken ct)
    {
        var backoff = TimeSpan.FromSeconds(1);
        while (!ct.IsCancellationRequested)
        {
            try
            {
                await foreach (var evt in runtime.WatchAsync(ct))
                {
                    backoff = TimeSpan.FromSeconds(1);
                    await sandboxes.ApplyRuntimeEventAsync(evt, ct);
                }
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested) { return; }
            catch (Exception e) { log.LogWarning(e, "Runtime event stream failed; following again in {Seconds} s", backoff.TotalSeconds); }
            try { await Task.Delay(backoff, ct); } catch (OperationCanceledException) { return; }
            backoff = TimeSpan.FromSeconds(Math.Min(backoff.TotalSeconds * 2, 30));
        }
    }
}

/// <summary>Drops lifecycle logs and events past <c>Portal:Sandboxes:EventRetentionDays</c>, hourly.</summary>
public sealed class EventRetention(SandboxService sandboxes, IOptions<SandboxOptions> options, TimeProvider clock, ILogger<EventRetention> log) : BackgroundService
{
    protected override Task ExecuteAsync(CancellationToken ct) => ThreadPoolContext.Run(RunAsync, ct);

    private async Task RunAsync(CancellationToken ct)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromHours(1), clock);
        do
        {
            try
            {
                var dropped = await sandboxes.DropOldLogsAsync(TimeSpan.FromDays(options.Value.EventRetentionDays), ct);
                if (dropped > 0) log.LogInformation("Dropped {Count} lifecycle log lines and events past retention", dropped);
            }
            catch (Exception e) when (e is not OperationCanceledException) { log.LogWarning(e, "Event retention failed"); }
        } while (await timer.WaitForNextTickAsync(ct));
    }
}

/// <summary>
/// Keeps the warm pools filled from one replica at a time: the holder of the store lease "pools"
/// (renewed at a third of its term) tells the runtime to fill them; every other replica's runtime
/// only claims from them.
/// </summary>
public sealed class WarmPoolLeader(ISandboxRuntime runtime, LeaderLease lease, IOptions<SandboxOptions> options, ILogger<WarmPoolLeader> log) : BackgroundService
{
    public const string LeaseName = "pools";

    protected override Task ExecuteAsync(CancellationToken ct) => ThreadPoolContext.Run(RunAsync, ct);

    private async Task RunAsync(CancellationToken ct)
    {
        var term = options.Value.ReaperLeaseDuration;
        bool? filling = null;
        while (!ct.IsCancellationRequested)
        {
            try
            {
                var held = await lease.HoldAsync(LeaseName, term, ct) is not null;
                if (held != filling)
                {
                    filling = held;
                    runtime.FillWarmPools(held);
                    log.LogInformation(held ? "This replica fills the warm pools (lease '{Lease}')" : "Another replica fills the warm pools (lease '{Lease}')", LeaseName);
                }
            }
            catch (Exception e) when (e is not OperationCanceledException) { log.LogWarning(e, "Could not renew lease '{Lease}'", LeaseName); }
            try { await Task.Delay(term / 3, ct); } catch (OperationCanceledException) { return; }
        }
    }
}
