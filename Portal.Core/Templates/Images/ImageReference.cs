using System.Text.RegularExpressions;

namespace Portal.Core.Templates.Images;

/// <summary>
/// A registry image reference as Docker spells it: <c>[host[:port]/]path[:tag][@sha256:hex]</c>;
/// no host means Docker Hub (<c>docker.io</c>, one-word paths under <c>library/</c>), no tag means <c>latest</c>.
/// </summary>
public sealed partial record ImageReference(string Registry, string Repository, string Tag, string? Digest)
{
    public const string DockerHub = "docker.io";

    /// <summary>The manifest reference to ask the registry for: the digest when pinned, else the tag.</summary>
    public string ManifestReference => Digest ?? Tag;

    /// <summary>True when the reference named no tag or digest of its own (then <see cref="Tag"/> is "latest").</summary>
    public bool TagDefaulted { get; init; }

    public override string ToString() => $"{Registry}/{Repository}{(Digest is null ? ":" + Tag : "@" + Digest)}";

    public static ImageReference Parse(string image)
    {
        if (string.IsNullOrWhiteSpace(image) || image.Length > 512)
            throw ImageErrors.Refused("image name is empty or longer than 512 characters");
        var rest = image.Trim();
        string? digest = null;
        var at = rest.IndexOf('@');
        if (at >= 0)
        {
            digest = rest[(at + 1)..];
            rest = rest[..at];
            if (!DigestPattern().IsMatch(digest)) throw ImageErrors.Refused($"image '{image}': the digest must be sha256:<64 hex digits>");
        }
        var registry = DockerHub;
        var slash = rest.IndexOf('/');
        if (slash > 0)
        {
            var first = rest[..slash];
            if (first.Contains('.') || first.Contains(':') || first == "localhost")
            {
                registry = first;
                rest = rest[(slash + 1)..];
                if (!RegistryPattern().IsMatch(registry)) throw ImageErrors.Refused($"image '{image}': '{registry}' is not a registry host[:port]");
            }
        }
        var tag = "latest";
        var tagDefaulted = true;
        var colon = rest.LastIndexOf(':');
        if (colon >= 0 && !rest[colon..].Contains('/'))
        {
            tag = rest[(colon + 1)..];
            rest = rest[..colon];
            tagDefaulted = false;
            if (!TagPattern().IsMatch(tag)) throw ImageErrors.Refused($"image '{image}': '{tag}' is not a valid tag");
        }
        if (!RepositoryPattern().IsMatch(rest)) throw ImageErrors.Refused($"image '{image}': '{rest}' is not a valid repository name (lower-case letters, digits, '.', '_', '-', '/')");
        if (registry == DockerHub && !rest.Contains('/')) rest = "library/" + rest;
        return new ImageReference(registry, rest, tag, digest) { TagDefaulted = tagDefaulted && digest is null };
    }

    [GeneratedRegex("^sha256:[a-f0-9]{64}$")]
    internal static partial Regex DigestPattern();

    [GeneratedRegex(@"^[a-zA-Z0-9]([a-zA-Z0-9.-]*[a-zA-Z0-9])?(:[0-9]{1,5})?$")]
    private static partial Regex RegistryPattern();

    [GeneratedRegex(@"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")]
    private static partial Regex TagPattern();

    [GeneratedRegex(@"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$")]
    private static partial Regex RepositoryPattern();
}
