using System.Diagnostics;
using System.Text.Json.Nodes;
using k8s;
using Portal.Core.Runtime;
using Portal.Core.Runtime.Kubernetes;
using Portal.FakeKubernetes;

namespace Portal.Bench;

/// <summary>
/// The Kubernetes runtime against the FAKE API server (in this process, loopback HTTP):
/// (1) a warm-pool claim as the portal sees it — CreateAsync from call to return: the claiming
/// merge patch round trip plus envd's /init (the fake kubelet's fake envd answers it); (2) the
/// runtime's memory while its informers hold 5,000 pods (managed heap growth from starting the
/// runtime, the fake server's own copies excluded by measuring before and after).
/// </summary>
public static class KubernetesBench
{
    public static async Task<int> RunAsync(string[] args)
    {
        var claims = Arg(args, "--claims", 200);
        var watched = Arg(args, "--pods", 5000);
        await ClaimAsync(claims);
        await WatchMemoryAsync(watched);
        return 0;
    }

    private static int Arg(string[] args, string name, int fallback)
    {
        var i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? int.Parse(args[i + 1]) : fallback;
    }

    private const string Ns = "bench";

    private static async Task ClaimAsync(int claims)
    {
        var store = new FakeStore(100_000);
        await using var server = await FakeApiServer.StartAsync(store);
        await using var kubelet = new FakeKubelet(store, envdPath: null);
        var options = new KubernetesRuntimeOptions
        {
            Namespace = Ns,
            Templates = new() { ["base"] = new KubernetesTemplateOptions { Image = "bench", CpuCount = 1, MemoryMB = 256, WarmPoolSize = claims + 20 } },
        };
        await using var runtime = new KubernetesSandboxRuntime(options, new k8s.Kubernetes(new KubernetesClientConfiguration { Host = server.BaseAddress.ToString() }));
        await runtime.Synced;
        var wait = Stopwatch.StartNew();
        while (runtime.WarmCount("base") < claims + 20 && wait.Elapsed < TimeSpan.FromMinutes(3)) await Task.Delay(50);
        Console.WriteLine($"kubernetes claim: {runtime.WarmCount("base")} warm pods ready after {wait.Elapsed.TotalSeconds:0.0} s");

        // Warm-up (JIT, connection pools), then one claim at a time.
        for (var i = 0; i < 10; i++) await runtime.CreateAsync(new SandboxSpec { SandboxId = $"warmup{i}", TemplateId = "base" }, CancellationToken.None);
        var times = new List<double>();
        var fromPool = 0;
        for (var i = 0; i < claims - 10; i++)
        {
            var id = $"bench{i}";
            var sw = Stopwatch.StartNew();
            await runtime.CreateAsync(new SandboxSpec { SandboxId = id, TemplateId = "base", EnvVars = new Dictionary<string, string> { ["A"] = "b" } }, CancellationToken.None);
            times.Add(sw.Elapsed.TotalMilliseconds);
            if (store.List("pods", Ns, LabelSelector.Parse($"{SandboxPods.SandboxIdLabel}={id}"), out _).Single()["metadata"]!["name"]!.GetValue<string>().StartsWith("warm-", StringComparison.Ordinal)) fromPool++;
        }
        times.Sort();
        Console.WriteLine($"kubernetes claim: {times.Count} sequential creates, {fromPool} from the warm pool: p50 {P(times, 0.5):0.00} ms, p95 {P(times, 0.95):0.00} ms, max {times[^1]:0.00} ms (target p50 < 10 ms)");

        // The same, 50 at once (two replicas' worth of contention is the test suite's job).
        var concurrent = await Task.WhenAll(Enumerable.Range(0, 10).Select(async i =>
        {
            var sw = Stopwatch.StartNew();
            await runtime.CreateAsync(new SandboxSpec { SandboxId = $"conc{i}", TemplateId = "base" }, CancellationToken.None);
            return sw.Elapsed.TotalMilliseconds;
        }));
        Array.Sort(concurrent);
        Console.WriteLine($"kubernetes claim: 10 concurrent creates: p50 {P(concurrent, 0.5):0.00} ms, max {concurrent[^1]:0.00} ms; patches sent {server.Requests.Count(r => r.Verb == "patch")} for {times.Count + 20} claims (the rest lost a race and retried)");
    }

    private static async Task WatchMemoryAsync(int pods)
    {
        // A short history: the fake's own copies of changes must not count as the runtime's memory.
        var store = new FakeStore(historyLimit: 50);
        await using var server = await FakeApiServer.StartAsync(store);
        // Pods as a real cluster would show claimed sandboxes (no processes: nothing connects to them here).
        var template = SandboxPods.Build(new KubernetesRuntimeOptions(), "base", new KubernetesTemplateOptions { Image = "bench" }, "x", 1, 256,
            SandboxPods.SandboxAnnotations(new SandboxSpec { SandboxId = "x", TemplateId = "base" }, "base", 1, 256, DateTimeOffset.UtcNow), null);
        var json = JsonNode.Parse(KubernetesJson.Serialize(template))!.AsObject();
        for (var i = 0; i < pods; i++)
        {
            var pod = (JsonObject)json.DeepClone();
            pod["metadata"]!["labels"]![SandboxPods.SandboxIdLabel] = $"s{i}";
            pod["metadata"]!.AsObject().Remove("generateName");
            pod["metadata"]!["name"] = $"sbx-s{i}";
            pod["status"] = new JsonObject
            {
                ["phase"] = "Running", ["podIP"] = $"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}",
                ["conditions"] = new JsonArray(new JsonObject { ["type"] = "Ready", ["status"] = "True" }),
            };
            store.Create("pods", Ns, pod, "Pod");
        }
        var before = Heap();
        var rssBefore = Process.GetCurrentProcess().WorkingSet64;
        var sw = Stopwatch.StartNew();
        var runtime = new KubernetesSandboxRuntime(new KubernetesRuntimeOptions { Namespace = Ns, Templates = new() { ["base"] = new() { Image = "bench" } } },
            new k8s.Kubernetes(new KubernetesClientConfiguration { Host = server.BaseAddress.ToString() }));
        await runtime.Synced;
        var list = await runtime.ListAsync(CancellationToken.None);
        var synced = sw.Elapsed;
        var atSync = Heap();
        // A round of changes through the watch (each pod annotated once), as a busy cluster sends.
        for (var i = 0; i < pods; i++)
            store.Update("pods", Ns, $"sbx-s{i}", p => { p["metadata"]!["annotations"]!["bench"] = "1"; return p; });
        // The watch delivers them within a few seconds on this machine; the heap is measured after.
        await Task.Delay(3000);
        var after = Heap();
        Console.WriteLine($"kubernetes watch: {list.Count} sandboxes listed from {pods} pods, first list + watch in {synced.TotalMilliseconds:0} ms; " +
            $"the runtime's managed heap while watching them: {(atSync - before) / 1048576.0:0.0} MB ({(atSync - before) / pods / 1024.0:0.0} KB a pod) after the list, {(after - before) / 1048576.0:0.0} MB after {pods} watch updates; " +
            $"process RSS growth {(Process.GetCurrentProcess().WorkingSet64 - rssBefore) / 1048576.0:0} MB (includes the fake server's serialisation buffers)");
        await runtime.DisposeAsync();
    }

    private static long Heap()
    {
        for (var i = 0; i < 3; i++) { GC.Collect(); GC.WaitForPendingFinalizers(); }
        return GC.GetTotalMemory(true);
    }

    private static double P(IReadOnlyList<double> sorted, double q) => sorted[Math.Min(sorted.Count - 1, (int)(q * sorted.Count))];
}
