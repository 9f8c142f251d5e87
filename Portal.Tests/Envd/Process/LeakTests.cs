using static Portal.Tests.Envd.Process.ProcessTestUtil;

namespace Portal.Tests.Envd.Process;

[CollectionDefinition(nameof(LeakTests), DisableParallelization = true)]
public sealed class LeakTestsCollection;

/// <summary>
/// Many runs leave no open descriptors and no zombies behind. Runs alone: other tests'
/// processes would move the counts.
/// </summary>
[Collection(nameof(LeakTests))]
public class LeakTests
{
    [Fact]
    public async Task ManyRuns_LeakNoDescriptorsOrZombies()
    {
        await using var envd = await EnvdServer.StartAsync();
        await ProcessStream.RunAsync(envd, "true"); // warm up lazily created runtime state
        await using (var s = await ProcessStream.StartAsync(envd, new { process = new { cmd = "/bin/bash", args = new[] { "-i" } }, pty = new { size = new { cols = 80, rows = 24 } } }))
        {
            await SignalAsync(envd, new { pid = s.Pid }, "SIGNAL_SIGKILL");
            await s.ReadToEndAsync();
        }
        var before = OpenDescriptors();

        for (var i = 0; i < 25; i++)
        {
            await using (var s = await ProcessStream.RunAsync(envd, "echo $0 >&2; exit 1", stdin: i % 2 == 0 ? true : false))
                Assert.Equal(1, s.ExitCode);
            await using (var p = await ProcessStream.StartAsync(envd, new { process = new { cmd = "/bin/sh", args = new[] { "-c", "exit 2" } }, pty = new { size = new { cols = 80, rows = 24 } } }))
            {
                await p.ReadToEndAsync();
                Assert.Equal(2, p.ExitCode);
            }
        }

        await WaitUntilAsync(() => Zombies().Count == 0, TimeSpan.FromSeconds(5), "no zombie children");
        // Sockets and runtime handles come and go with connection pools; pipes and terminals
        // are what a process leak would leave behind.
        await WaitUntilAsync(() => OpenDescriptors() <= before, TimeSpan.FromSeconds(5),
            $"pipe/terminal descriptors back to {before} (now {OpenDescriptors()}: {string.Join(", ", DescriptorTargets())})");
    }

    private static int OpenDescriptors() => DescriptorTargets().Count(t => t.StartsWith("pipe:", StringComparison.Ordinal) || t.StartsWith("/dev/pt", StringComparison.Ordinal));

    private static List<string> DescriptorTargets()
    {
        var targets = new List<string>();
        foreach (var fd in Directory.GetFiles("/proc/self/fd"))
        {
            try { targets.Add(new FileInfo(fd).LinkTarget ?? "?"); }
            catch (IOException) { } // closed meanwhile
        }
        return targets;
    }

    private static List<int> Zombies()
    {
        var self = Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture);
        var result = new List<int>();
        foreach (var dir in Directory.GetDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid)) continue;
            try
            {
                var stat = File.ReadAllText(Path.Combine(dir, "stat"));
                var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                if (fields[0] == "Z" && fields[1] == self) result.Add(pid);
            }
            catch (IOException) { }
        }
        return result;
    }
}
