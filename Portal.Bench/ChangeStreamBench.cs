using System.Diagnostics;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Portal.Core.Auth;
using Portal.Core.Persistence;
using Portal.Core.Runtime;
using Portal.Core.Sandboxes;

namespace Portal.Bench;

/// <summary>
/// The control plane's change stream and lifecycle events, without sandboxes: the real
/// SandboxService over a real SQLite store, on a runtime that does nothing (so the figures are
/// the control plane's own). Prints (1) delivery latency from commit to every subscriber with
/// many subscribers while sandboxes change state concurrently, and (2) what writing the event
/// row adds to a sandbox save.
/// </summary>
public static class ChangeStreamBench
{
    public static async Task<int> RunAsync(string[] args)
    {
        var subscribers = BenchArgs.Int(args, "--subscribers", 1000);
        var sandboxes = BenchArgs.Int(args, "--sandboxes", 100);
        var rounds = BenchArgs.Int(args, "--rounds", 5);
        var dir = Directory.CreateTempSubdirectory("portal-bench-changes-").FullName;
        try
        {
            using var store = EfPortalStore.Sqlite(Path.Combine(dir, "portal.db"));
            await store.InitializeAsync(CancellationToken.None);
            var team = new Team { TeamId = "team_bench", Name = "bench", IsAdmin = true, CreatedAt = DateTimeOffset.UtcNow };
            await store.AddTeamAsync(team, CancellationToken.None);
            var caller = new Caller(team, CallerRole.Admin, new Actor(ActorKind.ApiKey, "bench", "bench"));
            var stream = new SandboxChangeStream();
            var service = new SandboxService(new NoOpRuntime(), store, TimeProvider.System,
                Options.Create(new SandboxOptions()), new PortalTelemetry(), stream, NullLogger<SandboxService>.Instance);

            // (1) subscribers each read on their own; latency = read time − publish time (right after commit).
            var latencies = new List<double>[subscribers];
            var readers = new Task[subscribers];
            var subscriptions = new SandboxSubscription[subscribers];
            for (var i = 0; i < subscribers; i++)
            {
                var list = latencies[i] = new List<double>(sandboxes * (2 + 3 * rounds));
                var sub = subscriptions[i] = stream.Subscribe(static _ => true, capacity: sandboxes * (2 + 3 * rounds) + 16);
                readers[i] = Task.Run(async () =>
                {
                    await foreach (var c in sub.Changes.ReadAllAsync())
                        list.Add(Stopwatch.GetElapsedTime(c.PublishedAt).TotalMilliseconds);
                });
            }
            var sw = Stopwatch.StartNew();
            var ids = await Task.WhenAll(Enumerable.Range(0, sandboxes).Select(async _ =>
                (await service.CreateAsync(caller, new CreateSandboxCommand { Template = "base", TimeoutSeconds = 3600 }, CancellationToken.None)).SandboxId));
            for (var r = 0; r < rounds; r++)
            {
                await Task.WhenAll(ids.Select(id => service.PauseAsync(caller, id, SandboxPauseMode.Memory, CancellationToken.None)));
                await Task.WhenAll(ids.Select(id => service.ConnectAsync(caller, id, 600, CancellationToken.None)));
                await Task.WhenAll(ids.Select(id => service.SetTimeoutAsync(caller, id, 900, CancellationToken.None)));
            }
            await Task.WhenAll(ids.Select(id => service.KillAsync(caller, id, CancellationToken.None)));
            var elapsed = sw.Elapsed;
            foreach (var s in subscriptions) s.Dispose();
            await Task.WhenAll(readers);
            var all = latencies.SelectMany(l => l).OrderBy(x => x).ToArray();
            var changes = sandboxes * (2 + 3 * rounds);
            Console.WriteLine($"Change stream ({DateTimeOffset.UtcNow:u}, {Environment.ProcessorCount} cores): {subscribers} subscribers, {sandboxes} sandboxes, {changes} changes in {elapsed.TotalSeconds:0.00} s ({changes / elapsed.TotalSeconds:0} committed changes/s)");
            Console.WriteLine($"  delivered {all.Length} (expected {changes * subscribers}); commit → subscriber p50 {Pct(all, 0.50):0.00} ms, p99 {Pct(all, 0.99):0.00} ms, max {all[^1]:0.00} ms   (target p99 < 50 ms)");

            // (2) the event row: the same save with and without an event attached, interleaved.
            var rec = (await service.CreateAsync(caller, new CreateSandboxCommand { Template = "base", TimeoutSeconds = 3600 }, CancellationToken.None));
            var with = new List<double>(); var without = new List<double>();
            for (var i = 0; i < 2000; i++)
            {
                var entry = new SandboxLogEntry(rec.SandboxId, DateTimeOffset.UtcNow, "info", "bench", new Dictionary<string, string>());
                if (i % 2 == 0) entry = entry with { Event = SandboxEvents.Make(SandboxEvents.Updated, rec, entry.Timestamp) };
                rec = rec with { Version = rec.Version + 1 }; // each save is the next version (stale ones are refused)
                var t = Stopwatch.GetTimestamp();
                await store.SaveSandboxAsync(rec, entry, CancellationToken.None);
                (i % 2 == 0 ? with : without).Add(Stopwatch.GetElapsedTime(t).TotalMilliseconds);
            }
            with.Sort(); without.Sort();
            Console.WriteLine($"Event write: a sandbox save with its event row p50 {Pct(with, 0.5):0.000} ms, without {Pct(without, 0.5):0.000} ms: the event adds {Pct(with, 0.5) - Pct(without, 0.5):0.000} ms   (target < 1 ms)");
            return 0;
        }
        finally { Directory.Delete(dir, true); }
    }

