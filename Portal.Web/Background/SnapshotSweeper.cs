using Microsoft.Extensions.Options;
using Portal.Core.Sandboxes;
using Portal.Core.Snapshots;
using Portal.Core.Threading;

namespace Portal.Web.Background;

/// <summary>
/// Shortly after start and then every few minutes: drops fork copies a fork cut short left behind,
/// and offers the runtime once more the templates of removed snapshots it refused while other
/// templates stood on them (a deletion of a snapshot offers them too; a template built from a
/// snapshot and deleted elsewhere would otherwise leave them waiting).
/// </summary>
public sealed class SnapshotSweeper(SnapshotService snapshots, IOptions<SandboxOptions> options, TimeProvider clock, ILogger<SnapshotSweeper> log) : BackgroundService
{
    private static readonly TimeSpan Interval = TimeSpan.FromMinutes(5);

    protected override Task ExecuteAsync(CancellationToken ct) => ThreadPoolContext.Run(RunAsync, ct);

    private async Task RunAsync(CancellationToken ct)
    {
        await Task.Delay(TimeSpan.FromSeconds(30), clock, ct);
        using var timer = new PeriodicTimer(Interval, clock);
        do
        {
            try
            {
                // A fork's copy lives while its forks start: each start is bounded by RuntimeCallTimeout.
                await snapshots.TidyAsync(options.Value.RuntimeCallTimeout * 2, ct);
            }
            catch (Exception e) when (e is not OperationCanceledException) { log.LogError(e, "Snapshot sweep failed"); }
        }
        while (await timer.WaitForNextTickAsync(ct));
    }
}
