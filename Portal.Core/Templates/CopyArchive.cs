using System.Formats.Tar;
using System.IO.Compression;

namespace Portal.Core.Templates;

/// <summary>
/// Checks an uploaded COPY archive before it goes into a build sandbox. The archive is unpacked
/// inside the sandbox (never on the host), so a hostile one can at worst touch the build sandbox;
/// still, entries that would land outside the destination are refused with a clear error instead
/// of being quietly dropped or followed: absolute names, <c>..</c>, an entry below a symlink of the
/// same archive (written through the link), hard links out of the archive, devices and FIFOs.
/// Symlinks themselves are kept as links, absolute ones included (Docker's COPY does the same):
/// inside the sandbox they point at the sandbox's own files.
/// </summary>
public static class CopyArchive
{
    public const int MaxEntries = 200_000;
    /// <summary>Unpacked size cap: a small gzip can expand enormously.</summary>
    public const long MaxUnpackedBytes = 8L * 1024 * 1024 * 1024;

    /// <exception cref="InvalidDataException">why the archive is refused.</exception>
    public static void Validate(string path)
    {
        using var file = File.OpenRead(path);
        var magic = new byte[2];
        var gz = file.Read(magic, 0, 2) == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
        file.Position = 0;
        using Stream data = gz ? new GZipStream(file, CompressionMode.Decompress) : file;
        using var reader = new TarReader(data);
        var links = new HashSet<string>(StringComparer.Ordinal);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var count = 0;
        long total = 0;
        try
        {
            while (reader.GetNextEntry() is { } entry)
            {
                if (++count > MaxEntries) throw new InvalidDataException($"the archive has more than {MaxEntries} entries");
                var name = Normalize(entry.Name);
                total += Math.Max(0, entry.Length);
                if (total > MaxUnpackedBytes) throw new InvalidDataException($"the archive unpacks to more than {MaxUnpackedBytes / (1024 * 1024 * 1024)} GiB");
                switch (entry.EntryType)
                {
                    case TarEntryType.Directory:
                    case TarEntryType.RegularFile:
                    case TarEntryType.V7RegularFile:
                    case TarEntryType.ContiguousFile:
                        break;
                    case TarEntryType.SymbolicLink:
                        if (string.IsNullOrEmpty(entry.LinkName)) throw new InvalidDataException($"symlink '{entry.Name}' has no target");
                        break;
                    case TarEntryType.HardLink:
                        string? target;
                        try { target = Normalize(entry.LinkName); }
                        catch (InvalidDataException) { target = null; }
                        if (target is null || !seen.Contains(target)) throw new InvalidDataException($"hard link '{entry.Name}' points at '{entry.LinkName}', which is not in the archive before it");
                        break;
                    default:
                        throw new InvalidDataException($"entry '{entry.Name}' is a {entry.EntryType}: only files, directories and links can be copied");
                }
                if (name.Length == 0) continue; // "./" itself
                // A file written below a symlink of the archive would be written wherever the link points.
                for (var slash = name.IndexOf('/'); slash > 0; slash = name.IndexOf('/', slash + 1))
                    if (links.Contains(name[..slash]))
                        throw new InvalidDataException($"entry '{entry.Name}' lies below the symlink '{name[..slash]}' of the same archive: it would be written through the link");
                if (entry.EntryType == TarEntryType.SymbolicLink) links.Add(name);
                else links.Remove(name);
                seen.Add(name);
            }
        }
        catch (Exception e) when (e is FormatException or EndOfStreamException or InvalidOperationException)
        {
            throw new InvalidDataException($"the archive is not a valid tar(.gz) file: {e.Message}");
        }
    }

    /// <summary>The entry's path relative to the archive's root, or an error when it leaves it.</summary>
    private static string Normalize(string raw)
    {
        var name = raw.Replace('\\', '/');
        if (name.StartsWith('/')) throw new InvalidDataException($"entry '{raw}' has an absolute path");
        var parts = name.Split('/', StringSplitOptions.RemoveEmptyEntries).Where(p => p != ".").ToList();
        if (parts.Any(p => p == "..")) throw new InvalidDataException($"entry '{raw}' climbs out of the archive with '..'");
        if (name.Contains('\0')) throw new InvalidDataException("an entry's name holds a NUL");
        return string.Join('/', parts);
    }
}
