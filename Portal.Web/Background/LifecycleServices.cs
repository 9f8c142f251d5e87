using Microsoft.Extensions.Options;
using Portal.Core.Runtime;
using Portal.Core.Sandboxes;
using Portal.Core.Threading;

namespace Portal.Web.Background;

/// <summary>Ends sandboxes at their deadline (kill, or pause with autoPause).</summary>
public sealed class DeadlineEnforcer(SandboxService sandboxes, IOptions<SandboxOptions> options, TimeProvider clock, ILogger<DeadlineEnforcer> log) : BackgroundService
{
    protected override Task ExecuteAsync(CancellationToken ct) => ThreadPoolContext.Run(RunAsync, ct);

    private async Task RunAsync(CancellationToken ct)
    {
        using var timer = new PeriodicTimer(options.Value.DeadlineCheckInterval, clock);
        while (await timer.WaitForNextTickAsync(ct))
        {
            try { await sandboxes.EnforceDeadlinesAsync(ct); }
            catch (Exception e) when (e is not OperationCanceledException) { log.LogError(e, "Deadline check failed"); }
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
