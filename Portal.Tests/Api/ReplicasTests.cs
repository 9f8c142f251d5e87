using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Portal.Core.Sandboxes;
using Portal.Tests.Persistence;
using static Portal.Tests.Api.Http;

namespace Portal.Tests.Api;

/// <summary>
/// Two portal replicas on one PostgreSQL database and one (shared) sandbox runtime: either serves
/// any request for any sandbox, each hears the other's changes, and a key revoked on one is
/// refused by the other within a second. Needs PostgreSQL: scripts/test.sh runs it in its
/// PostgreSQL pass (PORTAL_TEST_POSTGRES).
/// </summary>
public sealed class ReplicasTests
{
    /// <summary>Two replicas: A owns the database (named for its data directory), B shares it.</summary>
    private sealed class Replicas : IAsyncDisposable
    {
        public required PortalHost A { get; init; }
        public required PortalHost B { get; init; }
        public required Dictionary<string, string?> Shared { get; init; }

        public static async Task<Replicas> StartAsync(IDictionary<string, string?>? config = null)
        {
            if (!TestDatabase.IsPostgres)
                Assert.Skip("several replicas share a PostgreSQL database: set PORTAL_TEST_POSTGRES (scripts/test.sh runs this in its PostgreSQL pass)");
            var runtime = new FakeSandboxRuntime(); // one runtime both reach, as a cluster is
            var dir = PortalHost.NewDataDir();
            var shared = new Dictionary<string, string?>(config ?? new Dictionary<string, string?>()) { ["Portal:Database"] = TestDatabase.ConnectionStringFor(dir) };
            var a = await PortalHost.StartAsync(runtime, dir, shared);
            var b = await PortalHost.StartAsync(runtime, config: shared);
            return new Replicas { A = a, B = b, Shared = shared };
        }

        public async ValueTask DisposeAsync()
        {
            await B.DisposeAsync();
            await A.DisposeAsync();
            TestDatabase.Drop(A.DataDir);
            Directory.Delete(A.DataDir, true);
        }
    }

    [Fact]
    public async Task ASandbox_CreatedOnOne_IsServedAndChangedThroughTheOther()
    {
        await using var r = await Replicas.StartAsync();
        var (a, b) = (r.A, r.B);
        using var seenByA = a.FollowChanges();
        using var seenByB = b.FollowChanges();

        var id = (string)(await a.Admin.CreateSandboxAsync("""{"templateID":"base","timeout":600,"metadata":{"who":"a"}}"""))["sandboxID"]!;
        // At once, whether or not A's note has arrived: B asks the store.
        Assert.Equal("running", (string)(await b.Admin.GetJsonAsync($"/sandboxes/{id}")).Body!["state"]!);
        var created = await seenByB.NextAsync(id, c => c.Cause == SandboxChangeCause.Created);
        Assert.Equal("a", created.Sandbox.Metadata["who"]);
        Assert.Contains((await b.Admin.GetJsonAsync("/v2/sandboxes")).Body!.AsArray(), s => (string)s!["sandboxID"]! == id);

        Assert.Equal(204, (await b.Admin.PostJsonAsync($"/sandboxes/{id}/pause")).Status);
        // A acts on the pause at once too (a connect resumes it), note or not.
        Assert.Equal(201, (await a.Admin.PostJsonAsync($"/v2/sandboxes/{id}/connect", """{"timeout":60}""")).Status);
        Assert.Equal(204, (await b.Admin.PostJsonAsync($"/sandboxes/{id}/pause")).Status);
        await seenByA.NextAsync(id, c => c.Cause == SandboxChangeCause.Paused); // the first pause (by its note, or A's own re-read)
        await seenByA.NextAsync(id, c => c.Cause == SandboxChangeCause.Paused); // the second, by its note
        Assert.Equal("paused", (string)(await a.Admin.GetJsonAsync($"/sandboxes/{id}")).Body!["state"]!);

        Assert.Equal(201, (await a.Admin.PostJsonAsync($"/v2/sandboxes/{id}/connect", """{"timeout":900}""")).Status);
        var resumed = await seenByB.NextAsync(id, c => c.Cause == SandboxChangeCause.Resumed && c.Sandbox.EndAt > created.Sandbox.EndAt);
        Assert.Equal("running", (string)(await b.Admin.GetJsonAsync($"/sandboxes/{id}")).Body!["state"]!);

        Assert.Equal(204, (await b.Admin.PostJsonAsync($"/sandboxes/{id}/timeout", """{"timeout":3000}""")).Status);
        var moved = await seenByA.NextAsync(id, c => c.Cause == SandboxChangeCause.DeadlineMoved);
        Assert.True(moved.Sandbox.EndAt > resumed.Sandbox.EndAt);

        Assert.Equal(204, (await b.Admin.DeleteJsonAsync($"/sandboxes/{id}")).Status);
        await seenByA.NextAsync(id, c => c.IsDelete);
        AssertError(await a.Admin.GetJsonAsync($"/sandboxes/{id}"), 404);
        Assert.DoesNotContain((await a.Admin.GetJsonAsync("/v2/sandboxes")).Body!.AsArray(), s => (string)s!["sandboxID"]! == id);
        // Both replicas read the same events, in order.
        var (_, events) = await a.Admin.GetJsonAsync($"/events/sandboxes/{id}?orderAsc=true");
        Assert.Equal(["created", "paused", "resumed", "paused", "resumed", "updated", "killed"],
            events!.AsArray().Select(e => ((string)e!["type"]!)["sandbox.lifecycle.".Length..]));
    }