    private static double Pct(IReadOnlyList<double> sorted, double p) => sorted.Count == 0 ? double.NaN : sorted[Math.Min(sorted.Count - 1, (int)(p * sorted.Count))];


    /// <summary>
    /// A runtime that runs nothing: every call succeeds at once (the benches measure the control
    /// plane and the dashboard alone). It remembers what it "created", so the portal's reconciler
    /// finds those sandboxes and leaves them be.
    /// </summary>
    internal sealed class NoOpRuntime : ISandboxRuntime, ITemplateCatalog
    {
        private static readonly SandboxTemplate Base = new() { TemplateId = "base", CpuCount = 2, MemoryMB = 512, DiskSizeMB = 2048 };
        private readonly System.Collections.Concurrent.ConcurrentDictionary<string, SandboxInstance> _live = new();
        public string Name => "no-op";
        public ITemplateCatalog Templates => this;
        public Task<SandboxTemplate?> FindAsync(string templateIdOrAlias, CancellationToken ct) => Task.FromResult<SandboxTemplate?>(templateIdOrAlias == "base" ? Base : null);
        Task<IReadOnlyList<SandboxTemplate>> ITemplateCatalog.ListAsync(CancellationToken ct) => Task.FromResult<IReadOnlyList<SandboxTemplate>>([Base]);
        public Task<SandboxInstance> CreateAsync(SandboxSpec spec, CancellationToken ct) => Task.FromResult(_live[spec.SandboxId] = new SandboxInstance
        {
            SandboxId = spec.SandboxId, TemplateId = "base", State = SandboxState.Running, StartedAt = DateTimeOffset.UtcNow,
            CpuCount = 2, MemoryMB = 512, DiskSizeMB = 2048, EnvdVersion = "0.6.13",
        });
        Task<SandboxInstance?> ISandboxRuntime.FindAsync(string sandboxId, CancellationToken ct) => Task.FromResult(_live.GetValueOrDefault(sandboxId));
        public Task<IReadOnlyList<SandboxInstance>> ListAsync(CancellationToken ct) => Task.FromResult<IReadOnlyList<SandboxInstance>>(_live.Values.ToList());
        public Task<bool> KillAsync(string sandboxId, CancellationToken ct) => Task.FromResult(_live.TryRemove(sandboxId, out _));
        public Task PauseAsync(string sandboxId, SandboxPauseMode mode, CancellationToken ct)
        {
            if (_live.TryGetValue(sandboxId, out var s)) _live[sandboxId] = s with { State = SandboxState.Paused };
            return Task.CompletedTask;
        }
        public Task<SandboxInstance> ResumeAsync(string sandboxId, CancellationToken ct) => CreateAsync(new SandboxSpec { SandboxId = sandboxId, TemplateId = "base" }, ct);
        public ValueTask<Stream> ConnectAsync(string sandboxId, int port, CancellationToken ct) => throw new SandboxNotFoundException(sandboxId);
        public Task<SandboxMetrics?> GetMetricsAsync(string sandboxId, CancellationToken ct) => Task.FromResult<SandboxMetrics?>(null);
        public async IAsyncEnumerable<SandboxEvent> WatchAsync([System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct)
        {
            await Task.Delay(Timeout.Infinite, ct);
            yield break;
        }
    }
}
