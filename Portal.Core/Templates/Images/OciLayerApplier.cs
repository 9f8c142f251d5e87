using System.Formats.Tar;
using System.IO.Compression;

namespace Portal.Core.Templates.Images;

/// <summary>
/// Applies image layers (tar changesets) in order onto one root directory, as the OCI image spec
/// says: whiteouts (<c>.wh.NAME</c> removes NAME, <c>.wh..wh..opq</c> empties its directory) hide
/// only what lower layers made, so each layer's whiteouts are applied first and its files after.
/// Modes, owners, symlinks and hard links are kept. Layers are untrusted: absolute names, <c>..</c>,
/// writes through symlinks and hard links out of the root refuse the image; device nodes and FIFOs
/// are skipped (the sandbox gets its own /dev); the bytes written are capped.
/// </summary>
internal sealed class OciLayerApplier(string root, long maxBytes, IProgress<string> log)
{
    /// <summary>Most entries over all layers: a tar of empty files costs inodes, not bytes.</summary>
    public const int MaxEntries = 1_000_000;

    private long _written;
    private int _entries;
    private int _skippedDevices;

    public long BytesWritten => _written;

    /// <summary>Applies one layer from a file whose digest the caller has already checked.</summary>
    public void Apply(string layerFile, bool gzip, string what)
    {
        using (var tar = Open(layerFile, gzip))
            while (Next(tar, what) is { } entry)
            {
                var parts = RootfsPaths.Components(entry.Name, what);
                if (parts.Length == 0) continue;
                if (!parts[^1].StartsWith(".wh.", StringComparison.Ordinal)) continue;
                // A whiteout in a directory no lower layer made hides nothing.
                var opaque = parts[^1] == ".wh..wh..opq";
                var target = opaque ? parts[..^1] : [.. parts[..^1], parts[^1][4..]];
                if (!opaque && target[^1] is "" or "." or "..") throw ImageErrors.Refused($"{what}: bad whiteout '{entry.Name}'");
                if ((target.Length == 0 ? root : RootfsPaths.PrepareParents(root, target, what, create: false)) is not { } path) continue;
                if (!opaque) RootfsPaths.Remove(path);
                else if (RootfsPaths.KindOf(path) == RootfsPaths.Kind.Directory)
                    foreach (var child in Directory.GetFileSystemEntries(path)) RootfsPaths.Remove(child);
            }
        using (var tar = Open(layerFile, gzip))
            while (Next(tar, what) is { } entry)
            {
                var parts = RootfsPaths.Components(entry.Name, what);
                if (parts.Length == 0 || parts[^1].StartsWith(".wh.", StringComparison.Ordinal)) continue;
                if (++_entries > MaxEntries) throw ImageErrors.Refused($"{what}: the image has more than {MaxEntries} entries");
                Extract(entry, parts, what);
            }
        if (_skippedDevices > 0) log.Report($"{what}: skipped {_skippedDevices} device node(s) and FIFO(s); sandboxes get their own /dev");
        _skippedDevices = 0;
    }

    private void Extract(TarEntry entry, string[] parts, string what)
    {
        var path = RootfsPaths.PrepareParents(root, parts, what)!;
        switch (entry.EntryType)
        {
            case TarEntryType.Directory:
                if (RootfsPaths.KindOf(path) != RootfsPaths.Kind.Directory)
                {
                    RootfsPaths.Remove(path);
                    Directory.CreateDirectory(path);
                }
                SetOwnerAndMode(entry, path);
                break;
            case TarEntryType.RegularFile or TarEntryType.V7RegularFile or TarEntryType.ContiguousFile:
                if (_written + entry.Length > maxBytes) throw TooLarge(maxBytes);
                RootfsPaths.Remove(path);
                using (var file = new FileStream(path, FileMode.CreateNew, FileAccess.Write))
                    if (entry.DataStream is { } data) CopyCapped(data, file);
                SetOwnerAndMode(entry, path);
                try { File.SetLastWriteTimeUtc(path, entry.ModificationTime.UtcDateTime); }
                catch (ArgumentOutOfRangeException) { /* a time the filesystem cannot hold: the file stays as it is */ }
                break;
            case TarEntryType.SymbolicLink:
                if (string.IsNullOrEmpty(entry.LinkName)) throw ImageErrors.Refused($"{what}: symlink '{entry.Name}' has no target");
                RootfsPaths.Remove(path);
                // The target is kept as written: it is resolved inside the sandbox, never here.
                File.CreateSymbolicLink(path, entry.LinkName);
                RootfsPaths.Lchown(path, entry.Uid, entry.Gid);
                break;
            case TarEntryType.HardLink:
                var targetParts = RootfsPaths.Components(entry.LinkName, what);
                var target = RootfsPaths.PrepareParents(root, targetParts, what, create: false);
                if (targetParts.Length == 0 || target is null || RootfsPaths.KindOf(target) != RootfsPaths.Kind.File)
                    throw ImageErrors.Refused($"{what}: hard link '{entry.Name}' must point at a file the image already holds, not '{entry.LinkName}'");
                if (target == path) break;
                RootfsPaths.Remove(path);
                RootfsPaths.Link(target, path);
                break;
            case TarEntryType.CharacterDevice or TarEntryType.BlockDevice or TarEntryType.Fifo:
                _skippedDevices++;
                break;
            default:
                throw ImageErrors.Refused($"{what}: entry '{entry.Name}' is a {entry.EntryType} entry, which the portal does not unpack");
        }
    }

    private static void SetOwnerAndMode(TarEntry entry, string path)
    {
        // Owner first: chown clears set-uid bits the mode then puts back.
        RootfsPaths.Lchown(path, entry.Uid, entry.Gid);
        File.SetUnixFileMode(path, entry.Mode);
    }

    private void CopyCapped(Stream data, Stream file)
    {
        var buffer = new byte[81920];
        int n;
        while ((n = data.Read(buffer)) > 0)
        {
            if ((_written += n) > maxBytes) throw TooLarge(maxBytes);
            file.Write(buffer, 0, n);
        }
    }

    private static DomainException TooLarge(long maxBytes) =>
        ImageErrors.Refused($"the image is larger than {maxBytes / (1024 * 1024)} MB unpacked, the disk size of the template it would become (Portal:Templates:Images:MaxImageSizeMB)");

    private static TarReader Open(string file, bool gzip)
    {
        Stream s = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        if (gzip) s = new GZipStream(s, CompressionMode.Decompress);
        return new TarReader(s, leaveOpen: false);
    }

    private static TarEntry? Next(TarReader tar, string what)
    {
        try { return tar.GetNextEntry(); }
        catch (Exception e) when (e is InvalidDataException or FormatException or EndOfStreamException)
        {
            throw ImageErrors.Refused($"{what} is not a readable tar archive: {e.Message}", e);
        }
    }
}
