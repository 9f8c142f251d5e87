using System.Globalization;

namespace Portal.Envd.Process;

/// <summary>
/// Turns a child's exit into the <c>end</c> event E2B's envd sends, whose texts are Go's
/// <c>os.ProcessState</c> strings (<c>exit status 2</c>, <c>signal: killed</c>).
/// </summary>
public static class ExitStatus
{
    /// <param name="exitCode">What .NET reports: the exit status, or 128+N after signal N.</param>
    /// <param name="signalsSent">Bit N set when envd itself delivered signal N. .NET folds
    /// "killed by signal N" into 128+N, so a code above 128 counts as a signal death only
    /// when envd sent that signal (kill, SendSignal, deadline); otherwise it is a plain exit.</param>
    public static EndEvent From(int exitCode, ulong signalsSent)
    {
        var signal = exitCode - 128;
        if (signal is > 0 and < 64 && (signalsSent & (1UL << signal)) != 0)
            return Signaled(signal);
        return Exited(exitCode);
    }

    public static EndEvent Exited(int code)
    {
        var status = "exit status " + code.ToString(CultureInfo.InvariantCulture);
        return new EndEvent { ExitCode = code, Exited = true, Status = status, Error = code == 0 ? null : status };
    }

    public static EndEvent Signaled(int signal)
    {
        var status = "signal: " + SignalName(signal);
        return new EndEvent { ExitCode = -1, Exited = false, Status = status, Error = status };
    }

    /// <summary>Go's <c>syscall.Signal.String()</c> texts on Linux.</summary>
    public static string SignalName(int signal) => signal switch
    {
        1 => "hangup",
        2 => "interrupt",
        3 => "quit",
        4 => "illegal instruction",
        5 => "trace/breakpoint trap",
        6 => "aborted",
        7 => "bus error",
        8 => "floating point exception",
        9 => "killed",
        10 => "user defined signal 1",
        11 => "segmentation fault",
        12 => "user defined signal 2",
        13 => "broken pipe",
        14 => "alarm clock",
        15 => "terminated",
        _ => "signal " + signal.ToString(CultureInfo.InvariantCulture),
    };
}
