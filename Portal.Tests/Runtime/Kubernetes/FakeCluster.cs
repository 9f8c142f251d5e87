using System.Collections.Concurrent;
using k8s;
using Portal.Core.Runtime.Kubernetes;
using Portal.FakeKubernetes;

namespace Portal.Tests.Runtime.Kubernetes;

/// <summary>
/// A FAKE cluster for one test: the fake API server, the fake kubelet (real envd processes, or
/// the fake envd responder when <paramref name="realEnvd"/> is false) and runtimes ("portal
/// replicas") on it.
/// </summary>
public sealed class FakeCluster : IAsyncDisposable
{
    public const string Namespace = "sandboxes-test";
    private readonly List<KubernetesSandboxRuntime> _runtimes = [];

    /// <summary>Warnings and errors the runtimes logged (shown when a test fails).</summary>
    public ConcurrentQueue<string> Log { get; } = new();

    private sealed class ListLogger(ConcurrentQueue<string> log) : Microsoft.Extensions.Logging.ILogger<KubernetesSandboxRuntime>
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(Microsoft.Extensions.Logging.LogLevel level) => level >= Microsoft.Extensions.Logging.LogLevel.Warning;
        public void Log<TState>(Microsoft.Extensions.Logging.LogLevel level, Microsoft.Extensions.Logging.EventId id, TState state, Exception? e, Func<TState, Exception?, string> format)
        {
            if (IsEnabled(level) && log.Count < 1000) log.Enqueue($"{level}: {format(state, e)} {e?.GetType().Name}: {e?.Message}");
        }
    }

    public FakeStore Store { get; }
    public FakeApiServer Server { get; }
    public FakeKubelet Kubelet { get; }

    private FakeCluster(FakeStore store, FakeApiServer server, FakeKubelet kubelet)
    {
        Store = store;
        Server = server;
        Kubelet = kubelet;
    }

    public static string EnvdPath
    {
        get
        {
            var dir = AppContext.BaseDirectory;
            while (dir is not null && !File.Exists(Path.Combine(dir, "Portal.sln"))) dir = Path.GetDirectoryName(dir);
            var path = Path.Combine(dir ?? ".", "artifacts", "envd", "portal-envd");
            if (!File.Exists(path)) Assert.Skip($"{path} is missing: run scripts/publish-envd.sh (scripts/test.sh does)");
            return path;
        }
    }

    /// <param name="fakeEnvdPools">Templates (pool label values) whose pods get the fake envd responder even with <paramref name="realEnvd"/>.</param>
    public static async Task<FakeCluster> StartAsync(bool realEnvd = true, int historyLimit = 10_000, params string[] fakeEnvdPools)
    {
        var envd = realEnvd ? EnvdPath : null;
        var store = new FakeStore(historyLimit);
        var server = await FakeApiServer.StartAsync(store);
        Func<System.Text.Json.Nodes.JsonObject, bool>? fakeFor = fakeEnvdPools.Length == 0 ? null
            : pod => pod["metadata"]?["labels"]?[SandboxPods.PoolLabel]?.GetValue<string>() is { } pool && fakeEnvdPools.Contains(pool);
        return new FakeCluster(store, server, new FakeKubelet(store, envd, fakeFor));
    }

    public IKubernetes Client() => new k8s.Kubernetes(new KubernetesClientConfiguration { Host = Server.BaseAddress.ToString() });

    /// <summary>A runtime ("replica") on this cluster, its caches synced.</summary>
    public async Task<KubernetesSandboxRuntime> RuntimeAsync(Dictionary<string, KubernetesTemplateOptions> templates)
    {
        var options = new KubernetesRuntimeOptions { Namespace = Namespace, Templates = templates, StartTimeout = TimeSpan.FromSeconds(60) };
        var runtime = new KubernetesSandboxRuntime(options, Client(), logger: new ListLogger(Log));
        _runtimes.Add(runtime);
        await runtime.Synced.WaitAsync(TimeSpan.FromSeconds(30));
        return runtime;
    }

    public static KubernetesTemplateOptions Template(int warm = 0, KubernetesPauseMode pause = KubernetesPauseMode.Freeze, bool home = false) => new()
    {
        Image = "docker.io/library/debian:bookworm",
        CpuCount = 1,
        MemoryMB = 256,
        WarmPoolSize = warm,
        PauseMode = pause,
        PersistentHome = home ? new KubernetesHomeVolumeOptions { SizeMB = 100 } : null,
        Env = new() { ["TEMPLATE_VAR"] = "from-template" },
    };

    public List<System.Text.Json.Nodes.JsonObject> Pods(string? selector = null) =>
        Store.List("pods", Namespace, LabelSelector.Parse(selector), out _);

    /// <summary>Waits (bounded) until <paramref name="condition"/> holds.</summary>
    public static async Task EventuallyAsync(Func<bool> condition, string what, int seconds = 30)
    {
        for (var i = 0; i < seconds * 50; i++)
        {
            if (condition()) return;
            await Task.Delay(20);
        }
        Assert.Fail($"timed out waiting for {what}");
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var r in _runtimes) await r.DisposeAsync();
        await Kubelet.DisposeAsync();
        await Server.DisposeAsync();
    }
}
