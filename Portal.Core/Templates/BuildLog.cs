using Portal.Core.Persistence;

namespace Portal.Core.Templates;

/// <summary>
/// A build's log lines on their way to the store: collected as they come (a RUN step's output can be
/// thousands of lines) and written in batches, at most <see cref="TemplateOptions.MaxLogEntries"/>
/// per build; what goes beyond is counted in one last line.
/// </summary>
internal sealed class BuildLog(IPortalStore store, string buildId, TimeProvider clock, int maxEntries)
{
    private const int MaxLineLength = 4096;
    private readonly Lock _lock = new();
    private List<BuildLogEntry> _pending = [];
    private int _kept;
    private long _dropped;

    /// <summary>Every line so far, for the failure reason's log (the last few).</summary>
    public List<BuildLogEntry> Tail { get; } = [];

    public void Add(string level, string message, string? step)
    {
        if (message.Length > MaxLineLength) message = message[..MaxLineLength] + "…";
        var entry = new BuildLogEntry(clock.GetUtcNow(), level, message, step);
        lock (_lock)
        {
            Tail.Add(entry);
            if (Tail.Count > 50) Tail.RemoveAt(0);
            if (_kept >= maxEntries) { _dropped++; return; }
            _kept++;
            _pending.Add(entry);
        }
    }

    public void Info(string? step, string message) => Add("info", message, step);

    public async Task FlushAsync(bool final = false)
    {
        List<BuildLogEntry> batch;
        lock (_lock)
        {
            if (final && _dropped > 0)
            {
                _pending.Add(new BuildLogEntry(clock.GetUtcNow(), "warn", $"{_dropped} more log lines were not kept (Portal:Templates:MaxLogEntries)", null));
                _dropped = 0;
            }
            if (_pending.Count == 0) return;
            batch = _pending;
            _pending = [];
        }
        await store.AddTemplateBuildLogsAsync(buildId, batch, CancellationToken.None);
    }
}
