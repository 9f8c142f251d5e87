namespace Portal.Core;

internal static class Clock
{
    /// <summary>Times are kept to the millisecond: that is what the store and the wire carry.</summary>
    public static DateTimeOffset TruncateToMs(DateTimeOffset t) =>
        DateTimeOffset.FromUnixTimeMilliseconds(t.ToUnixTimeMilliseconds());
}
