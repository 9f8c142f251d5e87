using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Portal.Core.Envd;
using Portal.Core.Persistence;
using Portal.Core.Runtime;
using Portal.Core.Sandboxes;

namespace Portal.Core.Templates;

/// <summary>
/// Runs template builds in the background, a few at a time: each build's steps run in one build
/// sandbox started by the runtime from the newest cached layer, and after each step that changes
/// files the sandbox's changes become a layer (<see cref="ISandboxRuntime.SnapshotAsync"/>) kept in
/// the team's layer cache under a key of everything the step's result depends on. A step whose key
/// is cached is not run again. The last step derives the template sandboxes start from (its start
/// and ready commands). A failed step leaves no layer, no sandbox and no template.
/// </summary>
public sealed class TemplateBuilder(
    ISandboxRuntime runtime,
    IPortalStore store,
    TemplateFiles files,
    ITemplateImageSource images,
    IOptions<TemplateOptions> options,
    TimeProvider clock,
    ILogger<TemplateBuilder> log) : IDisposable
{
    /// <summary>Built-in templates' user and directory: E2B's base runs as "user" in its home.</summary>
    private static readonly BuildState BuiltInState = new() { User = "user", Workdir = "/home/user" };

    private readonly TemplateOptions _options = options.Value;
    private readonly SemaphoreSlim _slots = new(Math.Max(1, options.Value.MaxConcurrentBuilds));
    private readonly ConcurrentDictionary<string, Task> _running = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _stopping = new();

    /// <summary>Whether the runtime can build at all (the Kubernetes runtime's templates are images made elsewhere).</summary>
    public bool Supported => runtime.ManagesTemplates;

    /// <summary>Queues the build; its status moves from waiting to building once a slot is free.</summary>
    public void Start(TemplateBuild build, BuildRequest request)
    {
        // Listed before it runs: a build that ends at once removes itself, and must find itself there.
        _running[build.BuildId] = Task.CompletedTask;
        var task = Threading.ThreadPoolContext.Run(() => RunAsync(build, request));
        _running.TryUpdate(build.BuildId, task, Task.CompletedTask);
    }

    /// <summary>Builds still running in this process (tests and shutdown wait for them).</summary>
    public Task WhenIdleAsync() => Task.WhenAll(_running.Values.ToList());

    /// <summary>
    /// After a restart nothing of an unfinished build runs any more: each is marked failed, its
    /// build sandbox removed.
    /// </summary>
    public async Task RecoverAsync(CancellationToken ct)
    {
        foreach (var build in await store.ListTemplateBuildsAsync([TemplateBuildStatus.Waiting, TemplateBuildStatus.Building], null, ct))
        {
            if (_running.ContainsKey(build.BuildId)) continue;
            if (build.Status == TemplateBuildStatus.Waiting && build.RequestJson is null) continue; // never started: the client may still start it
            if (build.BuildSandboxId is { } sandbox) await TryKillAsync(sandbox);
            await store.SaveTemplateBuildAsync(build with
            {
                Status = TemplateBuildStatus.Error, FinishedAt = clock.GetUtcNow(), BuildSandboxId = null,
                ReasonMessage = "the portal restarted while this build was running; start a new build",
            }, ct);
            log.LogWarning("Template build {BuildId} was cut short by a restart: marked failed", build.BuildId);
        }
    }

    private async Task RunAsync(TemplateBuild build, BuildRequest request)
    {
        var buildLog = new BuildLog(store, build.BuildId, clock, _options.MaxLogEntries);
        using var flusher = new Timer(_ => _ = buildLog.FlushAsync(), null, TimeSpan.FromMilliseconds(250), TimeSpan.FromMilliseconds(250));
        var run = new BuildRun(build, request, buildLog);
        try
        {
            await _slots.WaitAsync(_stopping.Token);
            try
            {
                run.Build = build with { Status = TemplateBuildStatus.Building };
                await store.SaveTemplateBuildAsync(run.Build, CancellationToken.None);
                await BuildAsync(run);
            }
            finally { _slots.Release(); }
        }
        catch (Exception e)
        {
            var (step, message) = e switch
            {
                StepFailedException f => (f.Step, f.Message),
                DomainException d => (run.CurrentStep, d.Message),
                OperationCanceledException => (run.CurrentStep, "the build was stopped (portal shutting down or step timeout)"),
                TemplateNotFoundException t => (run.CurrentStep, $"template '{t.TemplateId}' not found"),
                _ => (run.CurrentStep, "internal error: " + e.Message),
            };
            if (e is not (StepFailedException or DomainException)) log.LogError(e, "Template build {BuildId} failed", build.BuildId);
            buildLog.Add("error", message, step);
            await CleanUpAsync(run);
            await buildLog.FlushAsync(final: true);
            await store.SaveTemplateBuildAsync(run.Build with
            {
                Status = TemplateBuildStatus.Error, FinishedAt = clock.GetUtcNow(), BuildSandboxId = null,
                ReasonMessage = message, ReasonStep = step,
            }, CancellationToken.None);
        }
        finally
        {
            _running.TryRemove(build.BuildId, out _);
        }
    }

    /// <summary>What one build has going: its sandbox, the templates it made that are not cached layers yet.</summary>
    private sealed class BuildRun(TemplateBuild build, BuildRequest request, BuildLog log)
    {
        public TemplateBuild Build { get; set; } = build;
        public BuildRequest Request { get; } = request;
        public BuildLog Log { get; } = log;
        public string? CurrentStep { get; set; } = "base";
        public string? SandboxId { get; set; }
        public string? SandboxToken { get; set; }
        public List<string> LayerKeys { get; } = [];
        /// <summary>Made by this build and owned by nothing else yet: removed if the build fails.</summary>
        public string? PendingTemplate { get; set; }
    }

    private async Task BuildAsync(BuildRun run)
    {
        var build = run.Build;
        var request = run.Request;
        var total = request.Steps.Count;
        run.Log.Info("base", $"Building template {build.TemplateId} (build {build.BuildId})");
        var (baseTemplate, state) = await ResolveBaseAsync(run);
        var current = new TemplateLayer(Key(build.TeamId, "FROM", baseTemplate), build.TeamId, baseTemplate, state, clock.GetUtcNow());
        var invalidated = request.Force; // once a step ran, every later step runs too (its parent is new)

        foreach (var step in request.Steps)
        {
            var no = step.Number.ToString(System.Globalization.CultureInfo.InvariantCulture);
            run.CurrentStep = no;
            var key = Key(build.TeamId, current.Key, step.Type, string.Join('\0', step.Args), step.FilesHash ?? "", JsonSerializer.Serialize(current.State));
            var title = $"[{no}/{total}] {step.Type} {Describe(step)}";
            if (!invalidated && !step.Force && await store.FindTemplateLayerAsync(key, CancellationToken.None) is { } hit
                && hit.TeamId == build.TeamId && await runtime.Templates.FindAsync(hit.RuntimeTemplateId, CancellationToken.None) is not null)
            {
                run.Log.Info(no, "CACHED " + title);
                current = hit;
                run.LayerKeys.Add(hit.Key);
                continue;
            }
            invalidated = true;
            run.Log.Info(no, title);
            var started = clock.GetUtcNow();
            current = await RunStepAsync(run, step, current, key);
            run.LayerKeys.Add(current.Key);
            run.Log.Info(no, $"done in {(clock.GetUtcNow() - started).TotalSeconds:0.0} s");
        }

        run.CurrentStep = "finalize";
        await FinalizeAsync(run, current);
    }

    /// <summary>The template the first step stands on and the state it starts with.</summary>
    private async Task<(string RuntimeTemplateId, BuildState State)> ResolveBaseAsync(BuildRun run)
    {
        var request = run.Request;
        if (request.FromImage is { } image)
        {
            var progress = new Progress<string>(line => run.Log.Info("base", line));
            var id = await images.ResolveAsync(image, request.Registry, progress, _stopping.Token);
            run.Log.Info("base", $"FROM image {image} (template {id})");
            // An unpacked image starts with its config's Env and WorkingDir, as E2B's builds do.
            var defaults = images.DefaultsOf(id);
            var env = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var pair in defaults?.Env ?? [])
                if (pair.IndexOf('=') is > 0 and var eq) env[pair[..eq]] = pair[(eq + 1)..];
            return (id, BuiltInState with { User = "root", Workdir = defaults?.WorkingDir is { Length: > 0 } wd ? wd : "/", Env = env });
        }
        var from = request.FromTemplate!;
        // A team's own (or a public) built template, by name, name:tag or ID; else a runtime template.
        if (await TemplateResolver.ResolveAsync(store, run.Build.TeamId, from, CancellationToken.None) is { } built)
        {
            run.Log.Info("base", $"FROM template {from} (build {built.Build.BuildId})");
            return (built.Build.RuntimeTemplateId!, built.Build.Result ?? BuiltInState);
        }
        var rt = await runtime.Templates.FindAsync(from, CancellationToken.None) is { ParentTemplateId: null } standalone
            ? standalone : throw DomainException.InvalidArgument($"template '{from}' not found");
        run.Log.Info("base", $"FROM template {rt.TemplateId}");
        return (rt.TemplateId, BuiltInState);
    }

    private async Task<TemplateLayer> RunStepAsync(BuildRun run, BuildStep step, TemplateLayer current, string key)
    {
        var no = step.Number.ToString(System.Globalization.CultureInfo.InvariantCulture);
        var state = current.State;
        BuildState next;
        switch (step.Type)
        {
            case "ENV":
                // Variables only: no files change, the layer is the parent's files with a new state.
                var env = new Dictionary<string, string>(state.Env, StringComparer.Ordinal);
                for (var i = 0; i < step.Args.Count; i += 2) env[step.Args[i]] = StepScripts.Expand(step.Args[i + 1], env, state.User);
                var layer = new TemplateLayer(key, current.TeamId, current.RuntimeTemplateId, state with { Env = env }, clock.GetUtcNow());
                await SaveLayerAsync(layer);
                return layer;
            case "RUN":
                await EnsureSandboxAsync(run, current);
                await ShellAsync(run, no, step.Args[0], step.Args.Count > 1 && step.Args[1].Length > 0 ? step.Args[1] : state.User, state);
                next = state;
                break;
            case "WORKDIR":
                await EnsureSandboxAsync(run, current);
                var dir = CopySource.ResolveDestination(step.Args[0], state.Workdir, state.User).TrimEnd('/');
                if (dir.Length == 0) dir = "/";
                await ShellAsync(run, no, StepScripts.MakeWorkdir(dir, state.User), "root", state);
                next = state with { Workdir = dir };
                break;
            case "USER":
                await EnsureSandboxAsync(run, current);
                await ShellAsync(run, no, StepScripts.EnsureUser(step.Args[0]), "root", state);
                next = state with { User = step.Args[0] };
                break;
            case "COPY":
                await EnsureSandboxAsync(run, current);
                await CopyAsync(run, step, state);
                next = state;
                break;
            default:
                throw new StepFailedException(no, $"unknown step type {step.Type}");
        }
        var id = "tl-" + SandboxIds.New();
        run.PendingTemplate = id;
        var made = await runtime.SnapshotAsync(run.SandboxId!, id, CancellationToken.None);
        var result = new TemplateLayer(key, current.TeamId, made.TemplateId, next, clock.GetUtcNow());
        await SaveLayerAsync(result);
        run.PendingTemplate = null;
        return result;
    }

    /// <summary>
    /// Caches a layer. A forced step replaces the layer under its key: the one it replaces stays
    /// listed under a key no build uses, so pruning removes its files once nothing stands on them.
    /// </summary>
    private async Task SaveLayerAsync(TemplateLayer layer)
    {
        if (await store.FindTemplateLayerAsync(layer.Key, CancellationToken.None) is { } old && old.RuntimeTemplateId != layer.RuntimeTemplateId)
            await store.SaveTemplateLayerAsync(old with { Key = old.Key + "~replaced-" + SandboxIds.New() }, CancellationToken.None);
        await store.SaveTemplateLayerAsync(layer, CancellationToken.None);
    }

    private async Task CopyAsync(BuildRun run, BuildStep step, BuildState state)
    {
        var no = step.Number.ToString(System.Globalization.CultureInfo.InvariantCulture);
        var archive = files.PathOf(run.Build.TeamId, step.FilesHash!);
        if (!files.TryUse(run.Build.TeamId, step.FilesHash!)) throw new StepFailedException(no, $"COPY {step.Args[0]}: its files (hash {step.FilesHash}) were never uploaded");
        var inSandbox = $"/.portal-build/copy-{no}.tar";
        using (var root = Envd(run, "root"))
        {
            await using var content = File.OpenRead(archive);
            await root.UploadAsync(inSandbox, content, _stopping.Token);
        }
        var owner = step.Args.Count > 2 && step.Args[2].Length > 0 ? step.Args[2] : state.User;
        var env = new Dictionary<string, string>
        {
            ["PORTAL_COPY_ARCHIVE"] = inSandbox,
            ["PORTAL_COPY_SRC"] = step.Args[0],
            ["PORTAL_COPY_PREFIX"] = CopySource.StaticPrefix(step.Args[0]),
            ["PORTAL_COPY_DEST"] = CopySource.ResolveDestination(step.Args[1], state.Workdir, state.User),
            ["PORTAL_COPY_OWNER"] = owner + ":",
            ["PORTAL_COPY_MODE"] = step.Args.Count > 3 ? step.Args[3] : "",
        };
        await ShellAsync(run, no, StepScripts.Copy + "\nrmdir /.portal-build 2>/dev/null || true", "root", state, env);
    }

    /// <summary>Runs a command in the build sandbox; its output is the step's log, a non-zero exit fails the step.</summary>
    private async Task ShellAsync(BuildRun run, string step, string command, string user, BuildState state, IReadOnlyDictionary<string, string>? extraEnv = null)
    {
        var env = new Dictionary<string, string>(state.Env, StringComparer.Ordinal);
        if (extraEnv is not null) foreach (var (k, v) in extraEnv) env[k] = v;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token);
        timeout.CancelAfter(_options.StepTimeout);
        using var envd = Envd(run, user);
        int exit;
        try
        {
            exit = await envd.RunAsync(command, state.Workdir, env, (line, err) => run.Log.Add(err ? "warn" : "info", line, step), timeout.Token);
        }
        catch (OperationCanceledException) when (!_stopping.IsCancellationRequested)
        {
            throw new StepFailedException(step, $"step {step} did not finish within {_options.StepTimeout.TotalMinutes:0} min (Portal:Templates:StepTimeout)");
        }
        catch (IOException e)
        {
            throw new StepFailedException(step, $"step {step} could not run: {e.Message}");
        }
        if (exit != 0) throw new StepFailedException(step, $"step {step} failed: the command exited with code {exit}");
    }

    private EnvdClient Envd(BuildRun run, string user) => EnvdClient.For(runtime, run.SandboxId!, run.SandboxToken, user);

    private async Task EnsureSandboxAsync(BuildRun run, TemplateLayer from)
    {
        if (run.SandboxId is not null) return;
        var id = "bld" + SandboxIds.New()[3..];
        run.SandboxToken = SandboxIds.NewAccessToken();
        run.Build = run.Build with { BuildSandboxId = id };
        await store.SaveTemplateBuildAsync(run.Build, CancellationToken.None); // before it exists: a restart finds and removes it
        run.SandboxId = id;
        await runtime.CreateAsync(new SandboxSpec
        {
            SandboxId = id,
            TemplateId = from.RuntimeTemplateId,
            CpuCount = run.Build.CpuCount > 0 ? run.Build.CpuCount : null,
            MemoryMB = run.Build.MemoryMB > 0 ? run.Build.MemoryMB : null,
            EnvVars = from.State.Env,
            EnvdAccessToken = run.SandboxToken,
            AllowInternetAccess = true,
            DefaultUser = from.State.User,
            DefaultWorkdir = from.State.Workdir,
        }, _stopping.Token);
    }

    /// <summary>
    /// The template sandboxes start from: the last layer with the start and ready commands (run as
    /// the template's user, in its directory, with its variables). With a start command, one
    /// sandbox of it must come up and pass the ready check (every 2 s; default <c>sleep 20</c>).
    /// </summary>
    private async Task FinalizeAsync(BuildRun run, TemplateLayer last)
    {
        var request = run.Request;
        var state = last.State;
        await KillSandboxAsync(run);
        var start = request.StartCmd is { } s ? StepScripts.AsTemplateUser(s, state) : null;
        var ready = request.ReadyCmd is { } r ? StepScripts.AsTemplateUser(r, state) : null;
        var id = "tb-" + run.Build.BuildId;
        run.PendingTemplate = id;
        await runtime.DeriveTemplateAsync(last.RuntimeTemplateId, id, start, ready, CancellationToken.None);
        if (request.StartCmd is not null)
        {
            run.Log.Info("finalize", $"Start command: {request.StartCmd}");
            var check = request.ReadyCmd ?? "sleep 20";
            run.Log.Info("finalize", $"Waiting for the ready command: {check}");
            await EnsureSandboxAsync(run, last with { RuntimeTemplateId = id });
            var deadline = clock.GetUtcNow() + _options.ReadyTimeout;
            while (true)
            {
                using var envd = Envd(run, state.User);
                var exit = await envd.RunAsync(check, state.Workdir, state.Env, (line, err) => run.Log.Add("debug", line, "finalize"), _stopping.Token);
                if (exit == 0) break;
                if (clock.GetUtcNow() > deadline)
                    throw new StepFailedException("finalize", $"the ready command did not succeed within {_options.ReadyTimeout.TotalMinutes:0} min");
                await Task.Delay(TimeSpan.FromSeconds(2), _stopping.Token);
            }
            await KillSandboxAsync(run);
        }
        run.Log.Info("finalize", "Template is ready");
        await run.Log.FlushAsync(final: true);
        run.Build = run.Build with
        {
            Status = TemplateBuildStatus.Ready, FinishedAt = clock.GetUtcNow(), RuntimeTemplateId = id, Result = state, LayerKeys = run.LayerKeys,
            StartCmd = request.StartCmd, ReadyCmd = request.ReadyCmd, BuildSandboxId = null,
        };
        await store.SaveTemplateBuildAsync(run.Build, CancellationToken.None);
        run.PendingTemplate = null;
    }

    /// <summary>
    /// Removes the team's cached layers no ready build stands on any more (after a template was
    /// deleted), children before parents. Skipped while one of the team's builds runs: it may be
    /// standing on a layer that looks unused.
    /// </summary>
    public async Task PruneLayersAsync(string teamId, CancellationToken ct)
    {
        if (_running.Count > 0) return;
        var inUse = (await store.ListTemplateBuildsAsync([TemplateBuildStatus.Ready, TemplateBuildStatus.Building, TemplateBuildStatus.Waiting], teamId, ct))
            .SelectMany(b => b.LayerKeys).ToHashSet(StringComparer.Ordinal);
        var unused = (await store.ListTemplateLayersAsync(teamId, ct)).Where(l => !inUse.Contains(l.Key)).ToList();
        var inUseTemplates = (await store.ListTemplateLayersAsync(teamId, ct)).Where(l => inUse.Contains(l.Key)).Select(l => l.RuntimeTemplateId).ToHashSet(StringComparer.Ordinal);
        // An ENV layer shares its parent's runtime template: only the row goes then.
        for (var round = 0; unused.Count > 0 && round < 64; round++)
        {
            var left = new List<TemplateLayer>();
            foreach (var layer in unused)
            {
                try
                {
                    if (!inUseTemplates.Contains(layer.RuntimeTemplateId) && layer.RuntimeTemplateId.StartsWith("tl-", StringComparison.Ordinal))
                        await runtime.DeleteTemplateAsync(layer.RuntimeTemplateId, ct);
                    await store.DeleteTemplateLayerAsync(layer.Key, ct);
                }
                catch (TemplateInUseException) { left.Add(layer); }
            }
            if (left.Count == unused.Count) break; // stood on by something outside the cache (a snapshot): kept
            unused = left;
        }
    }

    private async Task CleanUpAsync(BuildRun run)
    {
        await KillSandboxAsync(run);
        if (run.PendingTemplate is { } t)
        {
            try { await runtime.DeleteTemplateAsync(t, CancellationToken.None); }
            catch (Exception e) { log.LogWarning(e, "Could not remove template {TemplateId} of a failed build", t); }
        }
    }

    private async Task KillSandboxAsync(BuildRun run)
    {
        if (run.SandboxId is not { } id) return;
        run.SandboxId = null;
        await TryKillAsync(id);
    }

    private async Task TryKillAsync(string sandboxId)
    {
        try { await runtime.KillAsync(sandboxId, CancellationToken.None); }
        catch (Exception e) { log.LogWarning(e, "Could not remove build sandbox {SandboxId}", sandboxId); }
    }

    private static string Key(params string[] parts) =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(string.Join('\u001f', parts))));

    private static string Describe(BuildStep step) => step.Type switch
    {
        "COPY" => $"{step.Args[0]} {step.Args[1]}",
        "ENV" => string.Join(' ', Enumerable.Range(0, step.Args.Count / 2).Select(i => $"{step.Args[2 * i]}={step.Args[2 * i + 1]}")),
        _ => string.Join(' ', step.Args.Take(1)) + (step.Args.Count > 1 && step.Args[1].Length > 0 ? $" (as {step.Args[1]})" : ""),
    };

    public void Dispose()
    {
        _stopping.Cancel();
        _stopping.Dispose();
    }
}

/// <summary>A step failed: its number ("1".."N", "base", "finalize") and what happened.</summary>
public sealed class StepFailedException(string step, string message) : Exception(message)
{
    public string Step { get; } = step;
}
