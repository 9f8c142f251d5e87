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
    /// or fails, said once in the log: sandboxes then see the host's figures.
    /// </summary>
    public static string? Ensure(string directory, ILogger log)
    {
        if (string.IsNullOrEmpty(directory)) return null;
        directory = Path.TrimEndingDirectorySeparator(directory);
        if (IsMounted(directory)) return directory;
        var binary = Binaries.FirstOrDefault(File.Exists);
        if (binary is null)
        {
            log.LogWarning("lxcfs is not installed: free, /proc/meminfo, /proc/cpuinfo and uptime inside sandboxes show the host's figures (apt-get install lxcfs, as scripts/install-deps.sh does)");
            return null;
        }
        if (!File.Exists("/dev/fuse"))
        {
            log.LogWarning("/dev/fuse is missing, so lxcfs cannot run: free, /proc/meminfo, /proc/cpuinfo and uptime inside sandboxes show the host's figures");
            return null;
        }
        Directory.CreateDirectory(directory);
        var psi = new System.Diagnostics.ProcessStartInfo(binary) { UseShellExecute = false, RedirectStandardError = true, RedirectStandardOutput = true };
        // Without -f it daemonizes: the parent returns once the mount is being set up.
        foreach (var a in new[] { "--enable-cfs", "--pidfile", directory + ".pid", directory }) psi.ArgumentList.Add(a);
        string error;
        try
        {
            using var p = System.Diagnostics.Process.Start(psi)!;
            error = p.StandardError.ReadToEndAsync().WaitAsync(TimeSpan.FromSeconds(10)).GetAwaiter().GetResult();
            p.WaitForExit(10_000);
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or InvalidOperationException or TimeoutException)
        {
            error = e.Message;
        }
        for (var i = 0; i < 100; i++)
        {
            if (IsMounted(directory))
            {
                log.LogInformation("lxcfs started at {Directory}: sandboxes see their own memory, CPUs and uptime in /proc", directory);
                return directory;
            }
            Thread.Sleep(20);
        }
        log.LogWarning("lxcfs did not mount {Directory} ({Error}): free, /proc/meminfo, /proc/cpuinfo and uptime inside sandboxes show the host's figures", directory, error.Trim());
        return null;
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
