using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;

namespace Portal.FakeKubernetes;

/// <summary>
/// A FAKE kubelet for <see cref="FakeApiServer"/>: it "runs" each pod of the store by starting
/// the published portal-envd as a local process (no image, no container, no cgroups) listening
/// on the pod's own loopback address 127.B.x.y:49983 (B random per kubelet), with the sandbox
/// container's env vars and its own /home, /root, /opt and /tmp (a mount namespace), then
/// reports the pod Running and Ready with that podIP. A process that exits makes its pod
/// Failed; a deleted pod's processes are killed. <see cref="UseFakeEnvd"/> replaces the real
/// envd by an in-process responder that answers only what a claim needs (/health, /init,
/// freeze, thaw), for runs with thousands of pods; <c>fakeEnvdFor</c> picks the pods that get it
/// when others need a real envd (a test with a 200-pod burst and a sandbox it runs a server in).
/// </summary>
public sealed class FakeKubelet : IAsyncDisposable
{
    private readonly FakeStore _store;
    private readonly string? _envdPath;
    private readonly Func<JsonObject, bool>? _fakeEnvdFor;
    private readonly string _root;
    private readonly byte _net = (byte)Random.Shared.Next(64, 250);
    private int _nextHost;
    private readonly ConcurrentDictionary<string, RunningPod> _running = new(StringComparer.Ordinal);
    private readonly IDisposable _subscription;
    private readonly CancellationTokenSource _stop = new();

    private sealed class RunningPod
    {
        public required string Ip { get; init; }
        public Process? Process { get; set; }
        public TcpListener? FakeEnvd { get; set; }
        public string Dir { get; init; } = "";
        public volatile bool Deleted;
    }

    /// <param name="envdPath">The published portal-envd; null runs the fake envd responder instead.</param>
    /// <param name="fakeEnvdFor">Pods (as stored) that get the fake envd responder even though <paramref name="envdPath"/> is given.</param>
    public FakeKubelet(FakeStore store, string? envdPath, Func<JsonObject, bool>? fakeEnvdFor = null)
    {
        _store = store;
        _fakeEnvdFor = fakeEnvdFor;
        // Pods mount their own /home, /root, /opt and /tmp: the kubelet's directory, and the envd it
        // runs, must lie outside those (a checkout under /tmp, as on a CI machine, would vanish).
        _root = Directory.CreateDirectory(Path.Combine("/var/tmp", "fake-kubelet-" + Guid.NewGuid().ToString("N")[..12])).FullName;
        // The sandbox user must reach its home directory below it.
        File.SetUnixFileMode(_root, (UnixFileMode)0b111_101_101);
        if (envdPath is not null)
        {
            _envdPath = Path.Combine(_root, "portal-envd");
            File.Copy(envdPath, _envdPath);
            File.SetUnixFileMode(_envdPath, (UnixFileMode)0b111_101_101);
        }
        // Start with the API server (before any pod exists): every pod's creation is seen.
        if (!store.Subscribe(store.Version, OnChange, out _subscription!)) throw new InvalidOperationException("store history compacted at start");
    }

    public bool UseFakeEnvd => _envdPath is null;

    private int _started;

    /// <summary>Pods started since the kubelet began.</summary>
    public int Started => Volatile.Read(ref _started);

    /// <summary>Pods whose processes run now.</summary>
    public int Running => _running.Count;

    private void OnChange(StoredChange c)
    {
        if (c.Resource != "pods") return;
        var name = c.After?["metadata"]?["name"]?.GetValue<string>() ?? c.Before!["metadata"]!["name"]!.GetValue<string>();
        var key = c.Namespace + "/" + name;
        if (c.After is null)
        {
            if (_running.TryRemove(key, out var gone)) { gone.Deleted = true; _ = Task.Run(() => StopPod(gone)); }
            return;
        }
        if (c.Before is null)
        {
            var pod = (JsonObject)c.After.DeepClone();
            _ = Task.Run(() => StartPodAsync(c.Namespace, name, pod));
        }
    }

    private string NextIp()
    {
        var n = Interlocked.Increment(ref _nextHost);
        var last = n & 255;
        if (last is 0 or 255) return NextIp();
        return $"127.{_net}.{(n >> 8) & 255}.{last}";
    }