    [Fact]
    public async Task AStaleReplica_IsRefused_ThenCatchesUp()
    {
        await using var r = await Replicas.StartAsync();
        var (a, b) = (r.A, r.B);
        using var seenByB = b.FollowChanges();
        var id = (string)(await a.Admin.CreateSandboxAsync())["sandboxID"]!;
        await seenByB.NextAsync(id, c => c.Cause == SandboxChangeCause.Created);
        // Both pause at once: one wins, the other is told it is already paused (or to try
        // again); never two pauses, never a lost one.
        var results = await Task.WhenAll(a.Admin.PostJsonAsync($"/sandboxes/{id}/pause"), b.Admin.PostJsonAsync($"/sandboxes/{id}/pause"));
        Assert.Single(results, r => r.Status == 204);
        Assert.Single(results, r => r.Status == 409);
        var (_, events) = await a.Admin.GetJsonAsync($"/events/sandboxes/{id}?types=sandbox.lifecycle.paused");
        Assert.Single(events!.AsArray());
    }

    [Fact]
    public async Task ReplicasStartingTogether_OnAnEmptyDatabase_SeedItOnce()
    {
        if (!TestDatabase.IsPostgres)
            Assert.Skip("several replicas share a PostgreSQL database: set PORTAL_TEST_POSTGRES (scripts/test.sh runs this in its PostgreSQL pass)");
        var runtime = new FakeSandboxRuntime();
        var dir = PortalHost.NewDataDir();
        var shared = new Dictionary<string, string?> { ["Portal:Database"] = TestDatabase.ConnectionStringFor(dir) };
        var hosts = new List<PortalHost>();
        try
        {
            // Three at once, the same configured admin key: each used to find no team, and all but
            // the first failed on the key's second insert (or made a second admin team).
            var starting = Enumerable.Range(0, 3).Select(i => PortalHost.StartAsync(runtime, i == 0 ? dir : null, shared, keepDataDir: i == 0)).ToList();
            foreach (var s in starting)
            {
                try { hosts.Add(await s); }
                catch (Exception e) { Assert.Fail($"a replica failed to start beside the others: {e}"); }
            }
            foreach (var h in hosts)
            {
                var (status, teams) = await h.Admin.GetJsonAsync("/teams");
                Assert.Equal(200, status);
                Assert.Single(teams!.AsArray(), t => (string)t!["name"]! == "admin");
            }
            using var store = TestDatabase.Store(dir);
            Assert.Single(await store.ListTeamsAsync(Ct));
            Assert.Single(await store.ListApiKeysAsync(Ct));
            await using var conn = new Npgsql.NpgsqlConnection(shared["Portal:Database"]);
            await conn.OpenAsync(Ct);
            await using var q = new Npgsql.NpgsqlCommand("SELECT count(*) FROM users", conn);
            Assert.Equal(1L, (long)(await q.ExecuteScalarAsync(Ct))!);
        }
        finally
        {
            foreach (var h in hosts) await h.DisposeAsync();
            TestDatabase.Drop(dir);
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public async Task AKey_CreatedOrRevokedOnOne_HoldsOnTheOther_WithinASecond()
    {
        await using var r = await Replicas.StartAsync();
        var (a, b) = (r.A, r.B);
        var (_, created) = await a.Admin.PostJsonAsync("/api-keys", """{"name":"replicated"}""");
        var key = b.Client((string)created!["key"]!);
        Assert.True(await WithinAsync(TimeSpan.FromSeconds(1), async () => (await key.GetJsonAsync("/v2/sandboxes")).Status == 200),
            "a key created on one replica was not accepted by the other within 1 s");

        Assert.Equal(204, (await a.Admin.DeleteJsonAsync($"/api-keys/{(string)created["id"]!}")).Status);
        Assert.True(await WithinAsync(TimeSpan.FromSeconds(1), async () => (await key.GetJsonAsync("/v2/sandboxes")).Status == 401),
            "a key revoked on one replica was still accepted by the other after 1 s");
        // The other replica's record of its last use never undoes the revocation.
        await b.StopAsync();
        await using var again = await PortalHost.StartAsync(new FakeSandboxRuntime(), config: r.Shared);
        AssertError(await again.Client((string)created["key"]!).GetJsonAsync("/v2/sandboxes"), 401);
    }

    [Fact]
    public async Task WhenTheReapersHolderDies_AnotherTakesOverWithinTheLease_AndMissesNoDeadline()
    {
        await using var r = await Replicas.StartAsync(new Dictionary<string, string?>
        {
            ["Portal:Sandboxes:ReaperLeaseDuration"] = "00:00:02",
        });
        var (a, b) = (r.A, r.B);
        var holderA = a.Services.GetRequiredService<Portal.Core.Coordination.LeaderLease>().Holder;
        // A started first, so it took the lease (B has been refused it since).
        Assert.True(await WithinAsync(TimeSpan.FromSeconds(5), async () => await LeaseHolderAsync(r) == holderA), "replica A never held the reaper's lease");

        using var seenByB = b.FollowChanges();
        var id = (string)(await b.Admin.CreateSandboxAsync("""{"templateID":"base","timeout":1}"""))["sandboxID"]!;
        await a.StopAsync(); // A is gone without handing the lease over, as a killed process is
        var ended = await seenByB.NextAsync(id, c => c.IsDelete); // within the 10 s NextAsync allows: 2 s lease + 1 s deadline + checks
        Assert.NotEqual(holderA, await LeaseHolderAsync(r));
        var (_, events) = await b.Admin.GetJsonAsync($"/events/sandboxes/{id}");
        Assert.Equal("timeout", (string)events!.AsArray()[0]!["eventData"]!["kill_reason"]!);
    }

    [Fact]
    public async Task AStartingReplica_LeavesAnotherReplicasCreateAlone()
    {
        await using var r = await Replicas.StartAsync();
        var runtime = r.A.Runtime;
        runtime.CreateDelay = TimeSpan.FromSeconds(3); // a slow start: the record says Creating meanwhile
        var creating = r.A.Admin.PostJsonAsync("/v2/sandboxes", """{"templateID":"base"}""");
        Assert.True(await WithinAsync(TimeSpan.FromSeconds(2), async () =>
        {
            using var store = TestDatabase.Store(r.A.DataDir);
            return (await store.ListLiveSandboxesAsync(Ct)).Any(s => s.Status == SandboxStatus.Creating);
        }), "the create never reached the store");

        // A third replica starts now: its recovery sees a create it does not own.
        await using var c = await PortalHost.StartAsync(runtime, config: r.Shared);
        var (status, body) = await creating;
        Assert.Equal(201, status);
        var id = (string)body!["sandboxID"]!;
        Assert.True(runtime.Exists(id));
        Assert.Equal("running", (string)(await c.Admin.GetJsonAsync($"/sandboxes/{id}")).Body!["state"]!);
    }

    [Fact]
    public async Task Webhooks_AreDeliveredOnce_InOrder_WhicheverReplicaMadeTheChange()
    {
        await using var r = await Replicas.StartAsync(new Dictionary<string, string?>
        {
            ["Portal:Webhooks:AllowPrivateTargets"] = "true", // the receiver is on loopback
            ["Portal:Webhooks:PollInterval"] = "00:00:00.050",
        });
        var (a, b) = (r.A, r.B);
        await using var receiver = await Portal.Tests.Webhooks.WebhookReceiver.StartAsync("whsec-replicas");
        var hook = new System.Text.Json.Nodes.JsonObject
        {
            ["name"] = "replicas", ["url"] = receiver.Url, ["enabled"] = true, ["signatureSecret"] = "whsec-replicas",
            ["events"] = new System.Text.Json.Nodes.JsonArray("sandbox.lifecycle.created", "sandbox.lifecycle.paused", "sandbox.lifecycle.resumed", "sandbox.lifecycle.killed"),
        };
        Assert.Equal(201, (await a.Admin.PostJsonAsync("/events/webhooks", hook.ToJsonString())).Status);
        // B learns of the webhook from A's note, so B's saves write its outbox rows.
        using var seenByA = a.FollowChanges();
        var id = (string)(await b.Admin.CreateSandboxAsync())["sandboxID"]!;
        await seenByA.NextAsync(id, c => c.Cause == SandboxChangeCause.Created);
        Assert.Equal(204, (await a.Admin.PostJsonAsync($"/sandboxes/{id}/pause")).Status);
        Assert.Equal(201, (await b.Admin.PostJsonAsync($"/v2/sandboxes/{id}/connect", """{"timeout":60}""")).Status);
        await seenByA.NextAsync(id, c => c.Cause == SandboxChangeCause.Resumed);
        Assert.Equal(204, (await a.Admin.DeleteJsonAsync($"/sandboxes/{id}")).Status);

        await receiver.WaitForAsync(d => d.Count >= 4, TimeSpan.FromSeconds(10), "four lifecycle events");
        await Task.Delay(500, Ct); // a second dispatcher, if there were one, would have sent its copies by now
        Assert.Equal(["created", "paused", "resumed", "killed"], receiver.Received.Select(d => d.Type["sandbox.lifecycle.".Length..]));
        Assert.All(receiver.Received, d => Assert.True(d.SignatureValid));
    }

    private static async Task<string?> LeaseHolderAsync(Replicas r)
    {
        await using var conn = new Npgsql.NpgsqlConnection(r.Shared["Portal:Database"]);
        await conn.OpenAsync(Ct);
        await using var q = new Npgsql.NpgsqlCommand("SELECT \"Holder\" FROM leases WHERE \"Name\" = 'reaper'", conn);
        return (string?)await q.ExecuteScalarAsync(Ct);
    }

    /// <summary>Whether <paramref name="condition"/> holds before <paramref name="limit"/> runs out (checked every 20 ms).</summary>
    private static async Task<bool> WithinAsync(TimeSpan limit, Func<Task<bool>> condition)
    {
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed < limit)
        {
            if (await condition()) return true;
            await Task.Delay(20, Ct);
        }
        return await condition();
    }
}
