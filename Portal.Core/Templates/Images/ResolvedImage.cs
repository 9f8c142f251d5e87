namespace Portal.Core.Templates.Images;

/// <summary>The runtime template an image became, and the image config's defaults.</summary>
/// <param name="TemplateId">Template of the runtime's catalog (hidden from listings for unpacked images).</param>
/// <param name="ManifestDigest">The manifest unpacked; null when the image mapped onto the Debian template.</param>
/// <param name="Env">The image's <c>KEY=value</c> environment (empty for mapped images).</param>
/// <param name="WorkingDir">The image's working directory, or null.</param>
public sealed record ResolvedImage(string TemplateId, string? ManifestDigest, IReadOnlyList<string> Env, string? WorkingDir);
