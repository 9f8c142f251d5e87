using Microsoft.Win32.SafeHandles;

namespace Portal.Envd.Process;

/// <summary>
/// Makes the processes envd starts the OOM killer's first choice and envd its last. A sandbox
/// that runs out of memory must lose the process that used it, not its agent (whose loss takes
/// the whole sandbox). The local runtime's launcher gives envd <c>oom_score_adj</c> -1000 where
/// the host allows; children would inherit that, so the spawning thread raises envd's score to
/// <see cref="Child"/> just around the fork (the child inherits the raised score from its first
/// instruction, before it can fork anything) and lowers it back. Raising needs no privilege;
/// lowering back is allowed down to the value envd started with.
/// </summary>
public static class OomScore
{
    /// <summary>
    /// The score processes start with: +500 ranks any of them above envd even when envd has 0
    /// (a host without CAP_SYS_RESOURCE) and is much larger than they are.
    /// </summary>
    public const int Child = 500;

    private const string OwnFile = "/proc/self/oom_score_adj";
    private static readonly Lock Gate = new();
    private static readonly (SafeFileHandle File, int Own)? State = Open();

    private static (SafeFileHandle, int)? Open()
    {
        try
        {
            var own = int.Parse(File.ReadAllText(OwnFile).Trim(), System.Globalization.CultureInfo.InvariantCulture);
            // Already ranked at or above the children (a host that raised envd on purpose): leave as is.
            return own >= Child ? null : (File.OpenHandle(OwnFile, FileMode.Open, FileAccess.Write), own);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException)
        {
            Console.Error.WriteLine($"envd: cannot adjust OOM scores, processes rank with envd for the OOM killer: {e.Message}");
            return null;
        }
    }

    /// <summary>Runs <paramref name="spawn"/> (which forks) with envd's score raised to <see cref="Child"/>.</summary>
    public static T Spawn<T>(Func<T> spawn)
    {
        if (State is not { } state) return spawn();
        // One spawn at a time: the score belongs to the whole process, so no spawn may fork
        // after another one has already put it back.
        lock (Gate)
        {
            Write(state.File, Child);
            try { return spawn(); }
            finally { Write(state.File, state.Own); }
        }
    }

    private static void Write(SafeFileHandle file, int value)
    {
        try { RandomAccess.Write(file, System.Text.Encoding.ASCII.GetBytes(value.ToString(System.Globalization.CultureInfo.InvariantCulture)), 0); }
        catch (IOException e) { Console.Error.WriteLine($"envd: writing oom_score_adj {value}: {e.Message}"); }
    }
}
