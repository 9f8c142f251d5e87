using System.Text.Json;
using Portal.Core.Sandboxes;

namespace Portal.Web.Dashboard.Model;

/// <summary>
/// The overview's creates-per-minute series: the caller's created lifecycle events (the store's,
/// so it survives restarts and counts every replica's creates) counted per minute.
/// </summary>
public static class CreatesPerMinute
{
    /// <summary>The events read per refresh: a bound on the work, at most this many creates are charted.</summary>
    public const int MaxEvents = 2000;

    /// <summary>Creates in each of the <paramref name="minutes"/> minutes up to <paramref name="now"/>, oldest first.</summary>
    public static double[] Count(IEnumerable<SandboxLifecycleEvent> created, DateTimeOffset now, int minutes)
    {
        var counts = new double[minutes];
        var end = now.ToUnixTimeSeconds() / 60;
        foreach (var e in created)
        {
            using var doc = JsonDocument.Parse(e.Json);
            if (!doc.RootElement.TryGetProperty("timestamp", out var ts) || !DateTimeOffset.TryParse(ts.GetString(), out var at)) continue;
            var index = minutes - 1 - (end - at.ToUnixTimeSeconds() / 60);
            if (index >= 0 && index < minutes) counts[index]++;
        }
        return counts;
    }

    /// <summary>Labels for a per-minute axis ending now: a few clock times, the rest blank (they would overlap at phone width).</summary>
    public static string[] Labels(DateTimeOffset now, int minutes) =>
        Enumerable.Range(0, minutes).Select(i =>
        {
            var ago = minutes - 1 - i;
            return ago % 10 == 0 ? now.AddMinutes(-ago).UtcDateTime.ToString("HH:mm") : "";
        }).ToArray();
}
