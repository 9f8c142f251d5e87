using Portal.Core.Sandboxes;
using Portal.Core.Snapshots;
using Portal.Core.Threading;

namespace Portal.Web.Background;

/// <summary>
/// Tidies snapshots (<see cref="SnapshotService.TidyAsync"/>) soon after a sandbox ends (its
/// fork copy may be unused now) and every minute: removes fork copies no sandbox runs on any more
/// (the last fork ended, or a fork was cut short by a restart), and offers the runtime once more
/// the templates of removed snapshots it refused while other templates stood on them.
/// </summary>
public sealed class SnapshotSweeper(SnapshotService snapshots, SandboxChangeStream changes, TimeProvider clock, ILogger<SnapshotSweeper> log) : BackgroundService
{
    private static readonly TimeSpan Interval = TimeSpan.FromMinutes(1);
    /// <summary>Ends that come together (a client killing its forks) are tidied once.</summary>
    private static readonly TimeSpan Settle = TimeSpan.FromSeconds(1);

    protected override Task ExecuteAsync(CancellationToken ct) => ThreadPoolContext.Run(RunAsync, ct);

    /// <summary>A last tidy on a graceful stop: forks killed just before it leave no copy behind.</summary>
    public override async Task StopAsync(CancellationToken ct)
    {
        await base.StopAsync(ct);
        await TidyAsync(ct);
    }

    private async Task RunAsync(CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            using var sub = changes.Subscribe(_ => true);
            try
            {
                while (true)
                {
                    await TidyAsync(ct);
                    await NextEndOrTickAsync(sub, ct);
                    await Task.Delay(Settle, clock, ct);
                }
            }
            catch (SandboxChangeStreamOverflowException) { /* subscribe again; the tidy covers what was missed */ }
        }
    }

    private async Task NextEndOrTickAsync(SandboxSubscription sub, CancellationToken ct)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var tick = Task.Delay(Interval, clock, stop.Token);
        try
        {
            while (true)
            {
                var read = sub.Changes.ReadAsync(stop.Token).AsTask();
                if (await Task.WhenAny(read, tick) == tick) return;
                if ((await read).IsDelete) return;
            }
        }
        finally { await stop.CancelAsync(); }
    }

    private async Task TidyAsync(CancellationToken ct)
    {
        try { await snapshots.TidyAsync(ct); }
        catch (Exception e) when (e is not OperationCanceledException) { log.LogError(e, "Snapshot sweep failed"); }
    }
}
