using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Threading.Channels;
using Portal.Core.Runtime;
using Portal.Envd;
using Portal.Tests.Envd;

namespace Portal.Tests.Api;

/// <summary>
/// FAKE runtime for control-plane tests: sandboxes are entries in a dictionary, nothing runs.
/// <see cref="ConnectAsync"/> opens a TCP connection to a loopback test server standing in for
/// the sandbox port (<see cref="Backends"/>), or — with <see cref="RealEnvd"/> — to a real
/// in-process envd started per sandbox with its access token and env vars.
/// </summary>
public sealed class FakeSandboxRuntime : ISandboxRuntime, IAsyncDisposable
{
    private readonly ConcurrentDictionary<string, SandboxInstance> _sandboxes = new();
    private readonly ConcurrentDictionary<string, EnvdServer> _envds = new();
    private readonly Channel<SandboxEvent> _events = Channel.CreateUnbounded<SandboxEvent>();

    public string Name => "fake";

    /// <summary>Whether it plays a runtime whose templates the portal makes (builds, snapshots); true by default.</summary>
    public bool ManagesTemplates { get; set; } = true;
    public ITemplateCatalog Templates => _templates ??= new FakeTemplates(this);
    private FakeTemplates? _templates;
    /// <summary>Lists no templates (an empty catalog); finding one by name still works.</summary>
    public bool NoTemplates { get; set; }

    /// <summary>Sandbox port → loopback TCP port of a test server that plays it (same for every sandbox).</summary>
    public ConcurrentDictionary<int, int> Backends { get; } = new();

    /// <summary>Start a real envd (in-process) per sandbox and route port 49983 to it.</summary>
    public bool RealEnvd { get; set; }

    /// <summary>What <see cref="GetWarmPoolsAsync"/> reports (the fake keeps no pools; tests set the figures).</summary>
    public List<WarmPoolFill> WarmPools { get; } = [];

    public Task<IReadOnlyList<WarmPoolFill>> GetWarmPoolsAsync(CancellationToken ct) => Task.FromResult<IReadOnlyList<WarmPoolFill>>(WarmPools.ToList());

    /// <summary>Artificial create latency.</summary>
    public TimeSpan CreateDelay { get; set; }

    /// <summary>Pauses and creates never finish until this is completed (and ignore cancellation), like a hung runtime.</summary>
    public TaskCompletionSource? Hang { get; set; }

    /// <summary>Make the next creates fail with this exception.</summary>
    public Exception? FailCreatesWith { get; set; }

    /// <summary>Make the next one create fail with this exception (the others go on).</summary>
    public Exception? FailOneCreateWith;

    public ConcurrentQueue<SandboxSpec> Specs { get; } = new();
    public int Count => _sandboxes.Count;
    public bool Exists(string id) => _sandboxes.ContainsKey(id);
    public SandboxState? StateOf(string id) => _sandboxes.TryGetValue(id, out var s) ? s.State : null;

    public async Task<SandboxInstance> CreateAsync(SandboxSpec spec, CancellationToken ct)
    {
        if (FailCreatesWith is { } e) throw e;
        if (Interlocked.Exchange(ref FailOneCreateWith, null) is { } once) throw once;
        if (Hang is { } hang) await hang.Task;
        var template = await Templates.FindAsync(spec.TemplateId, ct) ?? throw new TemplateNotFoundException(spec.TemplateId);
        if (CreateDelay > TimeSpan.Zero) await Task.Delay(CreateDelay, ct);
        Specs.Enqueue(spec);
        if (RealEnvd)
        {
            // As the real runtime does: start envd, then /init it with the env vars and token.
            var envd = await EnvdServer.StartAsync();
            var init = System.Text.Json.JsonSerializer.Serialize(new { envVars = spec.EnvVars, accessToken = spec.EnvdAccessToken });
            using var res = await envd.Http.PostAsync("/init", new StringContent(init, System.Text.Encoding.UTF8, "application/json"), ct);
            res.EnsureSuccessStatusCode();
            _envds[spec.SandboxId] = envd;
        }
        var inst = new SandboxInstance
        {
            SandboxId = spec.SandboxId, TemplateId = template.TemplateId, State = SandboxState.Running,
            StartedAt = DateTimeOffset.UtcNow, CpuCount = template.CpuCount, MemoryMB = template.MemoryMB,
            DiskSizeMB = template.DiskSizeMB, EnvdVersion = "0.6.13", InternetAccess = spec.AllowInternetAccess,
        };
        _sandboxes[spec.SandboxId] = inst;
        await _events.Writer.WriteAsync(new SandboxEvent(SandboxEventKind.Created, inst, DateTimeOffset.UtcNow), ct);
        return inst;
    }

