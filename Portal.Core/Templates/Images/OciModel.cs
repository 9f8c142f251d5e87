using System.Text.Json;
using System.Text.Json.Serialization;

namespace Portal.Core.Templates.Images;

/// <summary>An OCI content descriptor: what a blob is, how big, and its digest.</summary>
public sealed record OciDescriptor
{
    [JsonPropertyName("mediaType")] public string MediaType { get; init; } = "";
    [JsonPropertyName("digest")] public string Digest { get; init; } = "";
    [JsonPropertyName("size")] public long Size { get; init; }
    [JsonPropertyName("platform")] public OciPlatform? Platform { get; init; }
    [JsonPropertyName("annotations")] public Dictionary<string, string>? Annotations { get; init; }
    [JsonPropertyName("urls")] public string[]? Urls { get; init; }
}

public sealed record OciPlatform
{
    [JsonPropertyName("os")] public string Os { get; init; } = "";
    [JsonPropertyName("architecture")] public string Architecture { get; init; } = "";
    [JsonPropertyName("variant")] public string? Variant { get; init; }
}

/// <summary>An image index / Docker manifest list, or an image manifest: one JSON shape holds either.</summary>
public sealed record OciManifest
{
    [JsonPropertyName("schemaVersion")] public int SchemaVersion { get; init; }
    [JsonPropertyName("mediaType")] public string? MediaType { get; init; }
    [JsonPropertyName("manifests")] public OciDescriptor[]? Manifests { get; init; }
    [JsonPropertyName("config")] public OciDescriptor? Config { get; init; }
    [JsonPropertyName("layers")] public OciDescriptor[]? Layers { get; init; }
}

/// <summary>The parts of an image config a template uses.</summary>
public sealed record OciImageConfig
{
    [JsonPropertyName("architecture")] public string? Architecture { get; init; }
    [JsonPropertyName("os")] public string? Os { get; init; }
    [JsonPropertyName("config")] public OciRunConfig? Config { get; init; }
}

public sealed record OciRunConfig
{
    [JsonPropertyName("Env")] public string[]? Env { get; init; }
    [JsonPropertyName("WorkingDir")] public string? WorkingDir { get; init; }
    [JsonPropertyName("User")] public string? User { get; init; }
}

public static class OciMediaTypes
{
    public const string Index = "application/vnd.oci.image.index.v1+json";
    public const string Manifest = "application/vnd.oci.image.manifest.v1+json";
    public const string DockerList = "application/vnd.docker.distribution.manifest.list.v2+json";
    public const string DockerManifest = "application/vnd.docker.distribution.manifest.v2+json";
    public const string LayerTar = "application/vnd.oci.image.layer.v1.tar";
    public const string LayerGzip = "application/vnd.oci.image.layer.v1.tar+gzip";
    public const string DockerLayerGzip = "application/vnd.docker.image.rootfs.diff.tar.gzip";

    public static bool IsIndex(string? t) => t is Index or DockerList;
    public static bool IsManifest(string? t) => t is Manifest or DockerManifest;

    /// <summary>True for gzip layers, false for plain tar; an error for anything else (zstd, foreign layers).</summary>
    public static bool IsGzipLayer(OciDescriptor layer) => layer.MediaType switch
    {
        LayerGzip or DockerLayerGzip => true,
        LayerTar or "application/vnd.docker.image.rootfs.diff.tar" => false,
        _ => throw ImageErrors.Refused($"layer {layer.Digest} has media type '{layer.MediaType}', which the portal cannot unpack (it handles tar and tar+gzip layers; not zstd, not foreign layers)"),
    };

    internal static readonly JsonSerializerOptions Json = new() { PropertyNameCaseInsensitive = false };

    internal static T Parse<T>(byte[] json, string what)
    {
        try { return JsonSerializer.Deserialize<T>(json, Json) ?? throw ImageErrors.Refused($"{what} is empty JSON"); }
        catch (JsonException e) { throw ImageErrors.Refused($"{what} is not valid JSON: {e.Message}", e); }
    }
}
