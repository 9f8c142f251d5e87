using System.Runtime.InteropServices;

namespace Portal.Core.Runtime.Local;

internal static partial class NativeSignals
{
    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int SysKill(int pid, int sig);

    [LibraryImport("libc", EntryPoint = "umount2", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int SysUmount2(string target, int flags);

    public static void Kill(int pid, int signal) => SysKill(pid, signal);

    /// <summary>Lazy detach (MNT_DETACH): the mount goes away once nothing uses it.</summary>
    public static bool Unmount(string target) => SysUmount2(target, 2) == 0;
}
