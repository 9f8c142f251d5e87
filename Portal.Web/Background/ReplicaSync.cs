using Portal.Core.Auth;
using Portal.Core.Persistence;
using Portal.Core.Sandboxes;
using Portal.Core.Threading;

namespace Portal.Web.Background;

/// <summary>
/// Keeps this replica's in-memory views (live sandboxes, teams and keys) in step with what other
/// replicas commit to the shared database: the store is the truth, the views are caches of it.
/// On SQLite (one process) the store has nothing to tell and this ends at once.
/// </summary>
public sealed class ReplicaSync(IPortalStore store, SandboxService sandboxes, ApiKeyService keys, Portal.Core.Webhooks.WebhookDispatcher webhooks, ILogger<ReplicaSync> log) : BackgroundService
{
    protected override Task ExecuteAsync(CancellationToken ct) => ThreadPoolContext.Run(RunAsync, ct);

    private async Task RunAsync(CancellationToken ct)
    {
        // Hosted services start in order: PortalInitializer has filled the views before this runs.
        await foreach (var change in store.WatchOthersAsync(ct))
        {
            try
            {
                switch (change)
                {
                    case StoreChange.Sandbox s:
                        await sandboxes.ApplyStoredAsync(s.SandboxId, s.Version, ct);
                        break;
                    case StoreChange.Keys:
                        await keys.LoadAsync(ct);
                        break;
                    case StoreChange.Webhooks:
                        webhooks.WebhooksChanged();
                        break;
                    case StoreChange.Resync:
                        log.LogInformation("Following other replicas' writes; reading the store again");
                        await keys.LoadAsync(ct);
                        await sandboxes.ResyncFromStoreAsync(ct);
                        webhooks.WebhooksChanged();
                        break;
                }
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested) { return; }
            catch (Exception e)
            {
                // One change that could not be read must not stop the feed; the next resync repairs it.
                log.LogWarning(e, "Could not apply another replica's change {Change}", change);
            }
        }
    }
}
