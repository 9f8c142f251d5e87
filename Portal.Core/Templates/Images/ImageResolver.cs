using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text.Json;
using Portal.Core.Runtime;
using Portal.Core.Runtime.Local;

namespace Portal.Core.Templates.Images;

/// <summary>
/// The template builder's <see cref="ITemplateImageSource"/> for the local runtime: images become plain templates
/// (<c>rootfs/</c> + <c>template.json</c>) in its templates directory, named
/// <c>image-&lt;digest prefix&gt;</c> after the manifest they were unpacked from, so the same image is
/// unpacked once. A template appears whole or not at all (built under a dot-named directory the
/// catalog ignores, then renamed) and is hidden from template listings.
/// </summary>
public sealed class ImageResolver(ImageOptions options, string templatesDirectory, HttpClient? http = null) : ITemplateImageSource
{
    public const string TemplatePrefix = "image-";
    private const int MaxManifestBytes = 4 << 20;
    private const int MaxConfigBytes = 8 << 20;
    private const string ImageFile = "image.json";
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { WriteIndented = true };
    private readonly HttpClient _http = http ?? new HttpClient(new SocketsHttpHandler
    {
        // Registries hand blobs to a CDN by redirect; HttpClient drops the Authorization header on
        // the way and never follows https to http.
        AllowAutoRedirect = true,
        MaxAutomaticRedirections = 5,
        ConnectTimeout = TimeSpan.FromSeconds(30),
    })
    { Timeout = TimeSpan.FromMinutes(30) };
    private readonly ConcurrentDictionary<string, SemaphoreSlim> _unpacking = new();

    public async Task<string> ResolveAsync(string image, RegistryCredentials? credentials, IProgress<string> log, CancellationToken ct) =>
        (await ResolveImageAsync(image, credentials, log, ct)).TemplateId;

    public ImageDefaults? DefaultsOf(string templateId) =>
        templateId.StartsWith(TemplatePrefix, StringComparison.Ordinal) && Cached(templateId) is { } c ? new ImageDefaults(c.Env, c.WorkingDir) : null;

    /// <summary>
    /// <see cref="ResolveAsync"/> with what the image was unpacked from and its config's defaults
    /// (<see cref="ResolvedImage.ManifestDigest"/> is null for a Debian-mapped image).
    /// </summary>
    public async Task<ResolvedImage> ResolveImageAsync(string image, RegistryCredentials? credentials, IProgress<string> log, CancellationToken ct)
    {
        if (credentials is not null && credentials.Type != "registry")
            throw ImageErrors.Refused($"registry credentials of type '{credentials.Type}' are not supported: this portal has no {credentials.Type switch { "aws" => "AWS ECR", "gcp" => "Google Artifact Registry", _ => "such" }} client; use type 'registry' (username and password)");
        IOciImageSource source;
        string? layoutTag = null;
        var fromLayout = image.StartsWith(OciLayoutSource.Scheme, StringComparison.Ordinal);
        ImageReference? reference = null;
        if (fromLayout)
        {
            var layout = OciLayoutSource.Open(image, options.OciLayoutDirectory);
            layoutTag = layout.Tag;
            source = layout;
        }
        else
        {
            reference = ImageReference.Parse(image);
            var mapped = DebianImageMap.Map(reference);
            if (mapped is DebianImageMap.Mapped m)
            {
                if (!File.Exists(Path.Combine(templatesDirectory, m.TemplateId, "template.json")))
                    throw ImageErrors.Refused($"'{image}' maps onto the template '{m.TemplateId}', which is not built on this host (scripts/build-template.sh)");
                log.Report(m.Note);
                return new ResolvedImage(m.TemplateId, null, [], null);
            }
            if (!options.IsAllowed(reference.Registry))
                throw ImageErrors.Refused(mapped is DebianImageMap.Unavailable u
                    ? $"{u.Reason} (pulling it from {reference.Registry} is not allowed here)"
                    : $"'{image}' would have to be pulled from {reference.Registry}, which this portal does not pull from (Portal:Templates:Images:AllowedRegistries); "
                      + "Debian-based images (debian:bookworm, python:3.11, node:18, e2bdev/base) map onto the portal's Debian template, and oci-layout:NAME names an OCI image layout");
            if (mapped is DebianImageMap.Unavailable unavailable) log.Report($"{unavailable.Reason}; pulling it from {reference.Registry} instead");
            source = new OciRegistryClient(_http, reference, credentials, options);
        }

        log.Report($"resolving {source.Name}");
        var (digest, manifest) = await ResolveManifestAsync(source, fromLayout, layoutTag, reference, ct);
        var templateId = TemplatePrefix + digest["sha256:".Length..][..32];
        var gate = _unpacking.GetOrAdd(templateId, _ => new SemaphoreSlim(1, 1));
        await gate.WaitAsync(ct);
        try
        {
            if (Cached(templateId) is { } cached)
            {
                log.Report($"{source.Name} ({digest}) is unpacked already: template {templateId}");
                return cached;
            }
            return await UnpackAsync(source, image, digest, manifest, templateId, log, ct);
        }
        finally { gate.Release(); }
    }

