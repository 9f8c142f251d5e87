using Portal.Envd.Connect;
using Portal.Envd.Native;
using Portal.Envd.Users;

namespace Portal.Envd.Filesystem;

/// <summary>
/// Makes missing folders the way E2B's envd does: as envd itself (root), mode 0755, each handed
/// to the user right after it is made. A user gets the folders it asked for even where it could
/// not have made them itself (it can become root anyway: any call may name <c>root</c> as its
/// user), and a watcher of the parent sees each new folder's create, then its chmod.
/// </summary>
public static class OwnedDirectories
{
    private const UnixFileMode Mode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
        | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute;

    /// <summary>Makes <paramref name="dir"/> and every missing folder above it; existing ones are left as they are.</summary>
    public static void Ensure(string dir, EnvdUser user)
    {
        for (var end = dir.IndexOf('/', 1); ; end = dir.IndexOf('/', end + 1))
        {
            var folder = end < 0 ? dir : dir[..end];
            if (folder.Length > 1 && !Directory.Exists(folder)) Make(folder, user);
            if (end < 0) return;
        }
    }

    private static void Make(string folder, EnvdUser user)
    {
        if (File.Exists(folder) || new FileInfo(folder).LinkTarget is not null)
            throw ConnectException.InvalidArgument($"path '{folder}' is not a directory");
        Errors.Guard(folder, () => Directory.CreateDirectory(folder, Mode));
        // Also when another call made it a moment ago and has not handed it over yet.
        if (Libc.chown(folder, user.Uid, user.Gid) != 0)
            throw Errors.FromErrno(System.Runtime.InteropServices.Marshal.GetLastPInvokeError(), folder, "cannot hand over");
    }
}
