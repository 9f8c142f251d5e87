using System.Runtime.InteropServices;

namespace Portal.Core.Runtime.Local;

internal static partial class NativeSignals
{
    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int SysKill(int pid, int sig);

    [LibraryImport("libc", EntryPoint = "umount2", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int SysUmount2(string target, int flags);

    [LibraryImport("libc", EntryPoint = "mount", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int SysMount(string source, string target, string fstype, nuint flags, string data);

    public static void Kill(int pid, int signal) => SysKill(pid, signal);

    /// <summary>mount(2) itself: spawning /bin/mount for every sandbox cost a process start on the create path.</summary>
    public static void Mount(string source, string target, string fstype, string data)
    {
        if (SysMount(source, target, fstype, 0, data) != 0)
            throw new IOException($"mount -t {fstype} {source} {target} -o {data}: {Marshal.GetLastPInvokeErrorMessage()}");
    }

    /// <summary>Lazy detach (MNT_DETACH): the mount goes away once nothing uses it.</summary>
    public static bool Unmount(string target) => SysUmount2(target, 2) == 0;
}