    private async Task StartPodAsync(string ns, string name, JsonObject pod)
    {
        var key = ns + "/" + name;
        var ip = NextIp();
        Interlocked.Increment(ref _started);
        var running = new RunningPod { Ip = ip, Dir = Path.Combine(_root, name) };
        _running[key] = running;
        try
        {
            // A pod whose claim is missing stays Pending, as the scheduler would leave it.
            foreach (var v in pod["spec"]?["volumes"] as JsonArray ?? [])
                if (v?["persistentVolumeClaim"]?["claimName"]?.GetValue<string>() is { } claim)
                {
                    try { _store.Get("persistentvolumeclaims", ns, claim); }
                    catch (ApiException) { SetStatus(ns, name, "Pending", null, "Unschedulable", $"persistentvolumeclaim \"{claim}\" not found"); return; }
                }
            if (UseFakeEnvd || _fakeEnvdFor?.Invoke(pod) == true) running.FakeEnvd = StartFakeEnvd(ip);
            else running.Process = StartEnvd(running, pod);
            // Ready once envd answers, as the pod's readiness probe would find.
            var deadline = DateTime.UtcNow.AddSeconds(30);
            while (!await IsHealthyAsync(ip))
            {
                if (running.Deleted || _stop.IsCancellationRequested) return;
                if (running.Process is { HasExited: true } p)
                {
                    SetStatus(ns, name, "Failed", null, "Error", $"envd exited with code {p.ExitCode}");
                    return;
                }
                if (DateTime.UtcNow > deadline) { SetStatus(ns, name, "Failed", null, "Error", "envd never answered"); return; }
                await Task.Delay(10);
            }
            if (running.Deleted) return;
            SetStatus(ns, name, "Running", ip, null, null);
            if (running.Process is { } process)
            {
                await process.WaitForExitAsync(_stop.Token);
                if (!running.Deleted) SetStatus(ns, name, "Failed", ip, "Error", $"container sandbox exited with code {process.ExitCode}");
            }
        }
        catch (OperationCanceledException) { }
        catch (ApiException) { } // the pod went while starting
        catch (Exception e)
        {
            SetStatus(ns, name, "Failed", null, "StartError", $"the fake kubelet could not start the pod: {e.Message}");
        }
    }

