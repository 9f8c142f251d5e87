using System.Runtime.InteropServices;
using System.Text;
using Portal.Envd.Connect;
using Portal.Envd.Native;
using Portal.Envd.Users;

namespace Portal.Envd.Filesystem;

/// <summary>
/// Builds <see cref="EntryInfo"/> as envd reports it: a symlink keeps its own name and path,
/// shows its target's type, size and mode, and names the absolute target; metadata comes from
/// <c>user.e2b.*</c> extended attributes. Call inside <see cref="FsIdentity.RunAs{T}"/>.
/// </summary>
public sealed class EntryInfoReader(UserDirectory users)
{
    public const string MetadataPrefix = "user.e2b.";

    /// <summary>Null when the path does not exist.</summary>
    public EntryInfo? TryRead(string path)
    {
        if (Libc.statx(Libc.AT_FDCWD, path, Libc.AT_SYMLINK_NOFOLLOW, Libc.STATX_BASIC_STATS, out var own) != 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            if (errno is Libc.ENOENT or Libc.ENOTDIR) return null;
            throw Errors.FromErrno(errno, path);
        }
        string? target = null;
        var st = own;
        var isLink = (own.Mode & 0xF000) == 0xA000;
        if (isLink)
        {
            target = ResolveLink(path);
            if (Libc.statx(Libc.AT_FDCWD, path, 0, Libc.STATX_BASIC_STATS, out var followed) == 0) st = followed;
        }
        var kind = (st.Mode & 0xF000) switch
        {
            0x4000 => FileType.Directory,
            0xA000 => FileType.Symlink, // dangling link
            _ => FileType.File,
        };
        var mode = (uint)(st.Mode & 0x1FF);
        return new EntryInfo
        {
            Name = Path.GetFileName(path) is { Length: > 0 } n ? n : "/",
            Type = kind,
            Path = path,
            Size = (long)st.Size,
            Mode = mode,
            Permissions = Permissions(kind, mode),
            Owner = users.UserName(st.Uid),
            Group = users.GroupName(st.Gid),
            ModifiedTime = DateTimeOffset.FromUnixTimeSeconds(st.Mtime.Sec).AddTicks(st.Mtime.Nsec / 100),
            SymlinkTarget = target,
            Metadata = ReadMetadata(path),
        };
    }

    public EntryInfo Read(string path) =>
        TryRead(path) ?? throw ConnectException.NotFound($"path '{path}' does not exist");

    private static string ResolveLink(string path)
    {
        try
        {
            var final = new FileInfo(path).ResolveLinkTarget(returnFinalTarget: true);
            if (final is not null) return final.FullName;
        }
        catch (IOException) { }
        var link = File.ResolveLinkTarget(path, false)?.FullName;
        return link ?? path;
    }

    /// <summary>Go's <c>fs.FileMode.String()</c>: <c>drwxr-xr-x</c>, <c>-rw-r--r--</c>, <c>Lrwxrwxrwx</c>.</summary>
    public static string Permissions(FileType type, uint mode)
    {
        var sb = new StringBuilder(10);
        sb.Append(type switch { FileType.Directory => 'd', FileType.Symlink => 'L', _ => '-' });
        const string rwx = "rwxrwxrwx";
        for (var i = 0; i < 9; i++) sb.Append((mode & (1u << (8 - i))) != 0 ? rwx[i] : '-');
        return sb.ToString();
    }

    public static unsafe Dictionary<string, string>? ReadMetadata(string path)
    {
        var size = Libc.listxattr(path, null, 0);
        if (size <= 0) return null;
        var buf = new byte[size];
        fixed (byte* p = buf) size = Libc.listxattr(path, p, size);
        if (size <= 0) return null;
        Dictionary<string, string>? result = null;
        foreach (var name in Encoding.UTF8.GetString(buf, 0, (int)size).Split('\0', StringSplitOptions.RemoveEmptyEntries))
        {
            if (!name.StartsWith(MetadataPrefix, StringComparison.Ordinal)) continue;
            var len = Libc.getxattr(path, name, null, 0);
            if (len < 0) continue;
            var value = new byte[len];
            fixed (byte* v = value) len = Libc.getxattr(path, name, v, len);
            if (len < 0) continue;
            (result ??= new Dictionary<string, string>(StringComparer.Ordinal))[name[MetadataPrefix.Length..]] = Encoding.UTF8.GetString(value, 0, (int)len);
        }
        return result;
    }

    /// <summary>Replaces the whole metadata set of a file.</summary>
    public static unsafe void WriteMetadata(string path, IReadOnlyDictionary<string, string> metadata)
    {
        foreach (var key in ReadMetadata(path)?.Keys ?? Enumerable.Empty<string>())
            Libc.removexattr(path, MetadataPrefix + key);
        foreach (var (key, value) in metadata)
        {
            var bytes = Encoding.UTF8.GetBytes(value);
            fixed (byte* v = bytes)
            {
                if (Libc.setxattr(path, MetadataPrefix + key, v, bytes.Length, 0) != 0)
                    throw Errors.FromErrno(Marshal.GetLastPInvokeError(), path, "cannot store metadata");
            }
        }
    }
}
