namespace Portal.Core.Sandboxes;

/// <summary>
/// The list routes' <c>metadata</c> query value: pairs percent-encoded, joined as
/// <c>k=v&amp;k2=v2</c>, and that whole string encoded again by the URL (see
/// docs/api.md, "Metadata filter"). Given the value as the web framework decoded it, this undoes the
/// remaining two levels (treating <c>+</c> as a space, as Go's server does).
/// </summary>
public static class MetadataFilter
{
    /// <exception cref="DomainException">
    /// An invalid argument for anything malformed, as E2B refuses it: a broken percent escape, an empty pair, a
    /// pair without exactly one <c>=</c> or with an empty key. Never an empty list for a filter
    /// that could not be read.
    /// </exception>
    public static IReadOnlyDictionary<string, string>? Parse(string? value)
    {
        if (string.IsNullOrEmpty(value)) return null;
        var inner = Unescape(value, value);
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var pair in inner.Split('&'))
        {
            var eq = pair.IndexOf('=');
            if (eq <= 0 || pair.IndexOf('=', eq + 1) >= 0)
                throw Invalid(value, "expected key=value pairs joined by '&', each part URL-encoded");
            result[Unescape(pair[..eq], value)] = Unescape(pair[(eq + 1)..], value);
        }
        return result;
    }

    private static DomainException Invalid(string value, string why) =>
        DomainException.InvalidArgument($"invalid metadata filter '{value}': {why}");

    /// <summary>Form decoding ('+' is a space, as Go's server does) that refuses a '%' not followed by two hex digits.</summary>
    private static string Unescape(string s, string whole)
    {
        for (var i = s.IndexOf('%'); i >= 0; i = s.IndexOf('%', i + 1))
            if (i + 2 >= s.Length || !Uri.IsHexDigit(s[i + 1]) || !Uri.IsHexDigit(s[i + 2]))
                throw Invalid(whole, $"broken percent escape at '{s[i..Math.Min(s.Length, i + 3)]}'");
        return Uri.UnescapeDataString(s.Replace('+', ' '));
    }

    public static bool Matches(IReadOnlyDictionary<string, string> metadata, IReadOnlyDictionary<string, string>? filter)
    {
        if (filter is null) return true;
        foreach (var (k, v) in filter)
            if (!metadata.TryGetValue(k, out var actual) || actual != v) return false;
        return true;
    }
}
