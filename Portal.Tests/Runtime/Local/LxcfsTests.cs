using Microsoft.Extensions.Logging.Abstractions;
using Portal.Core.Runtime.Local;

namespace Portal.Tests.Runtime.Local;

/// <summary>
/// The real lxcfs daemon on a mount of the test's own: a runtime that starts after the daemon died
/// (its mount left behind, every file "transport endpoint is not connected") gets a working view
/// again instead of silently giving sandboxes the host's figures.
/// </summary>
public sealed class LxcfsTests
{
    [Fact]
    public void ADeadDaemonsMount_IsDetachedAndLxcfsStartedAgain_ConcurrentStartsShareOneDaemon()
    {
        Assert.SkipUnless(Environment.IsPrivilegedProcess && File.Exists("/usr/bin/lxcfs"), "needs root and Debian's lxcfs (scripts/install-deps.sh)");
        var directory = Path.Combine(Path.GetTempPath(), "portal-lxcfs-test-" + Guid.NewGuid().ToString("N")[..8]);
        try
        {
            // Four runtimes starting at once: one daemon, one mount.
            var results = new string?[4];
            Parallel.For(0, results.Length, i => results[i] = Lxcfs.Ensure(directory, NullLogger.Instance));
            Assert.All(results, r => Assert.Equal(directory, r));
            Assert.Single(File.ReadLines("/proc/self/mountinfo"), l => l.Split(' ')[4] == directory);
            Assert.Contains("MemTotal:", File.ReadAllText(Path.Combine(directory, "proc", "meminfo")));

            var daemon = int.Parse(File.ReadAllText(directory + ".pid").Trim());
            System.Diagnostics.Process.GetProcessById(daemon).Kill();
            for (var i = 0; i < 100 && Lxcfs.Answers(directory); i++) Thread.Sleep(50);
            Assert.True(Lxcfs.IsMounted(directory));
            Assert.False(Lxcfs.Answers(directory));

            Assert.Equal(directory, Lxcfs.Ensure(directory, NullLogger.Instance));
            Assert.True(Lxcfs.Answers(directory));
            Assert.Contains("MemTotal:", File.ReadAllText(Path.Combine(directory, "proc", "meminfo")));
            Assert.NotEqual(daemon, int.Parse(File.ReadAllText(directory + ".pid").Trim()));
        }
        finally
        {
            if (File.Exists(directory + ".pid") && int.TryParse(File.ReadAllText(directory + ".pid").Trim(), out var pid))
                try { System.Diagnostics.Process.GetProcessById(pid).Kill(); } catch (ArgumentException) { }
            for (var i = 0; i < 10 && Lxcfs.IsMounted(directory); i++) NativeSignals.Unmount(directory);
            try { Directory.Delete(directory); } catch (IOException) { }
            File.Delete(directory + ".pid");
            File.Delete(directory + ".lock");
            File.Delete(directory + ".log");
        }
    }
}
