using System.Text.RegularExpressions;

namespace Portal.Core.Templates.Images;

/// <summary>
/// Maps the Debian-based images E2B builds start from onto the portal's own Debian template
/// (<see cref="Template"/>, Debian 12 "bookworm" from Debian packages: Python 3.11, Node.js 18,
/// pip, npm, build tools), so the SDK's <c>fromDebianImage()</c>, <c>fromPythonImage()</c>,
/// <c>fromNodeImage()</c> and <c>fromBaseImage()</c> need no registry.
/// Floating tags (<c>stable</c>, <c>latest</c>, <c>lts</c>, <c>3</c>) take what bookworm ships, said in
/// the build log; a pinned version bookworm does not ship is refused with what is available.
/// Ubuntu is refused: its releases and packages are not Debian's, and giving Debian in its place
/// would break the first Ubuntu-specific step in a way that is hard to tell.
/// </summary>
public static partial class DebianImageMap
{
    /// <summary>The template Debian-based images map onto (scripts/build-template.sh builds it).</summary>
    public const string Template = "base";
    public const string PythonVersion = "3.11";
    public const string NodeVersion = "18";

    public abstract record Result;
    /// <summary>Use <see cref="Template"/>; <paramref name="Note"/> says what the image became.</summary>
    public sealed record Mapped(string TemplateId, string Note) : Result;
    /// <summary>A Debian-family image this portal cannot give; <paramref name="Reason"/> names what it can.</summary>
    public sealed record Unavailable(string Reason) : Result;
    /// <summary>Not a Debian-based image the map knows: it has to come from a registry.</summary>
    public sealed record NotMapped : Result;

    public static Result Map(ImageReference image)
    {
        // A digest names exact bytes: only the registry can give those.
        if (image.Registry != ImageReference.DockerHub || image.Digest is not null) return new NotMapped();
        var tag = image.Tag;
        return image.Repository switch
        {
            "library/debian" => Debian(tag),
            "library/python" => Python(tag),
            "library/node" => Node(tag),
            "e2bdev/base" => new Mapped(Template, $"e2bdev/base:{tag} is the portal's own base template (Debian 12 bookworm, Python {PythonVersion}, Node.js {NodeVersion})"),
            "library/ubuntu" => new Unavailable($"Ubuntu images are not available: the portal builds Debian 12 (bookworm) only and Ubuntu's releases and packages differ; use fromDebianImage() or debian:bookworm"),
            _ => new NotMapped(),
        };
    }

    private static Result Debian(string tag)
    {
        var m = DebianTag().Match(tag);
        if (!m.Success) return new Unavailable($"debian:{tag} is not available: the portal builds Debian 12 (bookworm) only; use debian:bookworm, debian:12 or debian:stable");
        var floating = m.Groups["rel"].Value is "stable" or "latest";
        return new Mapped(Template, floating
            ? $"debian:{tag} maps onto Debian 12 (bookworm), the release the portal builds"
            : $"debian:{tag} is Debian 12 (bookworm)");
    }

    private static Result Python(string tag)
    {
        var m = VersionTag().Match(tag);
        if (!m.Success) return new Unavailable($"python:{tag} is not available: the portal has Python {PythonVersion} on Debian 12 (bookworm) only; use python:{PythonVersion} or python:3 (variants -slim and -bookworm)");
        var version = m.Groups["ver"].Value;
        if (version is "latest" or "3" or "slim" or "bookworm") return new Mapped(Template, $"python:{tag} maps onto Debian 12 (bookworm) with its Python {PythonVersion}");
        if (version == PythonVersion || version.StartsWith(PythonVersion + ".", StringComparison.Ordinal))
            return new Mapped(Template, $"python:{tag} is Debian 12 (bookworm) with Python {PythonVersion} from Debian's packages (patch level as Debian ships it)");
        return new Unavailable($"Python {version} is not available: the portal's Debian 12 (bookworm) has Python {PythonVersion}; use python:{PythonVersion} or python:3");
    }

    private static Result Node(string tag)
    {
        var m = VersionTag().Match(tag);
        var version = m.Success ? m.Groups["ver"].Value : tag;
        if (m.Success && version is "lts" or "latest" or "current" or "slim" or "bookworm")
            return new Mapped(Template, $"node:{tag} maps onto Debian 12 (bookworm) with its Node.js {NodeVersion} and npm");
        if (m.Success && (version is NodeVersion or "hydrogen" || version.StartsWith(NodeVersion + ".", StringComparison.Ordinal)))
            return new Mapped(Template, $"node:{tag} is Debian 12 (bookworm) with Node.js {NodeVersion} and npm from Debian's packages");
        return new Unavailable($"node:{tag} is not available: the portal's Debian 12 (bookworm) has Node.js {NodeVersion}; use node:{NodeVersion} or node:lts (variants -slim and -bookworm)");
    }

    [GeneratedRegex(@"^(?<rel>stable|latest|bookworm|12(\.\d{1,2})?)(-slim)?$")]
    private static partial Regex DebianTag();

    /// <summary>A version (or floating name) with only bookworm-based variants after it.</summary>
    [GeneratedRegex(@"^(?<ver>[a-z]+|\d+(\.\d+){0,2})(-slim|-bookworm|-slim-bookworm)?$")]
    private static partial Regex VersionTag();
}