    private async Task<(string Digest, OciManifest Manifest)> ResolveManifestAsync(IOciImageSource source, bool fromLayout, string? layoutTag, ImageReference? reference, CancellationToken ct)
    {
        OciDescriptor? expected = null;
        byte[] bytes;
        if (fromLayout)
        {
            var index = OciMediaTypes.Parse<OciManifest>(await source.GetManifestAsync("index.json", MaxManifestBytes, ct), $"{source.Name}: index.json");
            var entries = index.Manifests ?? [];
            expected = layoutTag is null && entries.Length == 1
                ? entries[0]
                : entries.FirstOrDefault(d => d.Annotations?.GetValueOrDefault("org.opencontainers.image.ref.name") == (layoutTag ?? "latest"))
                  ?? throw ImageErrors.Refused($"{source.Name}: the layout has no image tagged '{layoutTag ?? "latest"}'");
            bytes = await FetchVerifiedAsync(source, expected, ct);
        }
        else
        {
            bytes = await source.GetManifestAsync(reference!.ManifestReference, MaxManifestBytes, ct);
            if (reference.Digest is not null && Sha256(bytes) != reference.Digest)
                throw ImageErrors.Refused($"{source.Name}: the registry's manifest does not match the digest asked for");
        }
        // An index names one manifest per platform (and may nest once more).
        for (var depth = 0; ; depth++)
        {
            var parsed = OciMediaTypes.Parse<OciManifest>(bytes, $"{source.Name}: manifest");
            var isIndex = OciMediaTypes.IsIndex(parsed.MediaType ?? expected?.MediaType) || (parsed.Manifests is not null && parsed.Layers is null);
            if (!isIndex)
            {
                if (parsed.SchemaVersion != 2 || parsed.Config is null || parsed.Layers is null)
                    throw ImageErrors.Refused($"{source.Name}: not an OCI or Docker v2 image manifest");
                return (Sha256(bytes), parsed);
            }
            if (depth == 2) throw ImageErrors.Refused($"{source.Name}: image indexes nest too deep");
            expected = PickPlatform(source.Name, parsed.Manifests ?? []);
            bytes = await FetchVerifiedAsync(source, expected, ct);
        }
    }

    private static OciDescriptor PickPlatform(string name, OciDescriptor[] manifests)
    {
        var arch = HostArchitecture();
        var match = manifests.FirstOrDefault(d => d.Platform is { Os: "linux" } p && p.Architecture == arch)
            ?? (manifests.Length == 1 && manifests[0].Platform is null ? manifests[0] : null);
        return match ?? throw ImageErrors.Refused(
            $"{name}: no linux/{arch} image in it (it has {string.Join(", ", manifests.Select(d => d.Platform is { } p ? $"{p.Os}/{p.Architecture}" : "unknown"))})");
    }

    private static string HostArchitecture() => RuntimeInformation.OSArchitecture switch
    {
        Architecture.X64 => "amd64",
        Architecture.Arm64 => "arm64",
        var other => other.ToString().ToLowerInvariant(),
    };

    private static async Task<byte[]> FetchVerifiedAsync(IOciImageSource source, OciDescriptor d, CancellationToken ct)
    {
        if (d.Size is < 0 or > MaxManifestBytes) throw ImageErrors.Refused($"{source.Name}: manifest {d.Digest} is {d.Size} bytes, more than {MaxManifestBytes}");
        var bytes = await source.GetManifestAsync(d.Digest, MaxManifestBytes, ct);
        Verify(source.Name, d, bytes.Length, Sha256(bytes));
        return bytes;
    }

