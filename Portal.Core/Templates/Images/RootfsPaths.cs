using System.Runtime.InteropServices;

namespace Portal.Core.Templates.Images;

/// <summary>
/// Paths inside a root filesystem being assembled on the host, handled without ever following a
/// symlink the image put there: an image's links point into the image, and followed here they
/// would point into the host.
/// </summary>
internal static partial class RootfsPaths
{
    public enum Kind { None, Directory, File, Symlink }

    /// <summary>What is at <paramref name="path"/> itself (lstat): a symlink is reported, not followed.</summary>
    public static Kind KindOf(string path)
    {
        var info = new FileInfo(path);
        if (info.LinkTarget is not null) return Kind.Symlink;
        if (Directory.Exists(path)) return Kind.Directory;
        return info.Exists ? Kind.File : Kind.None;
    }

    /// <summary>
    /// Splits an archive entry name into clean components: <c>./</c> prefixes and <c>.</c> parts
    /// dropped, <c>..</c> and absolute names refused (the entry would land outside the root).
    /// Empty for the root itself.
    /// </summary>
    public static string[] Components(string name, string what)
    {
        if (name.StartsWith('/')) throw ImageErrors.Refused($"{what}: entry '{name}' has an absolute path");
        if (name.Contains('\0')) throw ImageErrors.Refused($"{what}: entry name holds a NUL byte");
        var parts = name.Split('/', StringSplitOptions.RemoveEmptyEntries).Where(p => p != ".").ToArray();
        if (parts.Contains("..")) throw ImageErrors.Refused($"{what}: entry '{name}' climbs out with '..'");
        return parts;
    }

    /// <summary>
    /// The host path of <paramref name="parts"/> under <paramref name="root"/> after making sure every
    /// parent is a real directory (created 0755 when missing). A parent that is a symlink or a file
    /// refuses the entry: writing through it could leave the root. Null when a parent is missing
    /// and <paramref name="create"/> is false.
    /// </summary>
    public static string? PrepareParents(string root, string[] parts, string what, bool create = true)
    {
        var path = root;
        for (var i = 0; i < parts.Length - 1; i++)
        {
            path = Path.Combine(path, parts[i]);
            switch (KindOf(path))
            {
                case Kind.Directory: break;
                case Kind.None when create: Directory.CreateDirectory(path); break;
                case Kind.None: return null;
                case Kind.Symlink: throw ImageErrors.Refused($"{what}: entry '{string.Join('/', parts)}' goes through the symlink '{string.Join('/', parts[..(i + 1)])}'");
                default: throw ImageErrors.Refused($"{what}: entry '{string.Join('/', parts)}' goes through '{string.Join('/', parts[..(i + 1)])}', which is not a directory");
            }
        }
        return parts.Length == 0 ? root : Path.Combine(path, parts[^1]);
    }

    /// <summary>Removes whatever is at <paramref name="path"/> (a link itself, not its target; a directory with its contents).</summary>
    public static void Remove(string path)
    {
        switch (KindOf(path))
        {
            case Kind.Directory: Directory.Delete(path, recursive: true); break;
            case Kind.File or Kind.Symlink: File.Delete(path); break;
        }
    }

    /// <summary>
    /// Resolves <paramref name="inside"/> as a process chrooted to <paramref name="root"/> would,
    /// links followed within the root (at most 40, like the kernel); null when nothing is there.
    /// </summary>
    public static string? ResolveInside(string root, string inside)
    {
        var pending = new Stack<string>(inside.Split('/', StringSplitOptions.RemoveEmptyEntries).Reverse());
        var done = new List<string>();
        for (var links = 0; pending.Count > 0;)
        {
            var part = pending.Pop();
            if (part == ".") continue;
            if (part == "..") { if (done.Count > 0) done.RemoveAt(done.Count - 1); continue; }
            var path = Path.Combine([root, .. done, part]);
            var kind = KindOf(path);
            if (kind == Kind.None) return null;
            if (kind != Kind.Symlink) { done.Add(part); continue; }
            if (++links > 40) return null;
            var target = new FileInfo(path).LinkTarget!;
            if (target.StartsWith('/')) done.Clear();
            foreach (var p in target.Split('/', StringSplitOptions.RemoveEmptyEntries).Reverse()) pending.Push(p);
        }
        return Path.Combine([root, .. done]);
    }

    public static void Lchown(string path, int uid, int gid)
    {
        if (SysLchown(path, uid, gid) != 0)
            throw new IOException($"lchown {path}: {Marshal.GetLastPInvokeErrorMessage()}");
    }

    public static void Link(string existing, string path)
    {
        if (SysLink(existing, path) != 0)
            throw new IOException($"link {path}: {Marshal.GetLastPInvokeErrorMessage()}");
    }

    // .NET has no lchown or link(2); these are the two calls keeping owners and hard links needs.
    [LibraryImport("libc", EntryPoint = "lchown", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int SysLchown(string path, int uid, int gid);

    [LibraryImport("libc", EntryPoint = "link", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int SysLink(string existing, string path);
}
