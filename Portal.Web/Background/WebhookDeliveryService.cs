using Portal.Core.Threading;
using Portal.Core.Webhooks;

namespace Portal.Web.Background;

/// <summary>Runs the webhook dispatcher for the portal's lifetime (it resumes the outbox on start).</summary>
public sealed class WebhookDeliveryService(WebhookDispatcher dispatcher) : BackgroundService
{
    protected override Task ExecuteAsync(CancellationToken ct) => ThreadPoolContext.Run(dispatcher.RunAsync, ct);
}
