using Microsoft.Extensions.Logging;

namespace Portal.Core.Runtime.Local;

/// <summary>
/// LXCFS (Debian's <c>lxcfs</c>): a FUSE file system whose <c>/proc</c> files answer for the cgroup
/// of the process that reads them. Bound over the sandbox's own <c>/proc/meminfo</c>,
/// <c>/proc/cpuinfo</c>, <c>/proc/stat</c>, <c>/proc/uptime</c>... they show its memory limit, its
/// CPU quota (<c>--enable-cfs</c>) and its PID 1's start time, so <c>free</c>, <c>top</c> and
/// <c>uptime</c> inside tell the truth. No library or kernel feature gives this without FUSE
/// (the kernel's /proc shows the host), hence the daemon.
/// </summary>
internal static class Lxcfs
{
    /// <summary>Files of lxcfs's <c>proc/</c> that are bound over the sandbox's. loadavg is left out: it needs lxcfs's -l, a thread that walks every cgroup.</summary>
    public static readonly string[] ProcFiles = ["cpuinfo", "diskstats", "meminfo", "stat", "swaps", "uptime"];

    private static readonly string[] Binaries = ["/usr/bin/lxcfs", "/usr/sbin/lxcfs"];

    /// <summary>
    /// The lxcfs mount at <paramref name="directory"/>, started when it is not mounted yet (the
    /// daemon outlives the portal, like the sandboxes that read it); null when lxcfs is missing
    /// or fails, said once in the log: sandboxes then see the host's figures. A mount whose daemon
    /// is gone (its files answer "transport endpoint is not connected") is detached and replaced.
    /// Runtimes in several processes may start at once: a file lock lets one of them start it.
    /// </summary>
    public static string? Ensure(string directory, ILogger log)
    {
        if (string.IsNullOrEmpty(directory)) return null;
        directory = Path.TrimEndingDirectorySeparator(directory);
        Directory.CreateDirectory(Path.GetDirectoryName(directory)!);
        lock (Gate)
        {
            using var fileLock = new FileStream(directory + ".lock", FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.ReadWrite);
            // FileStream.Lock is fcntl's record lock: it holds across processes, and each runtime's
            // process takes it here (threads of one process are serialised by Gate).
            for (var i = 0; ; i++)
            {
                try { fileLock.Lock(0, 1); break; }
                catch (IOException) when (i < 300) { Thread.Sleep(50); }
            }
            try { return EnsureLocked(directory, log); }
            finally { fileLock.Unlock(0, 1); }
        }
    }

    private static readonly Lock Gate = new();

