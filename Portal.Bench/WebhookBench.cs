using System.Diagnostics;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Portal.Core.Auth;
using Portal.Core.Persistence;
using Portal.Core.Sandboxes;
using Portal.Core.Webhooks;

namespace Portal.Bench;

/// <summary>
/// Webhook delivery throughput to a receiver on 127.0.0.1 (Kestrel, checking every signature):
/// the real SandboxService writes lifecycle events (with their outbox rows) into a real SQLite
/// store, and the real dispatcher delivers them. (1) backlog: events written while the dispatcher
/// is stopped, then drained; (2) live: the dispatcher runs while the events are written, timed from
/// the first write to the last delivery, with each event's write → receive latency.
/// </summary>
public static class WebhookBench
{
    private const string Secret = "whsec-bench-secret";

    public static async Task<int> RunAsync(string[] args)
    {
        var sandboxes = BenchArgs.Int(args, "--sandboxes", 400);
        var updates = BenchArgs.Int(args, "--updates", 8);
        var concurrency = BenchArgs.Int(args, "--concurrency", 64);
        var perSandbox = updates + 2;
        var total = sandboxes * perSandbox;

        // Hundreds of concurrent tasks write over synchronous SQLite: without this the first run
        // would measure the thread pool's slow growth rather than the writes.
        ThreadPool.SetMinThreads(Math.Max(64, concurrency), Math.Max(64, concurrency));
        var received = 0;
        var badSignatures = 0;
        var latencies = new double[total * 2];
        var receiver = await StartReceiverAsync(async ctx =>
        {
            using var ms = new MemoryStream();
            await ctx.Request.Body.CopyToAsync(ms);
            if (ctx.Request.Headers["e2b-signature"] != WebhookSignature.Compute(Secret, ms.ToArray())) Interlocked.Increment(ref badSignatures);
            var n = Interlocked.Increment(ref received);
            // The event's own timestamp (ms) → now: write-to-receive latency.
            var json = System.Text.Json.JsonDocument.Parse(ms.ToArray());
            var at = DateTimeOffset.Parse(json.RootElement.GetProperty("timestamp").GetString()!);
            if (n <= latencies.Length) latencies[n - 1] = (DateTimeOffset.UtcNow - at).TotalMilliseconds;
            ctx.Response.StatusCode = 204;
        });
        try
        {
            Console.WriteLine($"Webhooks ({DateTimeOffset.UtcNow:u}, {Environment.ProcessorCount} cores): {sandboxes} sandboxes × {perSandbox} events (create, {updates} timeouts, kill) = {total} deliveries per run, MaxConcurrency {concurrency}");
            foreach (var live in new[] { false, true })
            {
                received = 0;
                var dir = Directory.CreateTempSubdirectory("portal-bench-webhooks-").FullName;
                try
                {
                    using var store = EfPortalStore.Sqlite(Path.Combine(dir, "portal.db"));
                    await store.InitializeAsync(CancellationToken.None);
                    var team = new Team { TeamId = "team_bench", Name = "bench", IsAdmin = true, CreatedAt = DateTimeOffset.UtcNow };
                    await store.AddTeamAsync(team, CancellationToken.None);
                    var caller = new Caller(team, CallerRole.Admin, new Actor(ActorKind.ApiKey, "bench", "bench"));
                    var changes = new SandboxChangeStream();
                    var service = new SandboxService(new ChangeStreamBench.NoOpRuntime(), store, TimeProvider.System,
                        Options.Create(new SandboxOptions()), new PortalTelemetry(), changes, NullLogger<SandboxService>.Instance);
                    var options = Options.Create(new WebhookOptions { AllowPrivateTargets = true, MaxConcurrency = concurrency, });
                    using var dispatcher = new WebhookDispatcher(store, changes, options, TimeProvider.System, NullLogger<WebhookDispatcher>.Instance);
                    await store.AddWebhookAsync(new Webhook
                    {
                        Id = Guid.NewGuid().ToString(), TeamId = team.TeamId, Name = "bench", Url = receiver.Url, Enabled = true,
                        Events = [.. SandboxEvents.Types], SignatureSecret = Secret, CreatedAt = DateTimeOffset.UtcNow,
                    }, CancellationToken.None);

                    using var stop = new CancellationTokenSource();
                    Task? run = live ? Task.Run(() => dispatcher.RunAsync(stop.Token)) : null;
                    var sw = Stopwatch.StartNew();
                    await Task.WhenAll(Enumerable.Range(0, sandboxes).Select(async _ =>
                    {
                        var id = (await service.CreateAsync(caller, new CreateSandboxCommand { Template = "base", TimeoutSeconds = 3600 }, CancellationToken.None)).SandboxId;
                        for (var u = 0; u < updates; u++) await service.SetTimeoutAsync(caller, id, 900 + u, CancellationToken.None);
                        await service.KillAsync(caller, id, CancellationToken.None);
                    }));
                    var written = sw.Elapsed;
                    if (!live)
                    {
                        sw.Restart();
                        run = Task.Run(() => dispatcher.RunAsync(stop.Token));
                    }
                    var until = DateTime.UtcNow.AddMinutes(5);
                    while (Volatile.Read(ref received) < total && DateTime.UtcNow < until) await Task.Delay(5);
                    var elapsed = sw.Elapsed;
                    // Every attempt recorded (the outbox empty) before stopping: a stop cuts what is in flight.
                    while (dispatcher.Held > 0 && DateTime.UtcNow < until) await Task.Delay(5);
                    stop.Cancel();
                    await run!;
                    var got = Volatile.Read(ref received);
                    var rate = got / elapsed.TotalSeconds;
                    if (live)
                    {
                        var lat = latencies.Take(Math.Min(got, latencies.Length)).OrderBy(x => x).ToArray();
                        Console.WriteLine($"  live:    {got}/{total} delivered {elapsed.TotalSeconds:0.00} s after the first write (events written in {written.TotalSeconds:0.00} s): {rate:0} deliveries/s; write → receive p50 {Pct(lat, 0.5):0} ms, p99 {Pct(lat, 0.99):0} ms   (target ≥ 1,000/s)");
                    }
                    else
                        Console.WriteLine($"  backlog: {got}/{total} delivered in {elapsed.TotalSeconds:0.00} s (written beforehand in {written.TotalSeconds:0.00} s): {rate:0} deliveries/s   (target ≥ 1,000/s)");
                    var log = await store.ListWebhookOutboxAsync(0, 10, CancellationToken.None);
                    if (log.Count > 0) Console.WriteLine($"  (outbox not empty: {log.Count}+ rows left)");
                }
                finally { try { Directory.Delete(dir, true); } catch (IOException) { } }
            }
            await OutboxCostAsync();
            if (badSignatures > 0) Console.WriteLine($"  {badSignatures} deliveries with a bad signature!");
            return badSignatures == 0 ? 0 : 1;
        }
        finally { await receiver.App.DisposeAsync(); }
    }

