namespace Portal.Core;

internal static class Clock
{
    /// <summary>Times are kept to the millisecond: that is what the store and the wire carry.</summary>
    public static DateTimeOffset TruncateToMs(DateTimeOffset t) =>
        DateTimeOffset.FromUnixTimeMilliseconds(t.ToUnixTimeMilliseconds());

    /// <summary>The wire's time format: RFC 3339, UTC, milliseconds (<c>2025-01-31T12:00:00.123Z</c>).</summary>
    public static string Rfc3339(DateTimeOffset t) =>
        t.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", System.Globalization.CultureInfo.InvariantCulture);
}
