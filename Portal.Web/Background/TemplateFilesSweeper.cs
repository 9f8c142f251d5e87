using Microsoft.Extensions.Options;
using Portal.Core.Templates;
using Portal.Core.Threading;

namespace Portal.Web.Background;

/// <summary>
/// Hourly, removes uploaded COPY archives no build has used for <c>Portal:Templates:UploadRetention</c>
/// (<see cref="TemplateFiles.RemoveUnused"/>): uploads are a cache, and without this the files
/// directory only grew. A client whose files were removed just uploads them again.
/// </summary>
public sealed class TemplateFilesSweeper(TemplateFiles files, IOptions<TemplateOptions> options, TimeProvider clock, ILogger<TemplateFilesSweeper> log) : BackgroundService
{
    protected override Task ExecuteAsync(CancellationToken ct) => ThreadPoolContext.Run(RunAsync, ct);

    private async Task RunAsync(CancellationToken ct)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromHours(1), clock);
        do
        {
            try
            {
                var removed = files.RemoveUnused(options.Value.UploadRetention);
                if (removed > 0) log.LogInformation("Removed {Count} uploaded template files unused for {Retention}", removed, options.Value.UploadRetention);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { log.LogWarning(e, "Sweeping uploaded template files failed"); }
        } while (await timer.WaitForNextTickAsync(ct));
    }
}
