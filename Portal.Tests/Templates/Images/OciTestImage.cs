using System.Formats.Tar;
using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;

namespace Portal.Tests.Templates.Images;

/// <summary>
/// An OCI image the test makes itself: layers as tar(.gz) changesets, a config and a manifest,
/// written as an OCI image layout or served by <see cref="FakeRegistry"/>.
/// </summary>
public sealed class OciTestImage
{
    public Dictionary<string, byte[]> Blobs { get; } = [];
    private readonly List<JsonObject> _layers = [];
    public byte[] Manifest { get; private set; } = [];
    public string ManifestDigest { get; private set; } = "";
    /// <summary>An image index naming the manifest for linux/amd64 (and a decoy arm64 entry).</summary>
    public byte[] Index { get; private set; } = [];
    public string IndexDigest { get; private set; } = "";

    public static string Digest(byte[] bytes) => "sha256:" + Convert.ToHexStringLower(SHA256.HashData(bytes));

    public OciTestImage Layer(Action<LayerWriter> write, bool gzip = true)
    {
        using var tar = new MemoryStream();
        using (var w = new TarWriter(tar, TarEntryFormat.Pax, leaveOpen: true)) write(new LayerWriter(w));
        var bytes = tar.ToArray();
        if (gzip)
        {
            using var gz = new MemoryStream();
            using (var z = new GZipStream(gz, CompressionLevel.Fastest, leaveOpen: true)) z.Write(bytes);
            bytes = gz.ToArray();
        }
        var digest = Digest(bytes);
        Blobs[digest] = bytes;
        _layers.Add(new JsonObject
        {
            ["mediaType"] = gzip ? "application/vnd.oci.image.layer.v1.tar+gzip" : "application/vnd.oci.image.layer.v1.tar",
            ["digest"] = digest, ["size"] = bytes.Length,
        });
        return this;
    }

    public OciTestImage Build(params string[] env)
    {
        var config = Encoding.UTF8.GetBytes(new JsonObject
        {
            ["architecture"] = "amd64", ["os"] = "linux",
            ["config"] = new JsonObject { ["Env"] = new JsonArray([.. env.Select(e => (JsonNode)e)]), ["WorkingDir"] = "/srv" },
            ["rootfs"] = new JsonObject { ["type"] = "layers", ["diff_ids"] = new JsonArray() },
        }.ToJsonString());
        Blobs[Digest(config)] = config;
        Manifest = Encoding.UTF8.GetBytes(new JsonObject
        {
            ["schemaVersion"] = 2,
            ["mediaType"] = "application/vnd.oci.image.manifest.v1+json",
            ["config"] = new JsonObject { ["mediaType"] = "application/vnd.oci.image.config.v1+json", ["digest"] = Digest(config), ["size"] = config.Length },
            ["layers"] = new JsonArray([.. _layers.Select(l => (JsonNode)l.DeepClone())]),
        }.ToJsonString());
        ManifestDigest = Digest(Manifest);
        Blobs[ManifestDigest] = Manifest;
        Index = Encoding.UTF8.GetBytes(new JsonObject
        {
            ["schemaVersion"] = 2,
            ["mediaType"] = "application/vnd.oci.image.index.v1+json",
            ["manifests"] = new JsonArray(
                new JsonObject { ["mediaType"] = "application/vnd.oci.image.manifest.v1+json", ["digest"] = "sha256:" + new string('a', 64), ["size"] = 10, ["platform"] = new JsonObject { ["os"] = "linux", ["architecture"] = "arm64" } },
                new JsonObject { ["mediaType"] = "application/vnd.oci.image.manifest.v1+json", ["digest"] = ManifestDigest, ["size"] = Manifest.Length, ["platform"] = new JsonObject { ["os"] = "linux", ["architecture"] = "amd64" } }),
        }.ToJsonString());
        IndexDigest = Digest(Index);
        Blobs[IndexDigest] = Index;
        return this;
    }

    /// <summary>Writes an OCI image layout whose index.json tags the image (through its index) as <paramref name="tag"/>.</summary>
    public string WriteLayout(string directory, string tag = "latest")
    {
        Directory.CreateDirectory(Path.Combine(directory, "blobs", "sha256"));
        File.WriteAllText(Path.Combine(directory, "oci-layout"), """{"imageLayoutVersion":"1.0.0"}""");
        foreach (var (digest, bytes) in Blobs) File.WriteAllBytes(Path.Combine(directory, "blobs", "sha256", digest[7..]), bytes);
        File.WriteAllText(Path.Combine(directory, "index.json"), new JsonObject
        {
            ["schemaVersion"] = 2,
            ["manifests"] = new JsonArray(new JsonObject
            {
                ["mediaType"] = "application/vnd.oci.image.index.v1+json", ["digest"] = IndexDigest, ["size"] = Index.Length,
                ["annotations"] = new JsonObject { ["org.opencontainers.image.ref.name"] = tag },
            }),
        }.ToJsonString());
        return directory;
    }

    public sealed class LayerWriter(TarWriter w)
    {
        public LayerWriter Dir(string name, int mode = 0x1ED, int uid = 0, int gid = 0) =>
            Add(new PaxTarEntry(TarEntryType.Directory, name) { Mode = (UnixFileMode)mode, Uid = uid, Gid = gid });

        public LayerWriter File(string name, string content, int mode = 0x1A4, int uid = 0, int gid = 0) =>
            File(name, Encoding.UTF8.GetBytes(content), mode, uid, gid);

        public LayerWriter File(string name, byte[] content, int mode = 0x1A4, int uid = 0, int gid = 0) =>
            Add(new PaxTarEntry(TarEntryType.RegularFile, name) { Mode = (UnixFileMode)mode, Uid = uid, Gid = gid, DataStream = new MemoryStream(content) });

        public LayerWriter Symlink(string name, string target) =>
            Add(new PaxTarEntry(TarEntryType.SymbolicLink, name) { LinkName = target, Mode = (UnixFileMode)0x1FF });

        public LayerWriter HardLink(string name, string target) =>
            Add(new PaxTarEntry(TarEntryType.HardLink, name) { LinkName = target });

        public LayerWriter CharDevice(string name, int major, int minor) =>
            Add(new PaxTarEntry(TarEntryType.CharacterDevice, name) { DeviceMajor = major, DeviceMinor = minor, Mode = (UnixFileMode)0x1B6 });

        public LayerWriter Entry(TarEntry entry) => Add(entry);

        /// <summary>
        /// Copies a host file into the layer at the same path, with every symlink met on the way
        /// (e.g. Debian's /lib -> usr/lib) as a symlink entry, and the directories as entries.
        /// </summary>
        public LayerWriter HostFile(string path, HashSet<string> added)
        {
            var parts = path.Split('/', StringSplitOptions.RemoveEmptyEntries);
            var cur = "";
            for (var i = 0; i < parts.Length; i++)
            {
                cur += "/" + parts[i];
                var info = new FileInfo(cur);
                if (info.LinkTarget is { } target)
                {
                    if (added.Add(cur)) Symlink(cur[1..], target);
                    var resolved = target.StartsWith('/') ? target : Path.GetFullPath(Path.Combine(Path.GetDirectoryName(cur)!, target));
                    return HostFile(Path.Combine([resolved, .. parts[(i + 1)..]]), added);
                }
                if (i < parts.Length - 1) { if (added.Add(cur)) Dir(cur[1..]); }
                else if (added.Add(cur)) File(cur[1..], System.IO.File.ReadAllBytes(cur), 0x1ED);
            }
            return this;
        }

        private LayerWriter Add(TarEntry e) { w.WriteEntry(e); return this; }
    }
}
