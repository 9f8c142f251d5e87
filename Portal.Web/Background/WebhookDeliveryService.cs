using Microsoft.Extensions.Options;
using Portal.Core.Coordination;
using Portal.Core.Sandboxes;
using Portal.Core.Threading;
using Portal.Core.Webhooks;

namespace Portal.Web.Background;

/// <summary>
/// Runs the webhook dispatcher on one replica at a time: the holder of the store lease
/// "webhooks" (one process on SQLite always holds it). Two dispatchers over one outbox would send
/// every event twice and could reorder a sandbox's events. The holder renews the lease at a third
/// of its term and stops dispatching when a renewal fails; another replica takes over once the
/// lease expires and resumes from the outbox (deliveries in flight at the handover may repeat,
/// which at-least-once allows).
/// </summary>
public sealed class WebhookDeliveryService(WebhookDispatcher dispatcher, LeaderLease lease, IOptions<SandboxOptions> options, ILogger<WebhookDeliveryService> log) : BackgroundService
{
    public const string LeaseName = "webhooks";

    protected override Task ExecuteAsync(CancellationToken ct) => ThreadPoolContext.Run(RunAsync, ct);

    private async Task RunAsync(CancellationToken ct)
    {
        var term = options.Value.ReaperLeaseDuration;
        while (!ct.IsCancellationRequested)
        {
            try
            {
                if (await lease.HoldAsync(LeaseName, term, ct) is null)
                {
                    await Task.Delay(term / 3, ct);
                    continue;
                }
                log.LogInformation("This replica delivers webhooks now (lease '{Lease}')", LeaseName);
                using var holding = CancellationTokenSource.CreateLinkedTokenSource(ct);
                var dispatching = dispatcher.RunAsync(holding.Token);
                while (!dispatching.IsCompleted)
                {
                    await Task.WhenAny(dispatching, Task.Delay(term / 3, ct));
                    if (dispatching.IsCompleted) break;
                    if (await lease.HoldAsync(LeaseName, term, ct) is null)
                    {
                        log.LogWarning("Lost lease '{Lease}': another replica delivers webhooks now", LeaseName);
                        holding.Cancel();
                    }
                }
                await dispatching;
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested) { return; }
            catch (Exception e)
            {
                log.LogError(e, "Webhook delivery stopped; trying again");
                try { await Task.Delay(TimeSpan.FromSeconds(1), ct); } catch (OperationCanceledException) { return; }
            }
        }
    }
}
