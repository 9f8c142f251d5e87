using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;
using Portal.Envd.Connect;
using Portal.Envd.Filesystem;
using Portal.Envd.Native;
using Portal.Envd.Users;

namespace Portal.Envd.Files;

/// <summary>
/// Opens the file an upload is written to, as E2B's envd does, so that a watcher sees the same
/// events: a new file is made by envd itself (root) in folders made the same way
/// (<see cref="OwnedDirectories"/>), handed to the user, then written — create, chmod, write.
/// An existing file is opened with the user's own identity, so that a user can never overwrite
/// a file it may not write, then handed to the user and emptied — chmod, write — before the new
/// content arrives.
/// </summary>
internal static class UploadTarget
{
    /// <summary>The open file, and whether this upload made it (a broken-off upload removes only what it made).</summary>
    public static (SafeFileHandle Handle, bool Created) Open(string path, EnvdUser user)
    {
        if (Directory.Exists(path)) throw ConnectException.InvalidArgument($"path '{path}' is a directory");
        if (!File.Exists(path))
        {
            OwnedDirectories.Ensure(Path.GetDirectoryName(path)!, user);
            try
            {
                var made = Errors.Guard(path, () => File.OpenHandle(path, FileMode.CreateNew, FileAccess.Write, FileShare.Read));
                HandOver(made, path, user, removeOnFailure: true);
                return (made, true);
            }
            catch (ConnectException) when (File.Exists(path))
            {
                // Another writer made it a moment ago: overwrite it as an existing file.
            }
        }
        var existing = FsIdentity.RunAs(user, () => Errors.Guard(path, () => File.OpenHandle(path, FileMode.Open, FileAccess.Write, FileShare.Read)));
        HandOver(existing, path, user, removeOnFailure: false);
        RandomAccess.SetLength(existing, 0);
        return (existing, false);
    }

    private static void HandOver(SafeFileHandle handle, string path, EnvdUser user, bool removeOnFailure)
    {
        if (Libc.fchown(handle, user.Uid, user.Gid) == 0) return;
        var errno = Marshal.GetLastPInvokeError();
        handle.Dispose();
        if (removeOnFailure) File.Delete(path);
        throw Errors.FromErrno(errno, path, "cannot hand over");
    }
}
