using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Http.Json;
using System.Runtime.CompilerServices;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Portal.Core.Threading;

namespace Portal.Core.Runtime.Local;

/// <summary>
/// Sandboxes on this machine: an overlayfs root over the template, namespaces set up by our
/// launcher portal-sandbox-init (PID, mount, UTS, IPC, network, cgroup), a veth and an address wired by
/// <see cref="Network.SandboxNetwork"/> (docs/networking.md), cgroup limits, and Portal.Envd inside on
/// a Unix socket in the sandbox's directory. Sandboxes run detached (own session, own
/// cgroup): a portal restart finds them again from their directories. See docs/runtime-local.md.
/// </summary>
public sealed class LocalSandboxRuntime : ISandboxRuntime, IDisposable
{
    private static readonly string[] Capabilities =
    [
        // Docker's default set for root in a container, less NET_RAW and MKNOD: enough for envd
        // to act as any sandbox user and for sudo inside; no SYS_ADMIN, NET_ADMIN, SYS_PTRACE...
        "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_SETGID", "CAP_SETUID",
        "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_AUDIT_WRITE", "CAP_SETFCAP",
    ];

    private readonly LocalRuntimeOptions _options;
    private readonly LocalTemplateCatalog _templates;
    private readonly ICgroupDriver _cgroups;
    private readonly TimeProvider _time;
    private readonly ILogger _log;
    private readonly ConcurrentDictionary<string, SandboxRecordFile> _sandboxes = new();
    /// <summary>IDs being created: reserved, but not yet visible or monitored.</summary>
    private readonly ConcurrentDictionary<string, byte> _starting = new();
    /// <summary>Started, idle, unlisted sandboxes per template, claimed by creates.</summary>
    private readonly ConcurrentDictionary<string, ConcurrentQueue<SandboxRecordFile>> _warm = new();
    /// <summary>Warm sandboxes being started, per template (guarded by <see cref="_poolLock"/>).</summary>
    private readonly Dictionary<string, int> _warming = [];
    private readonly Lock _poolLock = new();
    private int _warmingTotal;
    /// <summary>At most this many warm sandboxes start at once: one per core.</summary>
    private readonly int _refillParallelism = Math.Max(1, Environment.ProcessorCount);
    private int _createsInFlight;
    /// <summary>A slow catch-all (templates published later, a failed start); claims and
    /// finished starts trigger refills themselves.</summary>
    private readonly Timer _refill;
    private volatile bool _disposed;
    private int _disposeCalled;
    private readonly ConcurrentDictionary<string, (long Cpu, long At)> _cpuSamples = new();
    private readonly ConcurrentDictionary<string, long> _oomSeen = new();
    private readonly RuntimeEventHub _events;
    /// <summary>Pause, resume and kill of one sandbox are serialised; different sandboxes proceed in parallel.</summary>
    private readonly ConcurrentDictionary<string, SemaphoreSlim> _gates = new(StringComparer.Ordinal);
    private readonly SandboxWatch _watch;
    /// <summary>Null when Portal:LocalRuntime:Network:Enabled is false (loopback only).</summary>
    private readonly Network.SandboxNetwork? _network;
    /// <summary>The lxcfs mount whose /proc files sandboxes see, or null without lxcfs.</summary>
    private readonly string? _lxcfs;

