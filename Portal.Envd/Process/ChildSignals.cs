using System.Runtime.InteropServices;

namespace Portal.Envd.Process;

/// <summary>
/// Commands must start with default signal dispositions, as under E2B's envd: <c>yes | head -1</c>
/// ends quietly with status 141, not with "Broken pipe". The .NET runtime sets SIGPIPE to
/// ignored in envd (so a write to a closed pipe fails with EPIPE instead of killing envd), and
/// Process.Start keeps ignored signals ignored in the child while resetting handled ones to
/// their default. So envd handles SIGPIPE, doing nothing, instead of ignoring it.
/// </summary>
public static partial class ChildSignals
{
    public const int SigPipe = 13;
    private static readonly Lock Gate = new();
    private static PosixSignalRegistration? _sigpipe;

    [LibraryImport("libc", EntryPoint = "signal")]
    internal static partial nint Signal(int signal, nint handler);

    /// <summary>Call once at start-up, before any child or pipe exists.</summary>
    public static void Install()
    {
        lock (Gate)
        {
            if (_sigpipe is not null) return;
            // The runtime only hooks signals that are not ignored: un-ignore first.
            Signal(SigPipe, 0 /* SIG_DFL */);
            _sigpipe = PosixSignalRegistration.Create((PosixSignal)SigPipe, c => c.Cancel = true);
        }
    }
}
