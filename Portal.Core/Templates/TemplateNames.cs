using System.Text.RegularExpressions;

namespace Portal.Core.Templates;

/// <summary>A template reference as E2B spells it: <c>alias</c>, <c>alias:tag</c>, <c>namespace/alias[:tag]</c>.</summary>
/// <param name="Name">The name without the tag (<c>alias</c> or <c>namespace/alias</c>), lower case.</param>
/// <param name="Tag">Null = none given (the <c>default</c> tag).</param>
public sealed record TemplateName(string Name, string? Tag)
{
    public override string ToString() => Tag is null ? Name : $"{Name}:{Tag}";
}

/// <summary>E2B's naming rules for template names and tags, in one place for the API and the store.</summary>
public static partial class TemplateNames
{
    public const string DefaultTag = "default";
    public const int MaxLength = 128;

    [GeneratedRegex("^[a-z0-9-_]+$")]
    private static partial Regex AliasPattern();

    [GeneratedRegex("^[a-z0-9-_.]+$")]
    private static partial Regex TagPattern();

    /// <summary>
    /// Parses and validates a name (lower-cased first, as E2B does): alias and namespace
    /// <c>[a-z0-9-_]+</c>, tag <c>[a-z0-9-_.]+</c> and not a UUID.
    /// </summary>
    /// <exception cref="DomainException">400 with E2B's wording.</exception>
    public static TemplateName Parse(string? raw)
    {
        if (string.IsNullOrWhiteSpace(raw)) throw DomainException.InvalidArgument("Name is required");
        var text = raw.Trim().ToLowerInvariant();
        if (text.Length > MaxLength) throw DomainException.InvalidArgument($"Invalid name: '{raw}' is longer than {MaxLength} characters");
        string? tag = null;
        var colon = text.IndexOf(':');
        if (colon >= 0)
        {
            tag = ValidateTag(text[(colon + 1)..]);
            text = text[..colon];
        }
        var slash = text.IndexOf('/');
        var ns = slash >= 0 ? text[..slash] : null;
        var alias = slash >= 0 ? text[(slash + 1)..] : text;
        if (!AliasPattern().IsMatch(alias) || (ns is not null && !AliasPattern().IsMatch(ns)))
            throw DomainException.InvalidArgument($"Invalid name: '{raw}' (a name is [namespace/]alias[:tag], alias and namespace of lowercase letters, digits, '-' and '_')");
        return new TemplateName(ns is null ? alias : $"{ns}/{alias}", tag == DefaultTag ? null : tag);
    }

    /// <summary>A tag, lower-cased and checked; <c>default</c> stays <c>default</c>.</summary>
    public static string ValidateTag(string? raw)
    {
        var tag = (raw ?? "").Trim().ToLowerInvariant();
        if (tag.Length == 0 || tag.Length > MaxLength || !TagPattern().IsMatch(tag) || Guid.TryParse(tag, out _))
            throw DomainException.InvalidArgument($"Invalid tag: '{raw}' (lowercase letters, digits, '-', '_' and '.', not a UUID)");
        return tag;
    }

    /// <summary>Whether <paramref name="text"/> could be a name at all (cheap pre-check for lookups, no exception).</summary>
    public static bool TryParse(string? raw, out TemplateName name)
    {
        try { name = Parse(raw); return true; }
        catch (DomainException) { name = new TemplateName("", null); return false; }
    }
}