    private static string? EnsureLocked(string directory, ILogger log)
    {
        // Mounts may be stacked (an older start raced another): the top one is what sandboxes bind.
        for (var i = 0; i < 10 && IsMounted(directory); i++)
        {
            if (Answers(directory)) return directory;
            log.LogWarning("lxcfs at {Directory} no longer answers (its daemon is gone): detaching it and starting lxcfs again; sandboxes started before keep the dead view until they restart", directory);
            Detach(directory);
        }
        var binary = Binaries.FirstOrDefault(File.Exists);
        if (binary is null)
        {
            log.LogWarning("lxcfs is not installed: free, /proc/meminfo, /proc/cpuinfo and uptime inside sandboxes show the host's figures (apt-get install lxcfs, as scripts/install-deps.sh does)");
            return null;
        }
        if (!File.Exists("/dev/fuse"))
        {
            log.LogWarning("/dev/fuse is missing, so lxcfs cannot run: free, /proc/meminfo, /proc/cpuinfo and uptime inside sandboxes show the host's figures (modprobe fuse)");
            return null;
        }
        Directory.CreateDirectory(directory);
        // lxcfs 5 stays in the foreground whatever its flags. setsid -f gives it a session of its
        // own and returns at once; its output goes to a log beside the mount, never to a pipe of
        // ours (it would die of SIGPIPE on its next line once this process is gone).
        var psi = new System.Diagnostics.ProcessStartInfo("/bin/sh") { UseShellExecute = false, RedirectStandardError = true };
        foreach (var a in new[] { "-c", "exec setsid -f \"$0\" --enable-cfs --pidfile \"$1\" \"$2\" </dev/null >>\"$3\" 2>&1",
                     binary, directory + ".pid", directory, directory + ".log" })
            psi.ArgumentList.Add(a);
        string error = "";
        try
        {
            File.Delete(directory + ".pid");
            using var p = System.Diagnostics.Process.Start(psi)!;
            error = p.StandardError.ReadToEnd();
            p.WaitForExit();
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or InvalidOperationException or IOException)
        {
            error = e.Message;
        }
        for (var i = 0; i < 250; i++)
        {
            if (IsMounted(directory) && Answers(directory))
            {
                LeaveOurCgroups(directory, log);
                log.LogInformation("lxcfs started at {Directory}: sandboxes see their own memory, CPUs and uptime in /proc", directory);
                return directory;
            }
            Thread.Sleep(20);
        }
        if (File.Exists(directory + ".log")) error += " " + string.Join(" | ", File.ReadLines(directory + ".log").TakeLast(3));
        log.LogWarning("lxcfs did not mount {Directory} ({Error}): free, /proc/meminfo, /proc/cpuinfo and uptime inside sandboxes show the host's figures", directory, error.Trim());
        return null;
    }

    /// <summary>
    /// Moves the daemon to the root cgroup of every hierarchy: started from the portal it would be
    /// in the portal's cgroup (a systemd unit's, say), and stopping the portal would then kill the
    /// view every running sandbox reads its /proc files from.
    /// </summary>
    private static void LeaveOurCgroups(string directory, ILogger log)
    {
        if (!File.Exists(directory + ".pid") || !int.TryParse(File.ReadAllText(directory + ".pid").Trim(), out var pid)) return;
        var roots = File.Exists("/sys/fs/cgroup/cgroup.controllers")
            ? ["/sys/fs/cgroup/cgroup.procs"]
            : Directory.GetDirectories("/sys/fs/cgroup").Select(d => Path.Combine(d, "cgroup.procs")).Where(File.Exists).ToArray();
        foreach (var procs in roots)
        {
            try { File.WriteAllText(procs, pid.ToString(System.Globalization.CultureInfo.InvariantCulture)); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                log.LogInformation("lxcfs (pid {Pid}) stays in its cgroup of {Procs} ({Error}): stopping the portal's cgroup stops it too", pid, procs, e.Message);
            }
        }
    }

    /// <summary>Whether the mount's daemon serves it: a dead FUSE daemon leaves a mount whose every stat fails.</summary>
    internal static bool Answers(string directory)
    {
        try { return File.Exists(Path.Combine(directory, "proc", "meminfo")); }
        catch (IOException) { return false; }
    }

    private static void Detach(string directory)
    {
        // The dead mount leaves the namespace now, even while sandboxes hold binds of it.
        if (!NativeSignals.Unmount(directory))
            throw new InvalidOperationException($"could not detach the dead lxcfs mount at {directory} ({System.Runtime.InteropServices.Marshal.GetLastPInvokeErrorMessage()}): umount -l {directory}");
    }

    /// <summary>Whether an lxcfs file system is mounted at <paramref name="directory"/> (its type is fuse.lxcfs).</summary>
    public static bool IsMounted(string directory)
    {
        foreach (var line in File.ReadLines("/proc/self/mountinfo"))
        {
            var fields = line.Split(' ');
            var dash = Array.IndexOf(fields, "-");
            if (fields.Length > 4 && dash > 0 && dash + 1 < fields.Length && fields[4] == directory && fields[dash + 1].Contains("lxcfs", StringComparison.Ordinal))
                return true;
        }
        return false;
    }
}