    /// <summary>
    /// envd in a mount namespace of its own (util-linux unshare) where /home, /root, /opt and /tmp
    /// are the pod's own directories: what a sandbox writes there stays in its pod. The rest of
    /// the file system is this machine's (no image); user code runs as "user", who cannot write it.
    /// </summary>
    private Process StartEnvd(RunningPod running, JsonObject pod)
    {
        var own = new[] { "home", "root", "opt", "tmp" };
        foreach (var d in own) Directory.CreateDirectory(Path.Combine(running.Dir, d));
        var home = Path.Combine(running.Dir, "home", "user");
        Directory.CreateDirectory(home);
        File.SetUnixFileMode(Path.Combine(running.Dir, "tmp"), (UnixFileMode)0b1_111_111_111);
        File.SetUnixFileMode(Path.Combine(running.Dir, "opt"), (UnixFileMode)0b111_101_101);
        if (File.ReadAllLines("/etc/passwd").FirstOrDefault(l => l.StartsWith("user:", StringComparison.Ordinal))?.Split(':') is { Length: > 3 } u)
            ChOwn(home, int.Parse(u[2]), int.Parse(u[3]));

        var psi = new ProcessStartInfo("unshare") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "--mount", "--propagation", "private", "--fork", "--kill-child", "--", "/bin/sh", "-c",
                     "set -e; for d in home root opt tmp; do mount --bind \"$POD_DIR/$d\" \"/$d\"; done; " +
                     "exec \"$ENVD\" --host \"$POD_IP\" --port 49983" })
            psi.ArgumentList.Add(a);
        psi.Environment.Clear();
        psi.Environment["PATH"] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
        psi.Environment["HOME"] = "/root";
        foreach (var e in pod["spec"]?["containers"]?[0]?["env"] as JsonArray ?? [])
            if (e?["name"]?.GetValue<string>() is { } k && k is not ("PORTAL_ENVD" or "PORTAL_START_COMMAND")) psi.Environment[k] = e["value"]?.GetValue<string>() ?? "";
        psi.Environment["POD_DIR"] = running.Dir;
        psi.Environment["POD_IP"] = running.Ip;
        psi.Environment["ENVD"] = _envdPath!;
        psi.WorkingDirectory = running.Dir;
        var process = Process.Start(psi)!;
        var log = Path.Combine(running.Dir, "envd.log");
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) AppendLog(log, e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) AppendLog(log, e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    private static void AppendLog(string path, string line)
    {
        try { File.AppendAllText(path, line + "\n"); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    private static void ChOwn(string path, int uid, int gid)
    {
        try { File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute); }
        catch (IOException) { }
        using var p = Process.Start(new ProcessStartInfo("chown", [$"{uid}:{gid}", path]) { UseShellExecute = false });
        p?.WaitForExit();
    }

    /// <summary>Answers /health with 204 and every POST (init, freeze, thaw) with 204: enough for a claim.</summary>
    private TcpListener StartFakeEnvd(string ip)
    {
        var listener = new TcpListener(IPAddress.Parse(ip), 49983);
        listener.Start(512);
        _ = Task.Run(async () =>
        {
            while (!_stop.IsCancellationRequested)
            {
                Socket socket;
                try { socket = await listener.AcceptSocketAsync(_stop.Token); }
                catch (Exception) { return; }
                _ = Task.Run(() => ServeFakeEnvdAsync(socket));
            }
        });
        return listener;
    }

    private static async Task ServeFakeEnvdAsync(Socket socket)
    {
        using var _ = socket;
        await using var stream = new NetworkStream(socket);
        var buffer = new byte[16 * 1024];
        var pending = new StringBuilder();
        try
        {
            while (true)
            {
                var n = await stream.ReadAsync(buffer);
                if (n == 0) return;
                pending.Append(Encoding.Latin1.GetString(buffer, 0, n));
                while (true)
                {
                    var text = pending.ToString();
                    var end = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
                    if (end < 0) break;
                    var head = text[..end];
                    var length = head.Split("\r\n").Select(l => l.Split(':', 2)).Where(p => p.Length == 2 && p[0].Trim().Equals("Content-Length", StringComparison.OrdinalIgnoreCase))
                        .Select(p => int.Parse(p[1].Trim())).FirstOrDefault();
                    if (text.Length < end + 4 + length) break;
                    pending.Remove(0, end + 4 + length);
                    await stream.WriteAsync("HTTP/1.1 204 No Content\r\n\r\n"u8.ToArray());
                }
            }
        }
        catch (IOException) { }
        catch (SocketException) { }
    }

    private static readonly HttpClient Http = new(new SocketsHttpHandler { UseProxy = false, ConnectTimeout = TimeSpan.FromSeconds(2) }) { Timeout = TimeSpan.FromSeconds(5) };

    private static async Task<bool> IsHealthyAsync(string ip)
    {
        try
        {
            using var res = await Http.GetAsync($"http://{ip}:49983/health");
            return (int)res.StatusCode == 204;
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or IOException) { return false; }
    }

    private void SetStatus(string ns, string name, string phase, string? ip, string? reason, string? message)
    {
        var ready = phase == "Running" ? "True" : "False";
        var now = DateTimeOffset.UtcNow.ToString("yyyy-MM-ddTHH:mm:ssZ");
        try
        {
            _store.Update("pods", ns, name, pod =>
            {
                pod["spec"]!["nodeName"] = "fake-node";
                var status = new JsonObject
                {
                    ["phase"] = phase,
                    ["hostIP"] = "127.0.0.1",
                    ["startTime"] = now,
                    ["conditions"] = new JsonArray(
                        Condition("PodScheduled", phase == "Pending" && reason is not null ? "False" : "True", now),
                        Condition("Initialized", "True", now),
                        Condition("ContainersReady", ready, now),
                        Condition("Ready", ready, now)),
                };
                if (ip is not null)
                {
                    status["podIP"] = ip;
                    status["podIPs"] = new JsonArray(new JsonObject { ["ip"] = ip });
                }
                if (reason is not null) status["reason"] = reason;
                if (message is not null) status["message"] = message;
                pod["status"] = status;
                return pod;
            });
        }
        catch (ApiException) { } // deleted meanwhile
    }

    private static JsonObject Condition(string type, string status, string now) => new() { ["type"] = type, ["status"] = status, ["lastTransitionTime"] = now };

    /// <summary>What a node does to a pod it evicts or whose container is OOM-killed: the processes die, the pod is Failed.</summary>
    public void FailPod(string ns, string name, string reason)
    {
        if (_running.TryGetValue(ns + "/" + name, out var running))
        {
            running.Deleted = true; // no second report from the exit
            StopPod(running);
        }
        SetStatus(ns, name, "Failed", running?.Ip, reason, "the fake kubelet failed this pod on request");
    }

    /// <summary>The pod's address, or null when it does not run here.</summary>
    public string? IpOf(string ns, string name) => _running.TryGetValue(ns + "/" + name, out var r) ? r.Ip : null;

    /// <summary>Host PIDs of the pod's envd and what it started.</summary>
    public int? EnvdPid(string ns, string name) => _running.TryGetValue(ns + "/" + name, out var r) ? r.Process?.Id : null;

    private static void StopPod(RunningPod pod)
    {
        try { pod.FakeEnvd?.Stop(); } catch (SocketException) { }
        try
        {
            if (pod.Process is { HasExited: false } p)
            {
                // By parent PID: a process that double-forks away from envd escapes this (and
                // would stay on the host); a real kubelet kills the container's cgroup instead.
                p.Kill(entireProcessTree: true);
                p.WaitForExit(5000);
            }
        }
        catch (InvalidOperationException) { }
        try { if (pod.Dir.Length > 0 && Directory.Exists(pod.Dir)) Directory.Delete(pod.Dir, recursive: true); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _subscription.Dispose();
        await Parallel.ForEachAsync(_running.Values, (p, _) => { StopPod(p); return ValueTask.CompletedTask; });
        _running.Clear();
        try { Directory.Delete(_root, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
