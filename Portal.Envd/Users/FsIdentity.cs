using System.Runtime.InteropServices;
using Portal.Envd.Connect;
using Portal.Envd.Native;

namespace Portal.Envd.Users;

/// <summary>
/// Runs synchronous file-system work with a user's identity on the calling thread only:
/// Linux keeps fsuid, fsgid and supplementary groups per thread when set by raw syscalls
/// (glibc's wrappers would broadcast them to every thread). The kernel then checks
/// permissions as that user and new files are owned by them; root's DAC override is
/// dropped while the fsuid is non-zero. Never await inside <paramref name="work"/>.
/// </summary>
public static class FsIdentity
{
    private static readonly bool IsRoot = Libc.geteuid() == 0;
    private static readonly (long SetGroups, long SetFsUid, long SetFsGid) Nr =
        RuntimeInformation.ProcessArchitecture == Architecture.Arm64 ? (159, 151, 152) : (116, 122, 123);

    public static T RunAs<T>(EnvdUser user, Func<T> work)
    {
        if (!IsRoot || user.IsRoot)
        {
            if (!IsRoot && user.Uid != Libc.geteuid())
                throw ConnectException.PermissionDenied($"envd is not running as root and cannot act as user '{user.Name}'");
            return work();
        }
        Become(user);
        try
        {
            return work();
        }
        finally
        {
            BecomeRoot();
        }
    }

    public static void RunAs(EnvdUser user, Action work) => RunAs(user, () => { work(); return 0; });

    private static unsafe void Become(EnvdUser user)
    {
        fixed (uint* groups = user.Groups)
        {
            Check(Libc.syscall(Nr.SetGroups, user.Groups.Length, groups, 0), "setgroups");
        }
        Libc.syscall(Nr.SetFsGid, user.Gid, 0, 0);
        Libc.syscall(Nr.SetFsUid, user.Uid, 0, 0);
    }

    private static unsafe void BecomeRoot()
    {
        Libc.syscall(Nr.SetFsUid, 0, 0, 0);
        Libc.syscall(Nr.SetFsGid, 0, 0, 0);
        Libc.syscall(Nr.SetGroups, 0, (uint*)null, 0);
    }

    private static void Check(long rc, string what)
    {
        if (rc < 0) throw ConnectException.Internal($"{what} failed: errno {Marshal.GetLastPInvokeError()}");
    }
}
