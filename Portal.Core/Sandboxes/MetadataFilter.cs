namespace Portal.Core.Sandboxes;

/// <summary>
/// The list routes' <c>metadata</c> query value: pairs percent-encoded, joined as
/// <c>k=v&amp;k2=v2</c>, and that whole string encoded again by the URL (see
/// e2b-protocol.md §2.5). Given the value as the web framework decoded it, this undoes the
/// remaining two levels (treating <c>+</c> as a space, as Go's server does).
/// </summary>
public static class MetadataFilter
{
    /// <exception cref="PortalException">400 for a pair without <c>=</c> or an empty key.</exception>
    public static IReadOnlyDictionary<string, string>? Parse(string? value)
    {
        if (string.IsNullOrEmpty(value)) return null;
        var inner = Unescape(value);
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var pair in inner.Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            var eq = pair.IndexOf('=');
            if (eq <= 0)
                throw PortalException.BadRequest($"invalid metadata filter '{value}': expected key=value pairs joined by '&', each part URL-encoded");
            result[Unescape(pair[..eq])] = Unescape(pair[(eq + 1)..]);
        }
        return result.Count == 0 ? null : result;
    }

    private static string Unescape(string s) => Uri.UnescapeDataString(s.Replace('+', ' '));

    public static bool Matches(IReadOnlyDictionary<string, string> metadata, IReadOnlyDictionary<string, string>? filter)
    {
        if (filter is null) return true;
        foreach (var (k, v) in filter)
            if (!metadata.TryGetValue(k, out var actual) || actual != v) return false;
        return true;
    }
}
