namespace Portal.Core.Templates;

/// <summary>Section <c>Portal:Templates</c>: template builds.</summary>
public sealed class TemplateOptions
{
    public const string Section = "Portal:Templates";

    /// <summary>Builds running at once; the others wait (status "waiting").</summary>
    public int MaxConcurrentBuilds { get; set; } = 2;
    /// <summary>Largest COPY archive an upload may send.</summary>
    public long MaxUploadBytes { get; set; } = 1024L * 1024 * 1024;
    /// <summary>How long an upload URL handed to the SDK stays valid.</summary>
    public TimeSpan UploadUrlLifetime { get; set; } = TimeSpan.FromMinutes(15);
    /// <summary>How long one RUN step (or the start/ready check) may take.</summary>
    public TimeSpan StepTimeout { get; set; } = TimeSpan.FromMinutes(30);
    /// <summary>How long the ready command may take to succeed when a build checks it (E2B: 10 min).</summary>
    public TimeSpan ReadyTimeout { get; set; } = TimeSpan.FromMinutes(10);
    /// <summary>Log lines a build keeps; output beyond is counted, not stored.</summary>
    public int MaxLogEntries { get; set; } = 20_000;
    /// <summary>How long an uploaded COPY archive is kept after its last use (upload, "present?", a build).</summary>
    public TimeSpan UploadRetention { get; set; } = TimeSpan.FromDays(7);
    /// <summary>Where uploaded COPY archives are kept (default: the data directory's <c>template-files</c>).</summary>
    public string? FilesDirectory { get; set; }
}
