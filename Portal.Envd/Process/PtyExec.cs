using System.Runtime.InteropServices;
using System.Text;
using Portal.Envd.Native;

namespace Portal.Envd.Process;

/// <summary>
/// Helper mode of the envd binary: <c>envd __pty-exec [--tty PATH] [--null-stdin] -- CMD ARGS...</c>.
/// System.Diagnostics.Process cannot start a child in a new session, on a given terminal or
/// with stdin on /dev/null, so envd starts itself in this mode (already as the target user,
/// with the final environment and cwd) and this code fixes up the process, then execs the
/// command in place: the pid envd knows is the command's pid, and a session leader, so one
/// kill(-pid) reaches everything the command spawned.
/// Runs before any host is built; exits 127/126 like a shell when the exec fails.
/// </summary>
public static class PtyExec
{
    public const string Verb = "__pty-exec";

    public static int Run(string[] args)
    {
        string? tty = null;
        var nullStdin = false;
        var i = 1;
        for (; i < args.Length && args[i] != "--"; i++)
        {
            switch (args[i])
            {
                case "--tty" when i + 1 < args.Length: tty = args[++i]; break;
                case "--null-stdin": nullStdin = true; break;
                default: return Fail($"unknown option '{args[i]}'", 2);
            }
        }
        if (i + 1 >= args.Length) return Fail("usage: __pty-exec [--tty PATH] [--null-stdin] -- CMD [ARGS...]", 2);
        var argv = args[(i + 1)..];

        // Own session (and process group): a deadline or kill reaches the whole tree.
        Libc.setsid();

        if (tty is not null)
        {
            // Opening a terminal without O_NOCTTY as a session leader makes it the controlling
            // terminal; TIOCSCTTY makes that explicit.
            var fd = Libc.open(tty, Libc.O_RDWR, 0);
            if (fd < 0) return Fail($"open {tty}: {Marshal.GetLastPInvokeErrorMessage()}", 126);
            Libc.ioctl(fd, Libc.TIOCSCTTY, 0);
            for (var std = 0; std <= 2; std++) Libc.dup2(fd, std);
            if (fd > 2) Libc.close(fd);
        }
        else if (nullStdin)
        {
            var fd = Libc.open("/dev/null", Libc.O_RDONLY, 0);
            if (fd >= 0)
            {
                Libc.dup2(fd, 0);
                if (fd > 0) Libc.close(fd);
            }
        }

        RemoveDiagnosticsSocket(Environment.ProcessId, Path.GetTempPath());
        ResetSignals();
        // Descriptors envd itself inherited without close-on-exec must not reach the command.
        // Marked, not closed: the runtime still uses its own until exec replaces it.
        Libc.close_range(3, uint.MaxValue, Libc.CLOSE_RANGE_CLOEXEC);

        var execArgv = new string?[argv.Length + 1];
        Array.Copy(argv, execArgv, argv.Length);
        Libc.execvp(argv[0], execArgv);
        var errno = Marshal.GetLastPInvokeError();
        return Fail($"exec {argv[0]}: {Marshal.GetPInvokeErrorMessage(errno)}", errno == Libc.ENOENT ? 127 : 126);
    }

    /// <summary>
    /// exec keeps ignored signals ignored and the signal mask; the .NET runtime ignores SIGPIPE,
    /// which would make `yes | head` spin. Handled signals reset themselves on exec, so only
    /// ignored ones are touched (resetting the runtime's own handlers here could kill us).
    /// </summary>
    private static unsafe void ResetSignals()
    {
        var old = stackalloc byte[Libc.SigactionSize];
        for (var sig = 1; sig < 65; sig++)
        {
            if (sig is Libc.SIGKILL or Libc.SIGSTOP or 32 or 33) continue; // 32/33: glibc-internal
            if (Libc.sigaction(sig, null, old) == 0 && *(nint*)old == Libc.SIG_IGN)
                Libc.signal(sig, Libc.SIG_DFL);
        }
        var empty = stackalloc byte[Libc.SigsetSize];
        new Span<byte>(empty, Libc.SigsetSize).Clear();
        Libc.pthread_sigmask(Libc.SIG_SETMASK, empty, null);
    }

    /// <summary>
    /// A JIT-mode runtime opens a diagnostics socket in the temp dir and deletes it at
    /// shutdown, which exec skips: remove ours so commands leave no litter. (NativeAOT has none.)
    /// envd repeats this after the process ends, for helpers killed before they got here.
    /// </summary>
    internal static void RemoveDiagnosticsSocket(int pid, string tempDir)
    {
        try
        {
            foreach (var f in Directory.EnumerateFiles(tempDir, $"dotnet-diagnostic-{pid}-*-socket"))
                File.Delete(f);
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }

    private static unsafe int Fail(string message, int code)
    {
        // Raw write: initialising System.Console could reconfigure a terminal on fd 2.
        var bytes = Encoding.UTF8.GetBytes("portal-envd: " + message + "\n");
        fixed (byte* p = bytes) Libc.write(2, p, (nuint)bytes.Length);
        return code;
    }
}
