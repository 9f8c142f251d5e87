using System.Runtime.InteropServices;
using Portal.Envd.Native;

namespace Portal.Envd.Process;

/// <summary>
/// envd's helper mode for terminals: <c>portal-envd __pty-exec SLAVE CMD [ARGS...]</c>.
/// .NET cannot give a child an arbitrary fd or a new session, so envd starts itself (already
/// as the target user) and this code makes the child a session leader, takes the terminal
/// as its controlling tty and on stdin/stdout/stderr, then execs the real command.
/// </summary>
public static class PtyExec
{
    public const string Verb = "__pty-exec";

    public static int Run(string[] args)
    {
        if (args.Length < 3)
        {
            Console.Error.WriteLine($"usage: portal-envd {Verb} <tty> <cmd> [args...]");
            return 2;
        }
        var tty = args[1];
        Libc.setsid();
        var fd = Libc.open(tty, Libc.O_RDWR, 0);
        if (fd < 0)
        {
            Console.Error.WriteLine($"portal-envd: cannot open {tty}: errno {Marshal.GetLastPInvokeError()}");
            return 126;
        }
        Libc.ioctl(fd, Libc.TIOCSCTTY, 0);
        for (var target = 0; target <= 2; target++) Libc.dup2(fd, target);
        if (fd > 2) Libc.close(fd);

        var argv = new string?[args.Length - 1];
        Array.Copy(args, 2, argv, 0, args.Length - 2);
        argv[^1] = null;
        ChildSignals.Signal(ChildSignals.SigPipe, 0 /* SIG_DFL: this helper's runtime ignored it */);
        Libc.execvp(args[2], argv);
        var error = Marshal.GetLastPInvokeError();
        Console.Error.WriteLine($"portal-envd: cannot run '{args[2]}': errno {error}");
        return error == 2 ? 127 : 126;
    }

    /// <summary>
    /// How to start envd itself: the native file when we are it, else <c>dotnet portal-envd.dll</c>
    /// (development, and hosts such as test runners that load envd as a library).
    /// </summary>
    public static (string FileName, string[] Prefix) SelfCommand()
    {
        var path = Environment.ProcessPath ?? throw new InvalidOperationException("cannot find envd's own executable");
        if (Path.GetFileName(path) == "portal-envd") return (path, [Verb]);
        var dll = Path.Combine(AppContext.BaseDirectory, "portal-envd.dll");
        var dotnet = Path.GetFileNameWithoutExtension(path) == "dotnet"
            ? path
            : Path.GetFullPath(Path.Combine(System.Runtime.InteropServices.RuntimeEnvironment.GetRuntimeDirectory(), "..", "..", "..", "dotnet"));
        return (dotnet, [dll, Verb]);
    }
}