    public LocalSandboxRuntime(LocalRuntimeOptions options, ICgroupDriver? cgroups = null, TimeProvider? time = null, ILogger<LocalSandboxRuntime>? logger = null)
    {
        _options = options;
        _templates = new LocalTemplateCatalog(options.TemplatesDirectory);
        _cgroups = cgroups ?? CgroupDriver.Detect(group: options.CgroupGroup);
        _time = time ?? TimeProvider.System;
        _events = new RuntimeEventHub(_time);
        _log = (ILogger?)logger ?? NullLogger.Instance;
        Directory.CreateDirectory(options.SandboxesDirectory);
        File.SetUnixFileMode(options.SandboxesDirectory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        HostLimits.Raise(_log);
        _lxcfs = Lxcfs.Ensure(options.LxcfsDirectory, _log);
        if (options.Network.Enabled)
        {
            _network = new Network.SandboxNetwork(options.Network, options.SandboxesDirectory, _log);
            File.WriteAllText(ResolvConfPath, _network.ResolvConf);
        }
        _watch = new SandboxWatch(OnExited, id => _ = ThreadPoolContext.Run(() => OnMemoryEventAsync(id)));
        Reconcile();
        TemplateLayers.SweepRetired(_templates.Directory, _log);
        _refill = new Timer(_ => KickRefill(), null, TimeSpan.Zero, TimeSpan.FromSeconds(5));
    }

    private const string WarmPrefix = "warm";

    /// <summary>Warm sandboxes ready to be claimed, per template.</summary>
    public int WarmCount(string templateId) => _warm.TryGetValue(templateId, out var q) ? q.Count : 0;

    public async Task<IReadOnlyList<WarmPoolFill>> GetWarmPoolsAsync(CancellationToken ct) =>
        (await _templates.ListAsync(ct))
            .Select(t => new WarmPoolFill(t.TemplateId, WarmCount(t.TemplateId), PoolSize(t)))
            .Where(p => p.Size > 0)
            .ToList();

    private int PoolSize(SandboxTemplate template) => _options.WarmPools.TryGetValue(template.TemplateId, out var n) ? n : template.WarmPoolSize;

    private void KickRefill()
    {
        // Never inline: a warm start's first steps (disk image, mount, cgroups) are synchronous and
        // would otherwise run on the time of the create whose end kicked the refill.
        if (!_disposed) ThreadPoolContext.Start(RefillAsync);
    }

    /// <summary>
    /// Starts what each template's pool lacks (ready + starting below its size), up to one start
    /// per core at a time. It waits while creates are in flight: a refill must not take the CPU
    /// from the creates it is there to speed up (the last create to finish calls it again).
    /// </summary>
    private async Task RefillAsync()
    {
        if (_disposed || Volatile.Read(ref _createsInFlight) > 0) return;
        IReadOnlyList<SandboxTemplate> templates;
        try { templates = await _templates.ListAsync(CancellationToken.None); }
        catch (Exception e) when (!_disposed)
        {
            _log.LogWarning(e, "warm-pool refill failed");
            return;
        }
        foreach (var template in templates)
        {
            var target = PoolSize(template);
            if (target <= 0) continue;
            var queue = _warm.GetOrAdd(template.TemplateId, _ => new ConcurrentQueue<SandboxRecordFile>());
            while (true)
            {
                lock (_poolLock)
                {
                    if (_disposed || Volatile.Read(ref _createsInFlight) > 0) return;
                    var warming = _warming.GetValueOrDefault(template.TemplateId);
                    if (queue.Count + warming >= target) break;
                    if (_warmingTotal >= _refillParallelism) return;
                    _warming[template.TemplateId] = warming + 1;
                    _warmingTotal++;
                }
                ThreadPoolContext.Start(() => StartWarmAsync(template, queue)); // starts run side by side
            }
        }
    }

    private async Task StartWarmAsync(SandboxTemplate template, ConcurrentQueue<SandboxRecordFile> queue)
    {
        var id = WarmPrefix + Guid.NewGuid().ToString("N")[..16];
        var record = new SandboxRecordFile
        {
            SandboxId = id, TemplateId = template.TemplateId, StartedAt = _time.GetUtcNow(),
            CpuCount = template.CpuCount, MemoryMB = template.MemoryMB, DiskSizeMB = template.DiskSizeMB,
        };
        var ok = false;
        try
        {
            (_, record) = await StartAsync(record, template, CancellationToken.None);
            await WaitHealthyAsync(id, CancellationToken.None);
            await WaitReadyAsync(id, template, CancellationToken.None);
            queue.Enqueue(record); // before the count below drops: never more than the pool's size
            ok = true;
        }
        catch (Exception e)
        {
            _log.LogWarning(e, "warm sandbox for {Template} failed to start", template.TemplateId);
            Destroy(id);
        }
        finally
        {
            lock (_poolLock)
            {
                _warming[template.TemplateId]--;
                _warmingTotal--;
            }
        }
        if (ok) KickRefill(); // a failure waits for the slow timer instead of retrying at once
    }

    /// <summary>
    /// Hands a warm sandbox out under the caller's ID: its directory and cgroups are renamed,
    /// its limits set, and envd initialised with the caller's env vars, token and the hostname.
    /// </summary>
    private async Task<(SandboxRecordFile Record, int InitPid)?> TryClaimAsync(SandboxSpec spec, SandboxTemplate template, CancellationToken ct)
    {
        if (!_warm.TryGetValue(template.TemplateId, out var queue) || !queue.TryDequeue(out var warm)) return null;
        var id = spec.SandboxId;
        var record = warm with
        {
            SandboxId = id,
            StartedAt = _time.GetUtcNow(),
            CpuCount = spec.CpuCount ?? template.CpuCount,
            MemoryMB = spec.MemoryMB ?? template.MemoryMB,
            AccessToken = spec.EnvdAccessToken,
            EnvVars = EnvVarsOf(spec, template),
            DefaultUser = spec.DefaultUser ?? template.DefaultUser,
            DefaultWorkdir = spec.DefaultWorkdir ?? template.DefaultWorkdir,
        };
        record = WithEgress(record, spec);
        try
        {
            // The veth and address were wired while it waited; only rules other than "open" cost a change.
            if (record.Link is { } link && !spec.Egress.IsOpen) _network!.SetEgress(link, spec.Egress);
            if (record.CpuCount != warm.CpuCount || record.MemoryMB != warm.MemoryMB)
                _cgroups.SetLimits(warm.SandboxId, new CgroupLimits(record.CpuCount, record.MemoryMB, _options.PidsLimit, _options.AgentPidsReserve));
            if (record.CpuCount != warm.CpuCount) CpuAffinity.Apply(_cgroups.Pids(warm.SandboxId), CpuAffinity.Pick(record.CpuCount));
            if (record.MemoryMB != warm.MemoryMB)
                await RunLauncherAsync(["resize", "--pid", _cgroups.Pids(warm.SandboxId).FirstOrDefault().ToString(), .. TmpfsSizeArguments(record.MemoryMB)], ct);
            Directory.Move(Dir(warm.SandboxId), Dir(id));
            _cgroups.Rename(warm.SandboxId, id);
            record.Save(RecordPath(id));
            SandboxHostname.Set(_cgroups.Pids(id).FirstOrDefault(), id);
            await InitAsync(record, ct);
            return (record, SandboxWatch.FindInit(_cgroups.Pids(id)));
        }
        catch (Exception e)
        {
            _log.LogWarning(e, "claiming warm sandbox {Warm} as {SandboxId} failed; starting cold", warm.SandboxId, id);
            Destroy(warm.SandboxId);
            Destroy(id);
            return null;
        }
    }

    /// <summary>Kills every warm sandbox (tests, benchmarks; a restart also clears them).</summary>
    public void DrainWarmPools()
    {
        _disposed = true;
        _refill.Dispose();
        // Starts under way finish (or fail) on their own; then nothing adds to the queues.
        for (var i = 0; i < 6000 && Volatile.Read(ref _warmingTotal) > 0; i++) Thread.Sleep(10);
        foreach (var queue in _warm.Values)
            while (queue.TryDequeue(out var w)) Destroy(w.SandboxId);
    }

    public string Name => "local";

    public bool ManagesTemplates => true;

    /// <summary>
    /// How long a boot after a filesystem pause waits for the old disk's loop device to go (the
    /// kernel writes the file system back first: seconds on a busy disk, over 10 in a loaded test run).
    /// </summary>
    private static readonly TimeSpan DiskReleaseTimeout = TimeSpan.FromSeconds(45);

    public ITemplateCatalog Templates => _templates;
    public string CgroupVersion => _cgroups.Version;

    private string Dir(string id) => Path.Combine(_options.SandboxesDirectory, id);
    private string SocketOf(string id) => Path.Combine(Dir(id), "run", "envd.sock");
    private string RecordPath(string id) => Path.Combine(Dir(id), "sandbox.json");
    private string ResolvConfPath => Path.Combine(_options.SandboxesDirectory, ".resolv.conf");

    /// <summary>This runtime's networking, or null when it is off.</summary>
    public Network.SandboxNetwork? Networking => _network;

    public async Task<SandboxInstance> CreateAsync(SandboxSpec spec, CancellationToken ct)
    {
        if (!IsValidId(spec.SandboxId)) throw new ArgumentException($"invalid sandbox ID '{spec.SandboxId}': lowercase letters and digits only");
        var template = await _templates.FindAsync(spec.TemplateId, ct) ?? throw new TemplateNotFoundException(spec.TemplateId);
        if (!File.Exists(_options.EnvdPath)) throw new InvalidOperationException($"portal-envd not found at '{_options.EnvdPath}' (LocalRuntime:EnvdPath); run scripts/publish-envd.sh");
        var record = new SandboxRecordFile
        {
            SandboxId = spec.SandboxId,
            TemplateId = template.TemplateId,
            StartedAt = _time.GetUtcNow(),
            CpuCount = spec.CpuCount ?? template.CpuCount,
            MemoryMB = spec.MemoryMB ?? template.MemoryMB,
            DiskSizeMB = template.DiskSizeMB,
            AccessToken = spec.EnvdAccessToken,
            EnvVars = EnvVarsOf(spec, template),
            DefaultUser = spec.DefaultUser ?? template.DefaultUser,
            DefaultWorkdir = spec.DefaultWorkdir ?? template.DefaultWorkdir,
        };
        record = WithEgress(record, spec);
        if (_sandboxes.ContainsKey(spec.SandboxId) || !_starting.TryAdd(spec.SandboxId, 0) || Directory.Exists(Dir(spec.SandboxId)))
            throw new SandboxStateException(spec.SandboxId, SandboxState.Running, $"sandbox '{spec.SandboxId}' already exists");
        _events.BeginCreate(spec.SandboxId);
        Interlocked.Increment(ref _createsInFlight);
        try
        {
            int initPid;
            if (await TryClaimAsync(spec, template, ct) is { } claimed)
            {
                (record, initPid) = claimed;
            }
            else
            {
                (initPid, record) = await StartAsync(record, template, ct);
                if (record.Link is { } link && !spec.Egress.IsOpen) _network!.SetEgress(link, spec.Egress);
                await WaitHealthyAsync(spec.SandboxId, ct);
                await WaitReadyAsync(spec.SandboxId, template, ct);
                await InitAsync(record, ct);
            }
            // Listed first, watched second: a death from here on finds it and is reported.
            _sandboxes[spec.SandboxId] = record;
            _watch.Watch(spec.SandboxId, initPid, _cgroups.OpenOomEvents(spec.SandboxId));
        }
        catch
        {
            _sandboxes.TryRemove(spec.SandboxId, out _);
            _watch.Unwatch(spec.SandboxId);
            Destroy(spec.SandboxId);
            _events.EndCreate(spec.SandboxId);
            throw;
        }
        finally
        {
            _starting.TryRemove(spec.SandboxId, out _);
            if (Interlocked.Decrement(ref _createsInFlight) == 0) KickRefill();
        }
        var instance = ToInstance(record);
        Publish(SandboxEventKind.Created, instance);
        return instance;
    }

    private static SandboxRecordFile WithEgress(SandboxRecordFile record, SandboxSpec spec)
    {
        var (allow, deny) = spec.Egress.ToLists();
        return record with { AllowOut = allow, DenyOut = deny, InternetAccess = spec.AllowInternetAccess };
    }

    /// <summary>
    /// Starts the sandbox and wires its network; returns the host PID of its PID 1 (the launcher
    /// prints it) and the record with its link.
    /// </summary>
    /// <param name="reboot">a sandbox paused with memory:false boots again: its disk image exists.</param>
    private async Task<(int Pid, SandboxRecordFile Record)> StartAsync(SandboxRecordFile record, SandboxTemplate template, CancellationToken ct, bool reboot = false)
    {
        var lowerdir = _templates.LowerDirOf(template.TemplateId);
        var id = record.SandboxId;
        var dir = Dir(id);
        foreach (var sub in new[] { "rootfs", "run" }) Directory.CreateDirectory(Path.Combine(dir, sub));
        File.SetUnixFileMode(dir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        record.Save(RecordPath(id));
        if (reboot) SandboxDisk.Remount(dir, DiskReleaseTimeout);
        else SandboxDisk.Create(dir, record.DiskSizeMB);
        // Each boot its own ID (/proc/sys/kernel/random/boot_id inside), as a machine gets at boot.
        File.WriteAllText(Path.Combine(dir, BootIdFile), Guid.NewGuid().ToString("D") + "\n");
        NativeSignals.Mount("overlay", Path.Combine(dir, "rootfs"), "overlay",
            $"lowerdir={lowerdir},upperdir={SandboxDisk.UpperOf(dir)},workdir={SandboxDisk.WorkOf(dir)}");

        var procs = _cgroups.Create(id, new CgroupLimits(record.CpuCount, record.MemoryMB, _options.PidsLimit, _options.AgentPidsReserve));
        // The launcher joins the cgroups, sets the sandbox up detached from the portal (a portal
        // restart or crash leaves it running) and exits once envd has been started inside.
        string printed;
        try { printed = await RunLauncherAsync(LauncherArguments(id, procs, record.CpuCount, record.MemoryMB, template), ct); }
        catch (InvalidOperationException e) { throw new InvalidOperationException($"sandbox '{id}' could not be started: {e.Message}"); }
        if (!int.TryParse(printed, out var pid) || pid <= 0)
            throw new InvalidOperationException($"sandbox '{id}': the launcher did not print its PID 1 (got '{printed}')");
        if (_network is not null)
        {
            record = record with { Link = await _network.WireAsync(pid, ct) };
            record.Save(RecordPath(id));
        }
        return (pid, record);
    }

    /// <summary>Runs the launcher; returns what it printed (trimmed), or throws with its error output.</summary>
    private async Task<string> RunLauncherAsync(IEnumerable<string> arguments, CancellationToken ct)
    {
        var psi = new ProcessStartInfo(_options.LauncherPath) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in arguments) psi.ArgumentList.Add(a);
        psi.Environment.Clear();
        using var launcher = Process.Start(psi) ?? throw new InvalidOperationException($"could not start {_options.LauncherPath}");
        var stdout = launcher.StandardOutput.ReadToEndAsync(ct);
        var stderr = launcher.StandardError.ReadToEndAsync(ct);
        await launcher.WaitForExitAsync(ct);
        if (launcher.ExitCode != 0) throw new InvalidOperationException((await stderr).Trim());
        return (await stdout).Trim();
    }

    private const string BootIdFile = "boot_id";

    private IEnumerable<string> LauncherArguments(string id, IReadOnlyList<string> cgroupProcs, int cpuCount, int memoryMB, SandboxTemplate template)
    {
        var dir = Dir(id);
        yield return "run";
        foreach (var a in new[] { "--root", Path.Combine(dir, "rootfs"), "--hostname", id, "--log", Path.Combine(dir, "sandbox.log") }) yield return a;
        foreach (var a in TmpfsSizeArguments(memoryMB)) yield return a;
        yield return "--cpus";
        yield return CpuAffinity.Format(CpuAffinity.Pick(cpuCount));
        foreach (var a in new[] { "--ro-bind", Path.Combine(dir, BootIdFile), "/proc/sys/kernel/random/boot_id" }) yield return a;
        if (_lxcfs is not null)
            foreach (var file in Lxcfs.ProcFiles)
                if (File.Exists(Path.Combine(_lxcfs, "proc", file)))
                    foreach (var a in new[] { "--ro-bind", Path.Combine(_lxcfs, "proc", file), "/proc/" + file }) yield return a;
        foreach (var p in cgroupProcs) { yield return "--cgroup"; yield return p; }
        foreach (var a in new[] { "--ro-bind", _options.EnvdPath, "/usr/local/bin/portal-envd", "--bind", Path.Combine(dir, "run"), "/run/portal" }) yield return a;
        if (_network is not null) foreach (var a in new[] { "--ro-bind", ResolvConfPath, "/etc/resolv.conf" }) yield return a;
        // Only these two cgroup files, not the cgroup directories: root in the sandbox must not
        // reach its own limits (pids.max, memory.limit_in_bytes).
        if (_cgroups.UserCgroup(id) is { } user)
            foreach (var a in new[] { "--bind", user.UserTasks, "/run/portal/cgroup/user.tasks", "--bind", user.AgentTasks, "/run/portal/cgroup/agent.tasks" }) yield return a;
        foreach (var cap in Capabilities) { yield return "--cap"; yield return cap; }
        yield return "--env";
        yield return "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
        yield return "--env";
        yield return "HOME=/root";
        foreach (var a in new[] { "--", "/usr/local/bin/portal-envd", "--socket", "/run/portal/envd.sock", "--default-user", "user" }) yield return a;
        // envd runs and supervises the template's start command; WaitReadyAsync waits for its ready command.
        if (template.StartCommand is { } start)
        {
            yield return "--start-command";
            yield return start;
            if (template.ReadyCommand is { } ready)
            {
                yield return "--ready-command";
                yield return ready;
            }
        }
    }

    /// <summary>/tmp and /dev/shm caps: their pages count against the sandbox's memory limit.</summary>
    private string[] TmpfsSizeArguments(int memoryMB) =>
        ["--tmp-size", $"{memoryMB * 1024L * _options.TmpSizePercent / 100}k", "--shm-size", $"{memoryMB * 1024L * _options.ShmSizePercent / 100}k"];

    private async Task WaitHealthyAsync(string id, CancellationToken ct)
    {
        var deadline = _time.GetUtcNow() + _options.StartTimeout;
        var socket = SocketOf(id);
        // Backing off from 1 ms to 16 ms: envd answers within ~50 ms on an idle machine, but during
        // a burst a hundred creates polling every 2 ms spent more of the portal's CPU than the creates.
        var delay = 1;
        while (true)
        {
            if (File.Exists(socket) && await EnvdSocketClient.IsHealthyAsync(socket, ct)) return;
            if (_time.GetUtcNow() > deadline)
            {
                var log = Path.Combine(Dir(id), "sandbox.log");
                var tail = File.Exists(log) ? string.Join(" | ", File.ReadLines(log).Where(l => !l.TrimStart().StartsWith("at ", StringComparison.Ordinal)).TakeLast(6)) : "";
                var alive = _cgroups.Pids(id).Count;
                throw new TimeoutException($"sandbox '{id}' did not become ready within {_options.StartTimeout.TotalSeconds:0} s ({alive} processes alive, socket {(File.Exists(socket) ? "present" : "absent")}): {tail}");
            }
            await Task.Delay(delay, ct);
            delay = Math.Min(delay * 2, 16);
        }
    }

    /// <summary>
    /// Waits until envd says the template's start command is ready (its ready command exited 0):
    /// before a warm sandbox joins the pool, or before a cold create returns.
    /// </summary>
    private async Task WaitReadyAsync(string id, SandboxTemplate template, CancellationToken ct)
    {
        if (template.StartCommand is null) return;
        var deadline = _time.GetUtcNow() + _options.StartTimeout;
        var socket = SocketOf(id);
        var delay = 5;
        while (!await EnvdSocketClient.IsReadyAsync(socket, ct))
        {
            if (_time.GetUtcNow() > deadline)
                throw new TimeoutException($"sandbox '{id}': the start command of template '{template.TemplateId}' was not ready within {_options.StartTimeout.TotalSeconds:0} s (its ready command never exited 0)");
            await Task.Delay(delay, ct);
            delay = Math.Min(delay * 2, 50);
        }
    }

    /// <summary>envd's /init with what the record says (the create's values over its template's defaults).</summary>
    private Task InitAsync(SandboxRecordFile record, CancellationToken ct) =>
        InitAsync(record.SandboxId, record.EnvVars, record.AccessToken, record.DefaultUser, record.DefaultWorkdir, ct);

    private async Task InitAsync(string sandboxId, IReadOnlyDictionary<string, string> envVars, string? accessToken, string? defaultUser, string? defaultWorkdir, CancellationToken ct)
    {
        using var http = EnvdSocketClient.HttpClient(SocketOf(sandboxId));
        var body = new Dictionary<string, object?>
        {
            ["envVars"] = envVars,
            ["accessToken"] = accessToken,
            ["defaultUser"] = defaultUser ?? "user",
        };
        if (defaultWorkdir is { } workdir) body["defaultWorkdir"] = workdir;
        using var res = await http.PostAsJsonAsync("/init", body, ct);
        if (!res.IsSuccessStatusCode) throw new InvalidOperationException($"envd /init failed: {(int)res.StatusCode} {await res.Content.ReadAsStringAsync(ct)}");
    }

    public Task<SandboxInstance?> FindAsync(string sandboxId, CancellationToken ct) =>
        Task.FromResult(_sandboxes.TryGetValue(sandboxId ?? "", out var r) ? ToInstance(r) : null);

    public Task<IReadOnlyList<SandboxInstance>> ListAsync(CancellationToken ct) =>
        Task.FromResult<IReadOnlyList<SandboxInstance>>(_sandboxes.Values.Select(ToInstance).OrderBy(s => s.StartedAt).ToList());

    public async Task<bool> KillAsync(string sandboxId, CancellationToken ct)
    {
        var gate = Gate(sandboxId);
        await gate.WaitAsync(ct);
        try
        {
            if (!_sandboxes.TryRemove(sandboxId, out var record)) return false;
            _watch.Unwatch(sandboxId); // its PID 1 is about to exit: that is no death to report
            await Task.Run(() => Destroy(sandboxId), CancellationToken.None);
            Publish(SandboxEventKind.Killed, ToInstance(record) with { State = SandboxState.Dead });
            return true;
        }
        finally
        {
            gate.Release();
            _gates.TryRemove(sandboxId, out _);
        }
    }

    private SemaphoreSlim Gate(string sandboxId) => _gates.GetOrAdd(sandboxId, _ => new SemaphoreSlim(1, 1));

    public async Task PauseAsync(string sandboxId, SandboxPauseMode mode, CancellationToken ct)
    {
        var gate = Gate(sandboxId);
        await gate.WaitAsync(ct);
        try
        {
            var record = Get(sandboxId);
            if (record.Paused) throw new SandboxStateException(sandboxId, SandboxState.Paused, $"sandbox '{sandboxId}' is already paused");
            if (mode == SandboxPauseMode.Memory)
            {
                _cgroups.Freeze(sandboxId);
                Update(record with { Paused = true });
            }
            else
            {
                // Recorded first: a portal that dies half-way finds a sandbox to boot on resume,
                // not a dead one to clean up (Reconcile keeps a paused-to-disk one by its image).
                Update(record with { Paused = true, PausedToDisk = true });
                await Task.Run(() => ShutDown(sandboxId, record), CancellationToken.None);
                Update(Get(sandboxId) with { Link = null });
            }
        }
        finally
        {
            gate.Release();
        }
        Publish(SandboxEventKind.Paused, ToInstance(Get(sandboxId)));
    }

    public async Task SetEgressAsync(string sandboxId, SandboxEgress egress, CancellationToken ct)
    {
        var gate = Gate(sandboxId);
        await gate.WaitAsync(ct);
        try
        {
            var record = Get(sandboxId);
            if (_network is null || record.Link is null) throw new NotSupportedException("sandbox networking is off on this portal (Portal:LocalRuntime:Network:Enabled)");
            _network.SetEgress(record.Link, egress);
            var (allow, deny) = egress.ToLists();
            Update(record with { AllowOut = allow, DenyOut = deny });
        }
        finally
        {
            gate.Release();
        }
    }

    public async Task<SandboxInstance> ResumeAsync(string sandboxId, CancellationToken ct)
    {
        var gate = Gate(sandboxId);
        await gate.WaitAsync(ct);
        try
        {
            var record = Get(sandboxId);
            if (!record.Paused) throw new SandboxStateException(sandboxId, SandboxState.Running, $"sandbox '{sandboxId}' is not paused");
            if (record.PausedToDisk)
            {
                await BootAsync(record, ct);
            }
            else
            {
                _cgroups.Thaw(sandboxId);
                await WaitHealthyAsync(sandboxId, ct);
                Update(record with { Paused = false });
            }
        }
        finally
        {
            gate.Release();
        }
        var instance = ToInstance(Get(sandboxId));
        Publish(SandboxEventKind.Resumed, instance);
        return instance;
    }

    public async ValueTask<Stream> ConnectAsync(string sandboxId, int port, CancellationToken ct)
    {
        if (!_sandboxes.TryGetValue(sandboxId, out var record) || record.Paused) throw new SandboxNotFoundException(sandboxId);
        try
        {
            return port == SandboxPorts.Envd
                ? await EnvdSocketClient.OpenAsync(SocketOf(sandboxId), ct)
                : await EnvdSocketClient.TunnelAsync(SocketOf(sandboxId), port, record.AccessToken, sandboxId, ct);
        }
        catch (System.Net.Sockets.SocketException)
        {
            throw new SandboxNotFoundException(sandboxId);
        }
    }

    /// <summary>
    /// A filesystem pause: every process killed (the PID 1 exiting takes the sandbox's mount
    /// namespace, its /tmp and /dev/shm along), the overlay and the disk unmounted, the veth and the
    /// cgroups removed (their memory with them). Only the directory with its disk image is left.
    /// </summary>
    private void ShutDown(string id, SandboxRecordFile record)
    {
        _watch.Unwatch(id); // its PID 1 is about to exit: no death to report
        try { _cgroups.KillAll(id, TimeSpan.FromSeconds(10)); }
        catch (TimeoutException e) { _log.LogError(e, "sandbox {SandboxId}: processes survived SIGKILL", id); throw; }
        if (_network is not null && record.Link is { } link) _network.UnwireAsync(link).GetAwaiter().GetResult();
        NativeSignals.Unmount(Path.Combine(Dir(id), "rootfs"));
        SandboxDisk.Unmount(Dir(id));
        _cgroups.Remove(id);
        _cpuSamples.TryRemove(id, out _);
        _oomSeen.TryRemove(id, out _);
        try { File.Delete(SocketOf(id)); } catch (IOException) { }
    }

    /// <summary>
    /// Boots a sandbox paused with memory:false again, under the same ID: its disk mounted, a new
    /// boot ID, envd and the template's start command started afresh, /init with the create's env
    /// vars and access token. A failure leaves it paused (to disk) for another try or a kill.
    /// </summary>
    private async Task BootAsync(SandboxRecordFile record, CancellationToken ct)
    {
        var id = record.SandboxId;
        // Deleted meanwhile or not: it stands on that chain (DeleteTemplateAsync kept it for this).
        var template = _templates.FindStoodOn(record.TemplateId)
            ?? throw new TemplateNotFoundException(record.TemplateId);
        try
        {
            var (pid, started) = await StartAsync(record with { Link = null }, template, ct, reboot: true);
            if (started.Link is { } link && !started.Egress.IsOpen) _network!.SetEgress(link, started.Egress);
            await WaitHealthyAsync(id, ct);
            await WaitReadyAsync(id, template, ct);
            await InitAsync(started, ct);
            // StartedAt stays the create's: E2B's startedAt does not move on resume (uptime inside does).
            Update(started with { Paused = false, PausedToDisk = false });
            _watch.Watch(id, pid, _cgroups.OpenOomEvents(id));
            RetireDeletedTemplates(); // mounted again: a deleted template now waits for the mount
        }
        catch
        {
            try { ShutDown(id, SandboxRecordFile.TryLoad(RecordPath(id)) ?? Get(id)); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or TimeoutException or InvalidOperationException)
            {
                _log.LogError(e, "sandbox {SandboxId}: cleaning up a failed boot", id);
            }
            Update(Get(id) with { Paused = true, PausedToDisk = true, Link = null });
            throw;
        }
    }

    /// <summary>envd's own Unix socket; other ports are tunnelled through envd (<see cref="ConnectAsync"/>).</summary>
    public System.Net.EndPoint? DirectEndPoint(string sandboxId, int port)
    {
        if (!_sandboxes.TryGetValue(sandboxId, out var record) || record.Paused) throw new SandboxNotFoundException(sandboxId);
        return port == SandboxPorts.Envd ? new System.Net.Sockets.UnixDomainSocketEndPoint(SocketOf(sandboxId)) : null;
    }

    /// <summary>The template's variables with the create's over them.</summary>
    private static Dictionary<string, string> EnvVarsOf(SandboxSpec spec, SandboxTemplate template)
    {
        var env = new Dictionary<string, string>(template.EnvVars, StringComparer.Ordinal);
        foreach (var (k, v) in spec.EnvVars) env[k] = v;
        return env;
    }

    public async Task<SandboxTemplate> SnapshotAsync(string sandboxId, string newTemplateId, CancellationToken ct)
    {
        if (!TemplateLayers.IsValidId(newTemplateId)) throw new ArgumentException($"invalid template ID '{newTemplateId}': lowercase letters, digits, '-' and '_' only, at most 64");
        var gate = Gate(sandboxId);
        await gate.WaitAsync(ct);
        try
        {
            var record = Get(sandboxId);
            var source = await _templates.FindAsync(record.TemplateId, ct) ?? throw new TemplateNotFoundException(record.TemplateId);
            if (_templates.DepthOf(source.TemplateId) >= LocalTemplateCatalog.MaxChainDepth)
                throw new ArgumentException($"template '{source.TemplateId}' is already {LocalTemplateCatalog.MaxChainDepth} layers deep: a snapshot of its sandboxes would be too deep to mount");
            var template = new SandboxTemplate
            {
                TemplateId = newTemplateId,
                CpuCount = record.CpuCount,
                MemoryMB = record.MemoryMB,
                DiskSizeMB = record.DiskSizeMB,
                StartCommand = source.StartCommand,
                ReadyCommand = source.ReadyCommand,
                ParentTemplateId = source.TemplateId,
                DefaultUser = record.DefaultUser,
                DefaultWorkdir = record.DefaultWorkdir,
                EnvVars = record.EnvVars,
            };
            var frozenHere = !record.Paused;
            if (frozenHere) await FreezeAsync(sandboxId, ct);
            try
            {
                await Task.Run(() =>
                {
                    // Paused to disk: nothing runs and its disk is not mounted; mounted for the copy only.
                    if (record.PausedToDisk) SandboxDisk.Remount(Dir(sandboxId), DiskReleaseTimeout);
                    try { TemplateLayers.Capture(SandboxDisk.UpperOf(Dir(sandboxId)), _templates.Directory, template); }
                    finally { if (record.PausedToDisk) SandboxDisk.Unmount(Dir(sandboxId)); }
                }, CancellationToken.None);
            }
            finally
            {
                if (frozenHere) _cgroups.Thaw(sandboxId);
            }
            _log.LogInformation("sandbox {SandboxId} copied into template {TemplateId}", sandboxId, newTemplateId);
            return template;
        }
        finally
        {
            gate.Release();
        }
    }

    /// <summary>Freezes and waits until every task is frozen: only then is no write half done.</summary>
    private async Task FreezeAsync(string sandboxId, CancellationToken ct)
    {
        _cgroups.Freeze(sandboxId);
        for (var i = 0; !_cgroups.IsFrozen(sandboxId); i++)
        {
            if (i >= 1000)
            {
                _cgroups.Thaw(sandboxId);
                throw new TimeoutException($"sandbox '{sandboxId}' did not freeze within 10 s (a process stuck in the kernel?)");
            }
            await Task.Delay(10, ct);
        }
    }

    public Task<SandboxTemplate> DeriveTemplateAsync(string parentTemplateId, string newTemplateId, string? startCommand, string? readyCommand, CancellationToken ct)
    {
        if (!TemplateLayers.IsValidId(newTemplateId)) throw new ArgumentException($"invalid template ID '{newTemplateId}': lowercase letters, digits, '-' and '_' only, at most 64");
        return Task.Run(async () =>
        {
            var parent = await _templates.FindAsync(parentTemplateId, ct) ?? throw new TemplateNotFoundException(parentTemplateId);
            if (_templates.DepthOf(parent.TemplateId) >= LocalTemplateCatalog.MaxChainDepth)
                throw new ArgumentException($"template '{parent.TemplateId}' is already {LocalTemplateCatalog.MaxChainDepth} layers deep");
            var template = parent with
            {
                TemplateId = newTemplateId, Aliases = [], WarmPoolSize = 0, ParentTemplateId = parent.TemplateId,
                StartCommand = startCommand, ReadyCommand = startCommand is null ? null : readyCommand,
            };
            TemplateLayers.Derive(_templates.Directory, template);
            return template;
        }, ct);
    }

    public Task<bool> DeleteTemplateAsync(string templateId, CancellationToken ct)
    {
        if (!TemplateLayers.IsValidId(templateId)) return Task.FromResult(false);
        return Task.Run(() => NeededByPausedToDisk().Contains(templateId)
            ? TemplateLayers.MarkDeleted(_templates, templateId)
            : TemplateLayers.Retire(_templates, templateId), ct);
    }

    /// <summary>Templates a sandbox paused to disk mounts again when it boots (its whole chain).</summary>
    private HashSet<string> NeededByPausedToDisk() =>
        _sandboxes.Values.Where(r => r.PausedToDisk).SelectMany(r => _templates.ChainOf(r.TemplateId)).ToHashSet(StringComparer.Ordinal);

    /// <summary>
    /// Templates deleted while a sandbox paused to disk stood on them go once none does (it was
    /// killed, or it booted again: then its mount keeps the files until it ends).
    /// </summary>
    private void RetireDeletedTemplates()
    {
        IReadOnlyList<SandboxTemplate> all;
        try { all = _templates.AllForSweep(); }
        catch (IOException) { return; }
        // Deepest first: a deleted template on a deleted parent goes before it, in one pass.
        var deleted = all.Where(t => t.Deleted).Select(t => t.TemplateId).OrderByDescending(_templates.DepthOf).ToList();
        if (deleted.Count == 0) return;
        var needed = NeededByPausedToDisk();
        foreach (var id in deleted.Where(d => !needed.Contains(d)))
        {
            try { TemplateLayers.Retire(_templates, id); }
            catch (TemplateInUseException) { /* a template stands on it: it goes after that one */ }
            catch (IOException e) { _log.LogWarning(e, "could not remove deleted template {TemplateId}", id); }
        }
    }

    public Task<SandboxMetrics?> GetMetricsAsync(string sandboxId, CancellationToken ct)
    {
        if (!_sandboxes.TryGetValue(sandboxId, out var record)) return Task.FromResult<SandboxMetrics?>(null);
        if (record.PausedToDisk)
            return Task.FromResult<SandboxMetrics?>(new SandboxMetrics
            {
                // Nothing runs and nothing is held in memory; the disk is not mounted to measure.
                Timestamp = _time.GetUtcNow(), CpuCount = record.CpuCount, CpuUsedPct = 0, MemUsed = 0,
                MemTotal = record.MemoryMB * 1024L * 1024, DiskUsed = 0, DiskTotal = record.DiskSizeMB * 1024L * 1024,
            });
        var stats = _cgroups.Stats(sandboxId);
        var now = Stopwatch.GetTimestamp();
        var previous = _cpuSamples.TryGetValue(sandboxId, out var p) ? p : (Cpu: stats.CpuUsageNanos, At: now);
        _cpuSamples[sandboxId] = (stats.CpuUsageNanos, now);
        var elapsedNs = Stopwatch.GetElapsedTime(previous.At, now).TotalMilliseconds * 1_000_000;
        var cpuPct = elapsedNs > 0 ? (stats.CpuUsageNanos - previous.Cpu) / elapsedNs / record.CpuCount * 100 : 0;
        var memTotal = Math.Min(stats.MemoryLimitBytes, record.MemoryMB * 1024L * 1024);
        var disk = SandboxDisk.Usage(Dir(sandboxId));
        return Task.FromResult<SandboxMetrics?>(new SandboxMetrics
        {
            Timestamp = _time.GetUtcNow(),
            CpuCount = record.CpuCount,
            CpuUsedPct = Math.Round(Math.Clamp(cpuPct, 0, 100), 2),
            MemUsed = stats.MemoryBytes,
            MemTotal = memTotal,
            DiskUsed = disk?.Used ?? 0,
            DiskTotal = disk?.Total ?? record.DiskSizeMB * 1024L * 1024,
        });
    }

    public async IAsyncEnumerable<SandboxEvent> WatchAsync([EnumeratorCancellation] CancellationToken ct)
    {
        await foreach (var e in _events.WatchAsync(() => _sandboxes.Values.Select(ToInstance), ct)) yield return e;
    }

    private void Publish(SandboxEventKind kind, SandboxInstance instance, string? reason = null) => _events.Publish(kind, instance, reason);

    /// <summary>PID 1 of a sandbox exited (<see cref="SandboxWatch"/>): every process in it is gone or going.</summary>
    private void OnExited(string id)
    {
        if (!_sandboxes.TryRemove(id, out var record)) return; // killed on purpose meanwhile
        _log.LogWarning("sandbox {SandboxId} died: its init process exited", id);
        // Runs on a thread-pool work item: an exception here would end the process.
        try { Destroy(id); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { _log.LogError(e, "cleaning up dead sandbox {SandboxId}", id); }
        Publish(SandboxEventKind.Died, ToInstance(record) with { State = SandboxState.Dead }, "every process in the sandbox exited");
    }

    /// <summary>The memory cgroup signalled an OOM: report new kills.</summary>
    private async Task OnMemoryEventAsync(string id)
    {
        // cgroup v1 signals before the kernel picks a victim: look again shortly if the count has not moved yet.
        foreach (var delay in new[] { 0, 50, 250, 1000 })
        {
            if (delay > 0) await Task.Delay(delay);
            if (!_sandboxes.TryGetValue(id, out var record)) return;
            long oom;
            try { oom = _cgroups.Stats(id).OomKills; }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return; }
            lock (_oomSeen)
            {
                if (oom <= _oomSeen.GetValueOrDefault(id)) continue;
                _oomSeen[id] = oom;
            }
            Publish(SandboxEventKind.MemoryLimitHit, ToInstance(record), $"a process was killed for exceeding the {record.MemoryMB} MB memory limit ({oom} so far)");
            return;
        }
    }

    /// <summary>
    /// Matches directories against cgroups after a restart: live sandboxes are kept (paused
    /// ones stay paused), half-made or dead ones are cleaned up, cgroups without a sandbox killed.
    /// </summary>
    private void Reconcile()
    {
        foreach (var dir in Directory.GetDirectories(_options.SandboxesDirectory))
        {
            var id = Path.GetFileName(dir);
            var record = id.StartsWith(WarmPrefix, StringComparison.Ordinal) ? null : SandboxRecordFile.TryLoad(RecordPath(id));
            var alive = record is not null && _cgroups.Exists(id) && _cgroups.Pids(id).Count > 0 && File.Exists(SocketOf(id));
            if (record is { PausedToDisk: true } && File.Exists(Path.Combine(dir, SandboxDisk.ImageName)))
            {
                // Paused with memory:false (or the portal died while pausing it): finish the shut-down
                // (idempotent) and keep it paused; the resume boots it.
                _sandboxes[id] = record;
                try { ShutDown(id, record); }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException or TimeoutException or InvalidOperationException)
                {
                    _log.LogError(e, "sandbox {SandboxId}: finishing its filesystem pause", id);
                }
                Update(record with { Paused = true, Link = null });
                _log.LogInformation("found sandbox {SandboxId} paused to disk", id);
                continue;
            }
            if (alive)
            {
                _sandboxes[id] = record! with { Paused = _cgroups.IsFrozen(id) };
                if (record.Link is { } link && _network is not null)
                {
                    try { _network.Adopt(link, record.Egress); }
                    catch (InvalidOperationException e) { _log.LogError(e, "sandbox {SandboxId}: its network could not be taken back", id); }
                }
                try { _watch.Watch(id, SandboxWatch.FindInit(_cgroups.Pids(id)), _cgroups.OpenOomEvents(id)); }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    // Unwatched, its death would go unnoticed: better gone now than a ghost later.
                    _log.LogError(e, "sandbox {SandboxId} cannot be watched; removing it", id);
                    _sandboxes.TryRemove(id, out _);
                    Destroy(id);
                    continue;
                }
                _log.LogInformation("found running sandbox {SandboxId}", id);
            }
            else
            {
                _log.LogWarning("cleaning up dead or half-created sandbox {SandboxId}", id);
                Destroy(id);
            }
        }
        foreach (var orphan in _cgroups.List().Where(c => !_sandboxes.ContainsKey(c) && !_starting.ContainsKey(c)))
        {
            _cgroups.KillAll(orphan, TimeSpan.FromSeconds(5));
            _cgroups.Remove(orphan);
        }
    }

    /// <summary>Kills every process, unmounts, removes the directory and the cgroups. Idempotent.</summary>
    private void Destroy(string id)
    {
        try { _cgroups.KillAll(id, TimeSpan.FromSeconds(10)); }
        catch (TimeoutException e) { _log.LogError(e, "sandbox {SandboxId}: processes survived SIGKILL", id); }
        if (_network is not null && (_sandboxes.GetValueOrDefault(id) ?? SandboxRecordFile.TryLoad(RecordPath(id)))?.Link is { } link)
            _network.UnwireAsync(link).GetAwaiter().GetResult();
        NativeSignals.Unmount(Path.Combine(Dir(id), "rootfs"));
        SandboxDisk.Unmount(Dir(id));
        try { if (Directory.Exists(Dir(id))) Directory.Delete(Dir(id), recursive: true); }
        catch (IOException e) { _log.LogError(e, "sandbox {SandboxId}: could not remove its directory", id); }
        _cgroups.Remove(id);
        _cpuSamples.TryRemove(id, out _);
        _oomSeen.TryRemove(id, out _);
        // A deleted template's files wait for the last sandbox mounted on them.
        RetireDeletedTemplates();
        TemplateLayers.SweepRetired(_templates.Directory, _log);
    }

    private SandboxRecordFile Get(string id) => _sandboxes.TryGetValue(id, out var r) ? r : throw new SandboxNotFoundException(id);

    private void Update(SandboxRecordFile record)
    {
        _sandboxes[record.SandboxId] = record;
        record.Save(RecordPath(record.SandboxId));
    }

    private SandboxInstance ToInstance(SandboxRecordFile r) => new()
    {
        SandboxId = r.SandboxId,
        TemplateId = r.TemplateId,
        State = r.Paused ? SandboxState.Paused : SandboxState.Running,
        StartedAt = r.StartedAt,
        CpuCount = r.CpuCount,
        MemoryMB = r.MemoryMB,
        DiskSizeMB = r.DiskSizeMB,
        EnvdVersion = _options.EnvdVersion,
        InternetAccess = _network is not null && r.InternetAccess,
    };

    private static bool IsValidId(string id) => id.Length is > 0 and <= 64 && id.All(c => c is (>= 'a' and <= 'z') or (>= '0' and <= '9'));

    /// <summary>Stops the monitors and kills the warm sandboxes; claimed ones run on, detached.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposeCalled, 1) == 1) return; // DI may dispose it under two registrations
        DrainWarmPools();
        _watch.Dispose();
        // With no sandbox left, nothing needs the table (a restart would rebuild it anyway).
        if (_network is not null && _sandboxes.IsEmpty) _network.RemoveTable();
        _network?.Dispose();
        _events.Complete();
    }
}
