using Portal.Envd.Native;

namespace Portal.Envd.Sandbox;

/// <summary>
/// <c>POST /_portal/freeze</c> and <c>/_portal/thaw</c>: the memory-keeping pause of runtimes that
/// cannot freeze a sandbox from outside (Kubernetes: the portal has no access to the node's
/// cgroups). Every process descended from envd is stopped with SIGSTOP and continued with
/// SIGCONT; envd itself keeps running so the portal can thaw it. In a pod envd is PID 1 of the
/// container (its start command execs it), so orphans are re-parented to it and "descendants of
/// envd" is every process in the sandbox. A cgroup freeze would also stop a process between a
/// fork and our walk, but needs a writable cgroup file system, which a pod does not get without
/// privileges; the walk is repeated until it finds nothing new, which closes that window for any
/// process that is not forking faster than we read /proc.
/// </summary>
public static class FreezeEndpoints
{
    private const int SigStop = 19, SigCont = 18;
    private static readonly Lock Gate = new();

    public static void MapFreeze(this IEndpointRouteBuilder app)
    {
        app.MapPost("/_portal/freeze", (HttpContext http) =>
        {
            int stopped;
            lock (Gate) stopped = Signal(SigStop, repeatUntilStable: true);
            http.Response.StatusCode = 204;
            http.Response.Headers["X-Portal-Processes"] = stopped.ToString(System.Globalization.CultureInfo.InvariantCulture);
            return Task.CompletedTask;
        });
        app.MapPost("/_portal/thaw", (HttpContext http) =>
        {
            int continued;
            lock (Gate) continued = Signal(SigCont, repeatUntilStable: false);
            http.Response.StatusCode = 204;
            http.Response.Headers["X-Portal-Processes"] = continued.ToString(System.Globalization.CultureInfo.InvariantCulture);
            return Task.CompletedTask;
        });
    }

    /// <summary>Sends <paramref name="signal"/> to every descendant of this process; returns how many got it.</summary>
    private static int Signal(int signal, bool repeatUntilStable)
    {
        var done = new HashSet<int>();
        for (var pass = 0; pass < 50; pass++)
        {
            var fresh = Descendants(Environment.ProcessId).Where(done.Add).ToList();
            foreach (var pid in fresh) Libc.kill(pid, signal);
            if (fresh.Count == 0 || !repeatUntilStable) break;
        }
        return done.Count;
    }

    internal static List<int> Descendants(int root)
    {
        var children = new Dictionary<int, List<int>>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid)) continue;
            string stat;
            try { stat = File.ReadAllText(Path.Combine(dir, "stat")); }
            catch (IOException) { continue; }
            catch (UnauthorizedAccessException) { continue; }
            // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so parse from the last ')'.
            var close = stat.LastIndexOf(')');
            if (close < 0) continue;
            var fields = stat[(close + 2)..].Split(' ', 3);
            if (fields.Length < 2 || !int.TryParse(fields[1], out var ppid)) continue;
            if (!children.TryGetValue(ppid, out var list)) children[ppid] = list = [];
            list.Add(pid);
        }
        var result = new List<int>();
        var queue = new Queue<int>([root]);
        while (queue.TryDequeue(out var p))
        {
            if (!children.TryGetValue(p, out var kids)) continue;
            foreach (var k in kids) { result.Add(k); queue.Enqueue(k); }
        }
        return result;
    }
}
