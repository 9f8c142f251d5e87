namespace Portal.Core.Templates;

/// <summary>
/// Turns a container image reference (E2B's <c>fromImage</c>, <c>fromDebianImage()</c>, ...) into a
/// runtime template a build can stand on. The one seam between the template builder and images
/// (implemented by <see cref="Images.ImageResolver"/>: Debian-based images map onto the portal's
/// Debian template, <c>oci-layout:NAME[:tag]</c> and allowed registries are unpacked).
/// </summary>
public interface ITemplateImageSource
{
    /// <summary>The runtime template ID made from the image; progress lines go to <paramref name="log"/>.</summary>
    /// <param name="credentials">E2B's <c>fromImageRegistry</c>; null for anonymous pulls.</param>
    /// <exception cref="DomainException">the image cannot be used (the message is the build's error).</exception>
    Task<string> ResolveAsync(string image, RegistryCredentials? credentials, IProgress<string> log, CancellationToken ct);

    /// <summary>
    /// The image config's defaults (<c>Env</c>, <c>WorkingDir</c>) a build standing on
    /// <paramref name="templateId"/> starts with, as E2B's builds do; null when the template is not
    /// an unpacked image (a Debian-mapped image is the base template as it is).
    /// </summary>
    ImageDefaults? DefaultsOf(string templateId) => null;
}

/// <summary>An image's own environment (<c>KEY=value</c>) and working directory.</summary>
public sealed record ImageDefaults(IReadOnlyList<string> Env, string? WorkingDir);