    public Task<SandboxInstance?> FindAsync(string sandboxId, CancellationToken ct) =>
        Task.FromResult(_sandboxes.GetValueOrDefault(sandboxId));

    public Task<IReadOnlyList<SandboxInstance>> ListAsync(CancellationToken ct) =>
        Task.FromResult<IReadOnlyList<SandboxInstance>>(_sandboxes.Values.ToList());

    public async Task<bool> KillAsync(string sandboxId, CancellationToken ct)
    {
        if (!_sandboxes.TryRemove(sandboxId, out var inst)) return false;
        // Like a real kill, don't wait for envd's in-flight requests to drain.
        if (_envds.TryRemove(sandboxId, out var envd)) _ = envd.DisposeAsync().AsTask();
        await _events.Writer.WriteAsync(new SandboxEvent(SandboxEventKind.Killed, inst with { State = SandboxState.Dead }, DateTimeOffset.UtcNow), ct);
        return true;
    }

    /// <summary>The sandbox dies on its own (the runtime reports it).</summary>
    public async Task SimulateDeathAsync(string sandboxId)
    {
        if (!_sandboxes.TryRemove(sandboxId, out var inst)) return;
        if (_envds.TryRemove(sandboxId, out var envd)) await envd.DisposeAsync();
        await _events.Writer.WriteAsync(new SandboxEvent(SandboxEventKind.Died, inst with { State = SandboxState.Dead }, DateTimeOffset.UtcNow, "out of memory"));
    }

    /// <summary>Forget a sandbox silently (as if it vanished while the portal was down).</summary>
    public void Vanish(string sandboxId) => _sandboxes.TryRemove(sandboxId, out _);

    /// <summary>The mode of each sandbox's last pause.</summary>
    public ConcurrentDictionary<string, SandboxPauseMode> PauseModes { get; } = new();

    public async Task PauseAsync(string sandboxId, SandboxPauseMode mode, CancellationToken ct)
    {
        PauseModes[sandboxId] = mode;
        if (Hang is { } hang) await hang.Task;
        var inst = _sandboxes.GetValueOrDefault(sandboxId) ?? throw new SandboxNotFoundException(sandboxId);
        if (inst.State == SandboxState.Paused) throw new SandboxStateException(sandboxId, inst.State, "already paused");
        _sandboxes[sandboxId] = inst with { State = SandboxState.Paused };
    }

    /// <summary>How many resumes reached the runtime.</summary>
    public int Resumes => _resumes;
    private int _resumes;

    public Task<SandboxInstance> ResumeAsync(string sandboxId, CancellationToken ct)
    {
        Interlocked.Increment(ref _resumes);
        var inst = _sandboxes.GetValueOrDefault(sandboxId) ?? throw new SandboxNotFoundException(sandboxId);
        if (inst.State != SandboxState.Paused) throw new SandboxStateException(sandboxId, inst.State, "not paused");
        var resumed = inst with { State = SandboxState.Running };
        _sandboxes[sandboxId] = resumed;
        return Task.FromResult(resumed);
    }