    private async Task<ResolvedImage> UnpackAsync(IOciImageSource source, string image, string digest, OciManifest manifest, string templateId, IProgress<string> log, CancellationToken ct)
    {
        var maxBytes = (long)options.MaxImageSizeMB << 20;
        var layers = manifest.Layers!;
        if (layers.Sum(l => Math.Max(0, l.Size)) > maxBytes)
            throw ImageErrors.Refused($"{source.Name}: its layers alone are larger than {options.MaxImageSizeMB} MB (Portal:Templates:Images:MaxImageSizeMB)");
        if (manifest.Config!.Size is < 0 or > MaxConfigBytes) throw ImageErrors.Refused($"{source.Name}: its config is larger than {MaxConfigBytes} bytes");

        Directory.CreateDirectory(templatesDirectory);
        var work = Path.Combine(templatesDirectory, $".build-{templateId}-{Guid.NewGuid():N}"[..48]);
        var rootfs = Path.Combine(work, "rootfs");
        Directory.CreateDirectory(rootfs);
        File.SetUnixFileMode(rootfs, (UnixFileMode)0x1ED);
        try
        {
            var configBytes = await DownloadAsync(source, manifest.Config, Path.Combine(work, "config.json"), ct);
            var config = OciMediaTypes.Parse<OciImageConfig>(configBytes, $"{source.Name}: image config");
            if (config.Os is { Length: > 0 } os && os != "linux" || config.Architecture is { Length: > 0 } a && a != HostArchitecture())
                throw ImageErrors.Refused($"{source.Name}: the image is for {config.Os}/{config.Architecture}; this host runs linux/{HostArchitecture()}");
            File.Delete(Path.Combine(work, "config.json"));

            var applier = new OciLayerApplier(rootfs, maxBytes, log);
            for (var i = 0; i < layers.Length; i++)
            {
                var what = $"layer {i + 1}/{layers.Length} ({layers[i].Digest})";
                var gzip = OciMediaTypes.IsGzipLayer(layers[i]);
                var file = Path.Combine(work, "layer");
                log.Report($"pulling {what}, {layers[i].Size} bytes");
                await DownloadAsync(source, layers[i], file, ct);
                applier.Apply(file, gzip, what);
                File.Delete(file);
            }
            SandboxRootfs.Prepare(rootfs, log);
            var resolved = new ResolvedImage(templateId, digest, config.Config?.Env ?? [], config.Config?.WorkingDir is { Length: > 0 } w ? w : null);
            LocalTemplateCatalog.Save(work, new SandboxTemplate { TemplateId = templateId, DiskSizeMB = options.MaxImageSizeMB, Hidden = true });
            await File.WriteAllTextAsync(Path.Combine(work, ImageFile), JsonSerializer.Serialize(
                new ImageSource(image, digest, resolved.Env, resolved.WorkingDir), Json), ct);
            try { Directory.Move(work, Path.Combine(templatesDirectory, templateId)); }
            catch (IOException) when (Cached(templateId) is { } raced)
            {
                // Another portal process unpacked the same image meanwhile: keep one.
                Directory.Delete(work, recursive: true);
                return raced;
            }
            log.Report($"{source.Name} unpacked ({applier.BytesWritten >> 20} MB): template {templateId}");
            return resolved;
        }
        catch
        {
            if (Directory.Exists(work)) Directory.Delete(work, recursive: true);
            throw;
        }
    }

    /// <summary>Downloads a blob to <paramref name="file"/> and checks its size and digest before anything reads it.</summary>
    private static async Task<byte[]> DownloadAsync(IOciImageSource source, OciDescriptor blob, string file, CancellationToken ct)
    {
        if (!ImageReference.DigestPattern().IsMatch(blob.Digest)) throw ImageErrors.Refused($"{source.Name}: blob digest '{blob.Digest}' is not sha256:<64 hex digits>");
        await using (var f = new FileStream(file, FileMode.Create, FileAccess.Write))
            await source.CopyBlobAsync(blob, f, ct);
        await using var read = new FileStream(file, FileMode.Open, FileAccess.Read);
        var hash = "sha256:" + Convert.ToHexStringLower(await SHA256.HashDataAsync(read, ct));
        Verify(source.Name, blob, read.Length, hash);
        return read.Length <= MaxConfigBytes ? await File.ReadAllBytesAsync(file, ct) : [];
    }

    private static void Verify(string name, OciDescriptor d, long length, string digest)
    {
        if (length != d.Size || digest != d.Digest)
            throw ImageErrors.Refused($"{name}: blob {d.Digest} does not match its descriptor (got {length} bytes, {digest}); refusing the image");
    }

    private static string Sha256(byte[] bytes) => "sha256:" + Convert.ToHexStringLower(SHA256.HashData(bytes));

    private ResolvedImage? Cached(string templateId)
    {
        var dir = Path.Combine(templatesDirectory, templateId);
        if (!File.Exists(Path.Combine(dir, "template.json")) || !File.Exists(Path.Combine(dir, ImageFile))) return null;
        try
        {
            var s = JsonSerializer.Deserialize<ImageSource>(File.ReadAllText(Path.Combine(dir, ImageFile)), Json);
            return s is null ? null : new ResolvedImage(templateId, s.Digest, s.Env, s.WorkingDir);
        }
        catch (JsonException) { return null; }
    }

    /// <summary>
    /// <c>image.json</c> beside an image template's template.json: where it came from and the
    /// image config's defaults, given again to every build that uses the cached copy.
    /// </summary>
    private sealed record ImageSource(string Image, string Digest, IReadOnlyList<string> Env, string? WorkingDir);
}
