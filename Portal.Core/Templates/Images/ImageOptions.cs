using System.Text.RegularExpressions;

namespace Portal.Core.Templates.Images;

/// <summary>Where template images may come from (<c>Portal:Templates:Images</c>).</summary>
public sealed partial class ImageOptions
{
    public const string Section = "Portal:Templates:Images";

    /// <summary>
    /// Directory of OCI image layouts, one per sub-directory, that <c>oci-layout:NAME[:tag]</c>
    /// names; null = layouts are not offered. Users name layouts, never host paths.
    /// </summary>
    public string? OciLayoutDirectory { get; set; }

    /// <summary>
    /// Registries (<c>host[:port]</c>) images may be pulled from; empty = none (the default: the
    /// portal pulls nothing unless told). <c>docker.io</c> also allows Docker Hub's API and token hosts.
    /// </summary>
    public List<string> AllowedRegistries { get; set; } = [];

    /// <summary>Allowed registries spoken to over plain HTTP (test and in-cluster registries).</summary>
    public List<string> InsecureRegistries { get; set; } = [];

    /// <summary>Largest unpacked image, in MB; it is also the disk size of the template the image becomes.</summary>
    public int MaxImageSizeMB { get; set; } = 2048;

    /// <summary>The host that serves a registry's API (Docker Hub's is not docker.io itself).</summary>
    public static string ApiHost(string registry) => registry == ImageReference.DockerHub ? "registry-1.docker.io" : registry;

    public bool IsAllowed(string host) => AllowedRegistries.Any(r => Matches(r, host));

    public bool IsInsecure(string host) => InsecureRegistries.Any(r => Matches(r, host));

    private static bool Matches(string entry, string host) =>
        string.Equals(entry, host, StringComparison.OrdinalIgnoreCase)
        || (string.Equals(entry, ImageReference.DockerHub, StringComparison.OrdinalIgnoreCase)
            && host.ToLowerInvariant() is "registry-1.docker.io" or "auth.docker.io");

    /// <summary>Every problem, each naming the key to fix; empty when the options are usable.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (OciLayoutDirectory is not null && (!Path.IsPathFullyQualified(OciLayoutDirectory) || !Directory.Exists(OciLayoutDirectory)))
            errors.Add($"{Section}:OciLayoutDirectory must be an absolute path of an existing directory (it is '{OciLayoutDirectory}')");
        foreach (var r in AllowedRegistries.Where(r => !HostPattern().IsMatch(r ?? "")))
            errors.Add($"{Section}:AllowedRegistries holds '{r}', which is not a registry host[:port]");
        foreach (var r in InsecureRegistries.Where(r => !AllowedRegistries.Contains(r, StringComparer.OrdinalIgnoreCase)))
            errors.Add($"{Section}:InsecureRegistries holds '{r}', which is not in {Section}:AllowedRegistries");
        if (MaxImageSizeMB is < 16 or > 1024 * 1024)
            errors.Add($"{Section}:MaxImageSizeMB must be 16-1048576 (it is {MaxImageSizeMB})");
        return errors;
    }

    [GeneratedRegex(@"^[a-zA-Z0-9]([a-zA-Z0-9.-]*[a-zA-Z0-9])?(:[0-9]{1,5})?$")]
    private static partial Regex HostPattern();
}
