namespace Portal.Core.Templates.Images;

/// <summary>Where an image's manifests and blobs come from: a registry or an OCI image layout.</summary>
internal interface IOciImageSource
{
    /// <summary>For the build log and errors, e.g. <c>127.0.0.1:5000/tiny:1</c>.</summary>
    string Name { get; }

    /// <summary>
    /// The manifest or index that <paramref name="reference"/> (a tag, or a digest) names, unverified,
    /// at most <paramref name="maxBytes"/> long; the caller checks a digest it asked for.
    /// </summary>
    Task<byte[]> GetManifestAsync(string reference, int maxBytes, CancellationToken ct);

    /// <summary>The blob's bytes, unverified, copied to <paramref name="destination"/>; stops past the descriptor's size.</summary>
    Task CopyBlobAsync(OciDescriptor blob, Stream destination, CancellationToken ct);
}
