namespace Portal.Core.Templates;

/// <summary>
/// Turns a container image reference (E2B's <c>fromImage</c>, <c>fromDebianImage()</c>, ...) into a
/// runtime template a build can stand on. The one seam between the template builder and images.
/// </summary>
public interface ITemplateImageSource
{
    /// <summary>The runtime template ID made from the image; progress lines go to <paramref name="log"/>.</summary>
    /// <exception cref="DomainException">the image cannot be used (the message is the build's error).</exception>
    Task<string> ResolveAsync(string image, RegistryCredentials? credentials, IProgress<string> log, CancellationToken ct);
}

/// <summary>Until images are supported: every image is refused with a message that says so.</summary>
public sealed class UnsupportedImageSource : ITemplateImageSource
{
    public Task<string> ResolveAsync(string image, RegistryCredentials? credentials, IProgress<string> log, CancellationToken ct) =>
        throw DomainException.InvalidArgument($"fromImage is not supported yet ('{image}'): build from a template instead (Template().fromTemplate('base'))");
}
