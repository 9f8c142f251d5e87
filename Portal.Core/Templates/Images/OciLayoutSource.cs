using System.Text.RegularExpressions;

namespace Portal.Core.Templates.Images;

/// <summary>
/// An OCI image layout (<c>oci-layout</c>, <c>index.json</c>, <c>blobs/sha256/…</c>) inside the
/// configured layout directory. Users name layouts, never paths: <c>oci-layout:NAME[:tag]</c>.
/// </summary>
internal sealed partial class OciLayoutSource : IOciImageSource
{
    public const string Scheme = "oci-layout:";
    private readonly string _dir;

    private OciLayoutSource(string dir, string name, string? tag)
    {
        _dir = dir;
        Name = Scheme + name + (tag is null ? "" : ":" + tag);
        Tag = tag;
    }

    public string Name { get; }

    /// <summary>The tag asked for; null = the layout's only image, or the one tagged "latest".</summary>
    public string? Tag { get; }

    /// <summary>Parses <c>oci-layout:NAME[:tag]</c> against <paramref name="layoutsDirectory"/> (null: not configured).</summary>
    public static OciLayoutSource Open(string image, string? layoutsDirectory)
    {
        var rest = image[Scheme.Length..];
        var colon = rest.IndexOf(':');
        var name = colon < 0 ? rest : rest[..colon];
        var tag = colon < 0 ? null : rest[(colon + 1)..];
        if (!NamePattern().IsMatch(name) || (tag is not null && !TagPattern().IsMatch(tag)))
            throw ImageErrors.Refused($"'{image}' is not a valid layout reference: use oci-layout:NAME[:tag] (NAME of lower-case letters, digits, '.', '_', '-')");
        if (layoutsDirectory is null)
            throw ImageErrors.Refused($"'{image}' names an OCI image layout, but this portal has no layout directory (Portal:Templates:Images:OciLayoutDirectory)");
        var dir = Path.Combine(layoutsDirectory, name);
        if (RootfsPaths.KindOf(dir) != RootfsPaths.Kind.Directory || !File.Exists(Path.Combine(dir, "index.json")))
            throw ImageErrors.Refused($"OCI image layout '{name}' not found");
        return new OciLayoutSource(dir, name, tag);
    }

    public Task<byte[]> GetManifestAsync(string reference, int maxBytes, CancellationToken ct)
    {
        if (ImageReference.DigestPattern().IsMatch(reference)) return Task.FromResult(ReadBlob(reference, maxBytes));
        // The layout's own index.json: the caller picks the image from it by tag (ref.name annotation).
        return Task.FromResult(ReadCapped(Path.Combine(_dir, "index.json"), maxBytes, "index.json"));
    }

    public async Task CopyBlobAsync(OciDescriptor blob, Stream destination, CancellationToken ct)
    {
        await using var s = OpenBlob(blob.Digest);
        await CopyAtMostAsync(s, destination, blob.Size, ct);
    }

    /// <summary>Copies at most <paramref name="size"/> + 1 bytes: enough to tell a blob is too long.</summary>
    internal static async Task CopyAtMostAsync(Stream from, Stream to, long size, CancellationToken ct)
    {
        var buffer = new byte[81920];
        long left = size + 1;
        int n;
        while (left > 0 && (n = await from.ReadAsync(buffer.AsMemory(0, (int)Math.Min(buffer.Length, left)), ct)) > 0)
        {
            await to.WriteAsync(buffer.AsMemory(0, n), ct);
            left -= n;
        }
    }

    private byte[] ReadBlob(string digest, int maxBytes)
    {
        using var s = OpenBlob(digest);
        using var ms = new MemoryStream();
        CopyAtMostAsync(s, ms, maxBytes, CancellationToken.None).GetAwaiter().GetResult();
        if (ms.Length > maxBytes) throw ImageErrors.Refused($"{Name}: manifest {digest} is larger than {maxBytes} bytes");
        return ms.ToArray();
    }

    private FileStream OpenBlob(string digest)
    {
        if (!ImageReference.DigestPattern().IsMatch(digest)) throw ImageErrors.Refused($"{Name}: '{digest}' is not a sha256 digest");
        var path = Path.Combine(_dir, "blobs", "sha256", digest["sha256:".Length..]);
        // Blobs are plain files of the layout: a link could read any host file.
        if (RootfsPaths.KindOf(path) != RootfsPaths.Kind.File || RootfsPaths.KindOf(Path.Combine(_dir, "blobs")) != RootfsPaths.Kind.Directory
            || RootfsPaths.KindOf(Path.Combine(_dir, "blobs", "sha256")) != RootfsPaths.Kind.Directory)
            throw ImageErrors.Refused($"{Name}: blob {digest} is missing");
        return new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
    }

    private byte[] ReadCapped(string path, int maxBytes, string what)
    {
        if (RootfsPaths.KindOf(path) != RootfsPaths.Kind.File) throw ImageErrors.Refused($"{Name}: {what} is missing");
        if (new FileInfo(path).Length > maxBytes) throw ImageErrors.Refused($"{Name}: {what} is larger than {maxBytes} bytes");
        return File.ReadAllBytes(path);
    }

    [GeneratedRegex("^[a-z0-9][a-z0-9._-]{0,127}$")]
    private static partial Regex NamePattern();

    [GeneratedRegex(@"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")]
    private static partial Regex TagPattern();
}
