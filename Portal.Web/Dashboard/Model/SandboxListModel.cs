using Portal.Core.Sandboxes;

namespace Portal.Web.Dashboard.Model;

/// <summary>
/// The sandboxes page's rows without rendering: the live sandboxes from the change stream
/// (snapshot, then upserts and deletes; an older version never overwrites a newer one) and
/// the page's filters. Not thread-safe: the page applies changes on its renderer's thread.
/// </summary>
public sealed class SandboxListModel
{
    private readonly Dictionary<string, SandboxChange> _rows = new(StringComparer.Ordinal);
    /// <summary>When creates were seen (publish time, Stopwatch ticks), oldest first, for the creates-per-minute figure.</summary>
    private readonly Queue<long> _creates = new();

    public int Count => _rows.Count;

    /// <summary>Running or paused only (null = both).</summary>
    public SandboxStatus? State { get; set; }
    public string? Template { get; set; }
    public string? TeamId { get; set; }
    /// <summary><c>key=value</c> (exact) or <c>key</c> (present), pairs separated by commas.</summary>
    public string? Metadata { get; set; }
    /// <summary>Part of the sandbox ID, template, alias or a metadata value, any case.</summary>
    public string? Search { get; set; }

    /// <summary>Drops everything and takes a fresh snapshot (first subscription, or after an overflow).</summary>
    public void Reset(IEnumerable<SandboxChange> snapshot)
    {
        _rows.Clear();
        foreach (var c in snapshot) Apply(c);
    }

    /// <summary>Applies one change; false when it was older than what the list shows.</summary>
    public bool Apply(SandboxChange change)
    {
        var id = change.Sandbox.SandboxId;
        if (_rows.TryGetValue(id, out var current) && current.Version >= change.Version) return false;
        if (change.Cause == SandboxChangeCause.Created) _creates.Enqueue(change.PublishedAt);
        if (change.IsDelete) _rows.Remove(id);
        else _rows[id] = change;
        return true;
    }

    public SandboxRecord? Find(string sandboxId) => _rows.TryGetValue(sandboxId, out var c) ? c.Sandbox : null;

    public IReadOnlyList<string> Templates => _rows.Values.Select(c => c.Sandbox.TemplateId).Distinct().Order(StringComparer.Ordinal).ToList();
    public IReadOnlyList<string> TeamIds => _rows.Values.Select(c => c.Sandbox.TeamId).Distinct().Order(StringComparer.Ordinal).ToList();

    public int CountIn(SandboxStatus status) => _rows.Values.Count(c => c.Sandbox.Status == status);

    /// <summary>Creates seen in the last <paramref name="window"/> (since the page subscribed: the stream has no history).</summary>
    public int CreatesWithin(TimeSpan window)
    {
        var since = System.Diagnostics.Stopwatch.GetTimestamp() - (long)(window.TotalSeconds * System.Diagnostics.Stopwatch.Frequency);
        while (_creates.TryPeek(out var t) && t < since) _creates.Dequeue();
        return _creates.Count;
    }

    /// <summary>The rows the filters let through, newest first (the grid may sort them again).</summary>
    public IReadOnlyList<SandboxRecord> View()
    {
        var metadata = ParseMetadata(Metadata);
        var search = string.IsNullOrWhiteSpace(Search) ? null : Search.Trim();
        var list = new List<SandboxRecord>(_rows.Count);
        foreach (var c in _rows.Values)
        {
            var s = c.Sandbox;
            if (State is { } state && s.Status != state) continue;
            if (!string.IsNullOrEmpty(Template) && s.TemplateId != Template && s.Alias != Template) continue;
            if (!string.IsNullOrEmpty(TeamId) && s.TeamId != TeamId) continue;
            if (!MatchesMetadata(s, metadata)) continue;
            if (search is not null && !MatchesSearch(s, search)) continue;
            list.Add(s);
        }
        list.Sort((a, b) => b.CreatedAt.CompareTo(a.CreatedAt) is var byTime and not 0 ? byTime : string.CompareOrdinal(a.SandboxId, b.SandboxId));
        return list;
    }

    private static List<(string Key, string? Value)> ParseMetadata(string? text)
    {
        var pairs = new List<(string, string?)>();
        if (string.IsNullOrWhiteSpace(text)) return pairs;
        foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var eq = part.IndexOf('=');
            pairs.Add(eq < 0 ? (part, null) : (part[..eq].Trim(), part[(eq + 1)..].Trim()));
        }
        return pairs;
    }

    private static bool MatchesMetadata(SandboxRecord s, List<(string Key, string? Value)> pairs)
    {
        foreach (var (key, value) in pairs)
            if (!s.Metadata.TryGetValue(key, out var actual) || (value is not null && actual != value)) return false;
        return true;
    }

    private static bool MatchesSearch(SandboxRecord s, string search) =>
        s.SandboxId.Contains(search, StringComparison.OrdinalIgnoreCase)
        || s.TemplateId.Contains(search, StringComparison.OrdinalIgnoreCase)
        || (s.Alias?.Contains(search, StringComparison.OrdinalIgnoreCase) ?? false)
        || s.Metadata.Any(kv => kv.Key.Contains(search, StringComparison.OrdinalIgnoreCase) || kv.Value.Contains(search, StringComparison.OrdinalIgnoreCase));
}
