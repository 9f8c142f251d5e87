using System.Runtime.InteropServices;
using System.Text;

namespace Portal.Core.Runtime.Local;

/// <summary>
/// Sets the hostname of a sandbox's UTS namespace from outside (a warm sandbox handed out
/// under its final ID): root inside may not, it has no CAP_SYS_ADMIN and /proc/sys is read-only.
/// Runs on a short-lived thread of its own, because setns moves only the calling thread into
/// the namespace; the thread ends right after, so no other work ever runs there.
/// </summary>
internal static partial class SandboxHostname
{
    private const int CloneNewUts = 0x04000000;

    [LibraryImport("libc", EntryPoint = "setns", SetLastError = true)]
    private static partial int SetNs(int fd, int nstype);

    [LibraryImport("libc", EntryPoint = "sethostname", SetLastError = true)]
    private static partial int SetHostName(byte[] name, nuint len);

    public static void Set(int pidInSandbox, string hostname)
    {
        Exception? error = null;
        var thread = new Thread(() =>
        {
            try
            {
                using var ns = File.OpenHandle($"/proc/{pidInSandbox}/ns/uts");
                if (SetNs((int)ns.DangerousGetHandle(), CloneNewUts) != 0)
                    throw new IOException($"setns into the UTS namespace of pid {pidInSandbox}: {Marshal.GetLastPInvokeErrorMessage()}");
                var name = Encoding.ASCII.GetBytes(hostname);
                if (SetHostName(name, (nuint)name.Length) != 0)
                    throw new IOException($"sethostname: {Marshal.GetLastPInvokeErrorMessage()}");
            }
            catch (Exception e)
            {
                error = e;
            }
        }, maxStackSize: 256 * 1024) { IsBackground = true, Name = "sandbox-hostname" };
        thread.Start();
        thread.Join();
        if (error is not null) throw error;
    }
}
