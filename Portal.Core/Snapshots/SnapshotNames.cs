using System.Text;
using System.Text.RegularExpressions;

namespace Portal.Core.Snapshots;

/// <summary>
/// E2B's names for snapshots: <c>[namespace/]alias[:tag]</c>, lower-cased and trimmed, alias and
/// namespace of <c>[a-z0-9-_]</c>, tag of <c>[a-z0-9-_.]</c>; the namespace is the team's slug.
/// </summary>
public static partial class SnapshotNames
{
    public const string DefaultTag = "default";

    /// <summary>A parsed reference: <see cref="Namespace"/> null when none was written, <see cref="Tag"/> null when none (or <c>:default</c> only if <see cref="TagWritten"/>).</summary>
    public sealed record Parsed(string? Namespace, string Alias, string? Tag, bool TagWritten)
    {
        /// <summary>The tag it resolves to: the written one, else <c>default</c>.</summary>
        public string EffectiveTag => Tag ?? DefaultTag;
    }

    /// <exception cref="DomainException">invalid argument, with E2B's wording.</exception>
    public static Parsed Parse(string input)
    {
        input = input.Trim();
        var colon = input.IndexOf(':');
        var identifier = colon < 0 ? input : input[..colon];
        string? tag = null;
        if (colon >= 0)
        {
            tag = Clean(input[(colon + 1)..], "tag", Tag());
            if (Guid.TryParse(tag, out _)) throw DomainException.InvalidArgument($"Invalid name: invalid tag: {input[(colon + 1)..]} (a tag cannot be a UUID)");
        }
        var slash = identifier.IndexOf('/');
        string? ns = slash < 0 ? null : Clean(identifier[..slash], "namespace", Identifier());
        var alias = Clean(slash < 0 ? identifier : identifier[(slash + 1)..], "template ID", Identifier());
        return new Parsed(ns, alias, tag, colon >= 0);
    }

    /// <summary>
    /// The team's namespace: its name lower-cased, anything outside <c>[a-z0-9-_]</c> as <c>-</c>
    /// (E2B gives every team a slug; the portal's teams have names, so the slug is made from it).
    /// </summary>
    public static string SlugOf(Auth.Team team)
    {
        var sb = new StringBuilder(team.Name.Length);
        foreach (var c in team.Name.Trim().ToLowerInvariant())
        {
            var ok = c is (>= 'a' and <= 'z') or (>= '0' and <= '9') or '_' or '-';
            if (ok) sb.Append(c);
            else if (sb.Length > 0 && sb[^1] != '-') sb.Append('-');
        }
        var slug = sb.ToString().Trim('-');
        return slug.Length > 0 ? slug : "team-" + team.TeamId.ToLowerInvariant();
    }

    private static string Clean(string value, string what, Regex re)
    {
        var cleaned = value.Trim().ToLowerInvariant();
        if (cleaned.Length is 0 or > 128 || !re.IsMatch(cleaned))
            throw DomainException.InvalidArgument($"Invalid name: invalid {what}: {value}");
        return cleaned;
    }

    [GeneratedRegex("^[a-z0-9_-]+$")]
    private static partial Regex Identifier();

    [GeneratedRegex("^[a-z0-9_.-]+$")]
    private static partial Regex Tag();
}
