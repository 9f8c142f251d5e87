using Portal.Core.Snapshots;
using Portal.Core.Threading;

namespace Portal.Web.Background;

/// <summary>
/// Shortly after start and then every minute: removes fork copies no sandbox runs on any more (the
/// last fork ended, or a fork was cut short by a restart), and offers the runtime once more the templates of removed snapshots it refused while other
/// templates stood on them (a deletion of a snapshot offers them too; a template built from a
/// snapshot and deleted elsewhere would otherwise leave them waiting).
/// </summary>
public sealed class SnapshotSweeper(SnapshotService snapshots, TimeProvider clock, ILogger<SnapshotSweeper> log) : BackgroundService
{
    private static readonly TimeSpan Interval = TimeSpan.FromMinutes(1);

    protected override Task ExecuteAsync(CancellationToken ct) => ThreadPoolContext.Run(RunAsync, ct);

    private async Task RunAsync(CancellationToken ct)
    {
        await Task.Delay(TimeSpan.FromSeconds(10), clock, ct);
        using var timer = new PeriodicTimer(Interval, clock);
        do
        {
            try { await snapshots.TidyAsync(ct); }
            catch (Exception e) when (e is not OperationCanceledException) { log.LogError(e, "Snapshot sweep failed"); }
        }
        while (await timer.WaitForNextTickAsync(ct));
    }
}
