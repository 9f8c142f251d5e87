using Microsoft.Win32.SafeHandles;

namespace Portal.Envd.Process;

/// <summary>
/// Starts the sandbox's processes in the user processes' cgroup, not envd's own, when the runtime
/// provides one (the local runtime on cgroup v1 bind-mounts two <c>tasks</c> files into
/// <c>/run/portal/cgroup</c>). That cgroup's pids limit is below the sandbox's, so a fork bomb
/// cannot take the pids envd needs for its threads. The spawning thread moves itself there, forks
/// (the child starts in the thread's cgroup, so nothing it forks can escape), and moves back.
/// </summary>
public static class UserCgroup
{
    public const string Directory = "/run/portal/cgroup";

    private static readonly Lock Gate = new();
    private static readonly (SafeFileHandle User, SafeFileHandle Agent)? Files = Open();

    /// <summary>Whether processes start in a separate cgroup (false outside the local runtime).</summary>
    public static bool Enabled => Files is not null;

    private static (SafeFileHandle, SafeFileHandle)? Open()
    {
        var user = Path.Combine(Directory, "user.tasks");
        var agent = Path.Combine(Directory, "agent.tasks");
        if (!File.Exists(user) || !File.Exists(agent)) return null;
        try
        {
            return (File.OpenHandle(user, FileMode.Open, FileAccess.Write), File.OpenHandle(agent, FileMode.Open, FileAccess.Write));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine($"envd: user cgroup unavailable, processes share envd's pids limit: {e.Message}");
            return null;
        }
    }

    /// <summary>Runs <paramref name="spawn"/> (which forks on this thread) with this thread in the user cgroup.</summary>
    public static T Spawn<T>(Func<T> spawn)
    {
        if (Files is not { } files) return spawn();
        // One spawn at a time: the thread must be back in envd's cgroup before anything else runs
        // on it, and Process.Start itself serialises forks anyway.
        lock (Gate)
        {
            Move(files.User); // "0": the writing thread
            try { return spawn(); }
            finally { Move(files.Agent); }
        }
    }

    private static void Move(SafeFileHandle tasks) => RandomAccess.Write(tasks, "0"u8, 0);
}
