namespace Portal.FakeKubernetes;

/// <summary>
/// Kubernetes label selectors as the API server parses them (equality- and set-based):
/// <c>a=b</c>, <c>a==b</c>, <c>a!=b</c>, <c>a</c>, <c>!a</c>, <c>a in (x,y)</c>, <c>a notin (x,y)</c>,
/// comma-separated and all required.
/// </summary>
public sealed class LabelSelector
{
    private readonly List<Func<IDictionary<string, string>, bool>> _terms = [];

    public static LabelSelector Parse(string? text)
    {
        var s = new LabelSelector();
        if (string.IsNullOrWhiteSpace(text)) return s;
        foreach (var raw in SplitTopLevel(text))
        {
            var term = raw.Trim();
            if (term.Length == 0) throw new FormatException("empty selector term");
            int i;
            if (term.StartsWith('!')) { var k = term[1..].Trim(); s._terms.Add(l => !l.ContainsKey(k)); }
            else if ((i = term.IndexOf(" notin ", StringComparison.Ordinal)) > 0) { var (k, set) = (term[..i].Trim(), Set(term[(i + 7)..])); s._terms.Add(l => !l.TryGetValue(k, out var v) || !set.Contains(v)); }
            else if ((i = term.IndexOf(" in ", StringComparison.Ordinal)) > 0) { var (k, set) = (term[..i].Trim(), Set(term[(i + 4)..])); s._terms.Add(l => l.TryGetValue(k, out var v) && set.Contains(v)); }
            else if ((i = term.IndexOf("!=", StringComparison.Ordinal)) > 0) { var (k, v) = (term[..i].Trim(), term[(i + 2)..].Trim()); s._terms.Add(l => !l.TryGetValue(k, out var x) || x != v); }
            else if ((i = term.IndexOf("==", StringComparison.Ordinal)) > 0) { var (k, v) = (term[..i].Trim(), term[(i + 2)..].Trim()); s._terms.Add(l => l.TryGetValue(k, out var x) && x == v); }
            else if ((i = term.IndexOf('=')) > 0) { var (k, v) = (term[..i].Trim(), term[(i + 1)..].Trim()); s._terms.Add(l => l.TryGetValue(k, out var x) && x == v); }
            else s._terms.Add(l => l.ContainsKey(term));
        }
        return s;
    }

    public bool Matches(IDictionary<string, string>? labels) => _terms.All(t => t(labels ?? new Dictionary<string, string>()));

    private static HashSet<string> Set(string text)
    {
        var t = text.Trim();
        if (!t.StartsWith('(') || !t.EndsWith(')')) throw new FormatException($"set must be in parentheses: {text}");
        return t[1..^1].Split(',').Select(x => x.Trim()).ToHashSet(StringComparer.Ordinal);
    }

    private static IEnumerable<string> SplitTopLevel(string text)
    {
        var depth = 0;
        var start = 0;
        for (var i = 0; i < text.Length; i++)
        {
            if (text[i] == '(') depth++;
            else if (text[i] == ')') depth--;
            else if (text[i] == ',' && depth == 0) { yield return text[start..i]; start = i + 1; }
        }
        yield return text[start..];
    }
}
