namespace Portal.Core.Templates.Images;

/// <summary>
/// Turns the image a template build starts from (E2B's <c>fromImage</c>) into a runtime template
/// the build can run its steps on. The one seam between template builds and where images come from:
/// Debian-based images map onto the portal's Debian template, <c>oci-layout:NAME[:tag]</c> reads an
/// OCI image layout from the configured directory, anything else is pulled from an allowed registry.
/// </summary>
public interface IImageResolver
{
    /// <summary>
    /// Resolves <paramref name="image"/> (e.g. <c>python:3.11</c>, <c>oci-layout:tiny:1</c>,
    /// <c>registry.example.com/team/app:v2</c>) to a template of the runtime's catalog, pulling and
    /// unpacking it first unless an unpacked copy of the same manifest digest is cached.
    /// </summary>
    /// <param name="credentials">E2B's <c>fromImageRegistry</c>; null for anonymous pulls.</param>
    /// <param name="log">Progress lines for the build's log.</param>
    /// <exception cref="ImageResolveException">the image cannot be used; the message says why, for the user.</exception>
    Task<ResolvedImage> ResolveAsync(string image, RegistryCredentials? credentials, IProgress<string> log, CancellationToken ct);
}

/// <summary>
/// The runtime template an image became, and the image's own defaults (its config's <c>Env</c> and
/// <c>WorkingDir</c>) a build should start with, as E2B's builds do.
/// </summary>
/// <param name="TemplateId">Template in the runtime's catalog (hidden from listings for pulled images).</param>
/// <param name="ManifestDigest">The manifest unpacked; null when the image mapped onto a Debian template.</param>
/// <param name="Env">The image's <c>KEY=value</c> environment (empty for mapped images).</param>
/// <param name="WorkingDir">The image's working directory, or null.</param>
public sealed record ResolvedImage(string TemplateId, string? ManifestDigest, IReadOnlyList<string> Env, string? WorkingDir);

/// <summary>
/// E2B's <c>fromImageRegistry</c>: <c>type</c> "registry" (username/password), "aws" or "gcp"; only
/// "registry" is usable here (no cloud SDKs, and this machine reaches neither cloud).
/// </summary>
public sealed record RegistryCredentials
{
    public required string Type { get; init; }
    public string? Username { get; init; }
    public string? Password { get; init; }
}

/// <summary>An image that cannot become a template; <see cref="Exception.Message"/> is meant for the user.</summary>
public sealed class ImageResolveException(string message, Exception? inner = null) : Exception(message, inner);