    public async ValueTask<Stream> ConnectAsync(string sandboxId, int port, CancellationToken ct)
    {
        var target = LoopbackPort(sandboxId, port) ?? throw new SandboxPortClosedException(sandboxId, port);
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, target), ct);
            return new NetworkStream(socket, ownsSocket: true);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>The same loopback server <see cref="ConnectAsync"/> would reach, unless <see cref="StreamsOnly"/>.</summary>
    public EndPoint? DirectEndPoint(string sandboxId, int port) =>
        LoopbackPort(sandboxId, port) is { } target && !StreamsOnly ? new IPEndPoint(IPAddress.Loopback, target) : null;

    /// <summary>The loopback port playing <paramref name="port"/> of a running sandbox; null when nothing plays it.</summary>
    private int? LoopbackPort(string sandboxId, int port)
    {
        if (!_sandboxes.TryGetValue(sandboxId, out var inst) || inst.State != SandboxState.Running)
            throw new SandboxNotFoundException(sandboxId);
        if (RealEnvd && port == SandboxPorts.Envd && _envds.TryGetValue(sandboxId, out var envd)) return envd.BaseAddress.Port;
        return Backends.TryGetValue(port, out var target) ? target : null;
    }

    /// <summary>Offer no direct endpoints: the proxy reaches every port through <see cref="ConnectAsync"/>.</summary>
    public bool StreamsOnly { get; set; }

    public Task<SandboxMetrics?> GetMetricsAsync(string sandboxId, CancellationToken ct) =>
        Task.FromResult<SandboxMetrics?>(_sandboxes.ContainsKey(sandboxId)
            ? new SandboxMetrics { Timestamp = DateTimeOffset.UtcNow, CpuCount = 2, CpuUsedPct = 12.5, MemUsed = 100 << 20, MemTotal = 512 << 20, MemCache = 1 << 20, DiskUsed = 10 << 20, DiskTotal = 2048L << 20 }
            : null);

    public async IAsyncEnumerable<SandboxEvent> WatchAsync([EnumeratorCancellation] CancellationToken ct)
    {
        foreach (var s in _sandboxes.Values)
            yield return new SandboxEvent(SandboxEventKind.Created, s, DateTimeOffset.UtcNow);
        await foreach (var e in _events.Reader.ReadAllAsync(ct))
            yield return e;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var envd in _envds.Values) await envd.DisposeAsync();
        _envds.Clear();
    }

    /// <summary>Templates made by <see cref="SnapshotAsync"/> (no files: the fake runs nothing).</summary>
    private readonly ConcurrentDictionary<string, SandboxTemplate> _made = new();

    /// <summary>IDs of the templates <see cref="SnapshotAsync"/> made that still exist.</summary>
    public ICollection<string> MadeTemplates => _made.Keys;

    public async Task<SandboxTemplate> SnapshotAsync(string sandboxId, string newTemplateId, CancellationToken ct)
    {
        if (!ManagesTemplates) throw new NotSupportedException($"the '{Name}' runtime cannot snapshot sandboxes");
        if (!_sandboxes.TryGetValue(sandboxId, out var sandbox)) throw new SandboxNotFoundException(sandboxId);
        var source = await Templates.FindAsync(sandbox.TemplateId, ct) ?? throw new TemplateNotFoundException(sandbox.TemplateId);
        var template = source with { TemplateId = newTemplateId, Aliases = [], WarmPoolSize = 0, ParentTemplateId = source.TemplateId, CpuCount = sandbox.CpuCount, MemoryMB = sandbox.MemoryMB };
        if (!_made.TryAdd(newTemplateId, template)) throw new ArgumentException($"template '{newTemplateId}' already exists");
        return template;
    }

    public async Task<SandboxTemplate> DeriveTemplateAsync(string parentTemplateId, string newTemplateId, string? startCommand, string? readyCommand, CancellationToken ct)
    {
        if (!ManagesTemplates) throw new NotSupportedException($"the '{Name}' runtime cannot make templates");
        var parent = await Templates.FindAsync(parentTemplateId, ct) ?? throw new TemplateNotFoundException(parentTemplateId);
        var template = parent with { TemplateId = newTemplateId, Aliases = [], WarmPoolSize = 0, ParentTemplateId = parent.TemplateId, StartCommand = startCommand, ReadyCommand = readyCommand };
        if (!_made.TryAdd(newTemplateId, template)) throw new ArgumentException($"template '{newTemplateId}' already exists");
        return template;
    }

    public Task<bool> DeleteTemplateAsync(string templateId, CancellationToken ct)
    {
        var children = _made.Values.Where(t => t.ParentTemplateId == templateId).Select(t => t.TemplateId).ToList();
        if (children.Count > 0) throw new TemplateInUseException(templateId, children);
        return Task.FromResult(_made.TryRemove(templateId, out _));
    }

    private sealed class FakeTemplates(FakeSandboxRuntime owner) : ITemplateCatalog
    {
        private static readonly SandboxTemplate[] BuiltIn =
        [
            new() { TemplateId = "base", Aliases = ["base-alias"], CpuCount = 2, MemoryMB = 512, DiskSizeMB = 2048 },
            new() { TemplateId = "code-interpreter-v1", CpuCount = 2, MemoryMB = 1024, DiskSizeMB = 4096 },
            new() { TemplateId = "image-hidden", Hidden = true }, // an unpacked image: builds stand on it, users cannot start it
        ];

        private IEnumerable<SandboxTemplate> All => BuiltIn.Concat(owner._made.Values);

        public Task<SandboxTemplate?> FindAsync(string templateIdOrAlias, CancellationToken ct) =>
            Task.FromResult(All.FirstOrDefault(t => t.TemplateId == templateIdOrAlias || t.Aliases.Contains(templateIdOrAlias)));

        public Task<IReadOnlyList<SandboxTemplate>> ListAsync(CancellationToken ct) => Task.FromResult<IReadOnlyList<SandboxTemplate>>(owner.NoTemplates ? [] : All.Where(t => !t.Hidden).ToList());
    }
}