    /// <summary>What the outbox row adds to a save whose event goes to one webhook (interleaved with saves without an event).</summary>
    private static async Task OutboxCostAsync()
    {
        var dir = Directory.CreateTempSubdirectory("portal-bench-webhooks-").FullName;
        try
        {
            using var store = EfPortalStore.Sqlite(Path.Combine(dir, "portal.db"));
            await store.InitializeAsync(CancellationToken.None);
            var now = DateTimeOffset.FromUnixTimeMilliseconds(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
            await store.AddTeamAsync(new Team { TeamId = "team_bench", Name = "bench", CreatedAt = now }, CancellationToken.None);
            await store.AddWebhookAsync(new Webhook
            {
                Id = "hook", TeamId = "team_bench", Name = "bench", Url = "http://192.0.2.1/", Enabled = true,
                Events = [.. SandboxEvents.Types], SignatureSecret = Secret, CreatedAt = now,
            }, CancellationToken.None);
            var rec = new SandboxRecord
            {
                Version = 1, SandboxId = "sbx", TeamId = "team_bench", TemplateId = "base", ClientId = "c",
                Status = SandboxStatus.Creating, CreatedAt = now, StartedAt = now, EndAt = now.AddHours(1),
            };
            await store.SaveSandboxAsync(rec, null, CancellationToken.None);
            rec = rec with { Status = SandboxStatus.Running };
            var with = new List<double>(); var without = new List<double>();
            for (var i = 0; i < 2000; i++)
            {
                rec = rec with { Version = rec.Version + 1 };
                var entry = new SandboxLogEntry(rec.SandboxId, DateTimeOffset.UtcNow, "info", "bench", new Dictionary<string, string>());
                if (i % 2 == 0) entry = entry with { Event = SandboxEvents.Make(SandboxEvents.Updated, rec, entry.Timestamp) };
                var t = Stopwatch.GetTimestamp();
                await store.SaveSandboxAsync(rec, entry, CancellationToken.None);
                (i % 2 == 0 ? with : without).Add(Stopwatch.GetElapsedTime(t).TotalMilliseconds);
            }
            with.Sort(); without.Sort();
            Console.WriteLine($"  outbox:  a save with its event and one webhook's outbox row p50 {Pct(with, 0.5):0.000} ms, a save without an event {Pct(without, 0.5):0.000} ms: +{Pct(with, 0.5) - Pct(without, 0.5):0.000} ms");
        }
        finally { try { Directory.Delete(dir, true); } catch (IOException) { } }
    }

    private static async Task<(WebApplication App, string Url)> StartReceiverAsync(RequestDelegate handle)
    {
        var b = WebApplication.CreateSlimBuilder();
        b.Logging.ClearProviders();
        b.WebHost.UseKestrel(k => k.Listen(IPAddress.Loopback, 0));
        var app = b.Build();
        app.MapPost("/hook", handle);
        await app.StartAsync();
        var address = app.Urls.First();
        return (app, address + "/hook");
    }

    private static double Pct(IReadOnlyList<double> sorted, double p) => sorted.Count == 0 ? double.NaN : sorted[Math.Min(sorted.Count - 1, (int)(p * sorted.Count))];

}
