using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Portal.Core.Runtime.Kubernetes;
using Portal.Tests.Persistence;
using Portal.Tests.Runtime.Kubernetes;
using static Portal.Tests.Api.Http;

namespace Portal.Tests.Api;

/// <summary>
/// Two real portal PROCESSES on one PostgreSQL database, both with the Kubernetes runtime on one
/// FAKE cluster (fake API server and fake kubelet in this test process): a burst of creates split
/// across them never hands out one warm pod twice; a sandbox made through one is listed, reached
/// (a server in it), paused, resumed and killed through the other; a key revoked on one is refused
/// by the other within a second; and killing the reaper's holder hands deadline work over within
/// the lease, ending a sandbox whose deadline passed meanwhile. Needs PostgreSQL (scripts/test.sh
/// runs it in its PostgreSQL pass).
/// </summary>
[Collection(nameof(Portal.Tests.Runtime.Local.LocalRuntimeCollection))] // real processes: not beside other heavy suites
public sealed class KubernetesReplicaProcessesTests
{
    private static readonly TimeSpan Lease = TimeSpan.FromSeconds(4);
    private const string TakeoverLine = "This replica now ends sandboxes at their deadlines";

    [Fact]
    public async Task TwoPortalProcesses_OnePostgres_OneCluster()
    {
        if (!TestDatabase.IsPostgres)
            Assert.Skip("two portal processes share a PostgreSQL database: set PORTAL_TEST_POSTGRES (scripts/test.sh runs this in its PostgreSQL pass)");
        // The burst's pods answer with the fake envd responder (200 real envd processes would not
        // fit two cores); the "base" template's pods run the real envd.
        await using var cluster = await FakeCluster.StartAsync(realEnvd: true, fakeEnvdPools: "burst");
        var dir = PortalHost.NewDataDir();
        var kubeconfig = Path.Combine(dir, "kubeconfig");
        await File.WriteAllTextAsync(kubeconfig, cluster.Server.Kubeconfig(FakeCluster.Namespace), Ct);
        var environment = new Dictionary<string, string?>
        {
            ["PORTAL_RUNTIME"] = "kubernetes",
            ["KUBECONFIG"] = kubeconfig,
            ["PORTAL_DATABASE"] = TestDatabase.ConnectionStringFor(dir),
            ["PORTAL_SETTINGS"] = null,
        };
        string[] args =
        [
            "--Portal:Kubernetes:Namespace", FakeCluster.Namespace,
            "--Portal:Kubernetes:StartTimeout", "00:01:00",
            "--Portal:Kubernetes:Templates:base:Image", "docker.io/library/debian:bookworm",
            "--Portal:Kubernetes:Templates:base:CpuCount", "1",
            "--Portal:Kubernetes:Templates:base:MemoryMB", "256",
            "--Portal:Kubernetes:Templates:base:WarmPoolSize", "1",
            "--Portal:Kubernetes:Templates:burst:Image", "docker.io/library/debian:bookworm",
            "--Portal:Kubernetes:Templates:burst:CpuCount", "1",
            "--Portal:Kubernetes:Templates:burst:MemoryMB", "64",
            "--Portal:Kubernetes:Templates:burst:WarmPoolSize", "120",
            "--Portal:Sandboxes:ReaperLeaseDuration", Lease.ToString(),
        ];
        var (portA, portB) = (PortalProcessRestartTests.FreePort(), PortalProcessRestartTests.FreePort());
        PortalProcess? a = null, b = null;
        try
        {
            // Both start at once on the empty database: one makes the admin team, neither fails.
            var startA = PortalProcess.StartAsync(Path.Combine(dir, "a"), portA, environment, args);
            var startB = PortalProcess.StartAsync(Path.Combine(dir, "b"), portB, environment, args);
            var failures = new List<string>();
            try { a = await startA; } catch (Exception e) { failures.Add("A: " + e.Message); }
            try { b = await startB; } catch (Exception e) { failures.Add("B: " + e.Message); }
            if (failures.Count > 0) Assert.Fail(string.Join("\n", failures));
            using var adminA = PortalProcessRestartTests.Client(portA, PortalHost.AdminKey);
            using var adminB = PortalProcessRestartTests.Client(portB, PortalHost.AdminKey);
            var (_, teams) = await adminB.GetJsonAsync("/teams");
            Assert.Single(teams!.AsArray(), t => (string)t!["name"]! == "admin");

            await BurstAsync(cluster, adminA, adminB);
            await OneSandboxThroughBothAsync(cluster, adminA, adminB);
            await RevokedKeyAsync(adminA, portB);
            await ReaperHandoverAsync(cluster, a!, b!, adminA, adminB);
        }
        catch (Exception e) when (e is not Xunit.Sdk.SkipException)
        {
            throw new Xunit.Sdk.XunitException($"{e}\n--- portal A ---\n{Tail(a?.Log)}\n--- portal B ---\n{Tail(b?.Log)}\n--- fake API server errors ---\n{string.Join("\n", cluster.Server.Errors.Take(3))}");
        }
        finally
        {
            if (a is not null) await a.DisposeAsync();
            if (b is not null) await b.DisposeAsync();
            TestDatabase.Drop(dir);
            try { Directory.Delete(dir, true); } catch (IOException) { }
        }
    }

    /// <summary>200 concurrent creates, half through each process, from one warm pool.</summary>
    private static async Task BurstAsync(FakeCluster cluster, HttpClient adminA, HttpClient adminB)
    {
        var warm = $"{SandboxPods.PoolLabel}=burst,{SandboxPods.StateLabel}={SandboxPods.Warm}";
        await FakeCluster.EventuallyAsync(() => cluster.Pods(warm).Count(IsReady) >= 120, "120 ready warm pods in the burst pool", 90);
        var patchesBefore = cluster.Server.Requests.Count(r => r.Verb == "patch" && r.Resource == "pods");

        var creates = await Task.WhenAll(Enumerable.Range(0, 200).Select(i => Task.Run(() =>
            (i % 2 == 0 ? adminA : adminB).PostJsonAsync("/v2/sandboxes", $$$"""{"templateID":"burst","timeout":600,"metadata":{"i":"{{{i}}}"}}"""), Ct)));
        Assert.All(creates, c => Assert.True(c.Status == 201, $"create answered {c.Status}: {c.Body?.ToJsonString()}"));
        var ids = creates.Select(c => (string)c.Body!["sandboxID"]!).ToList();
        Assert.Equal(200, ids.Distinct().Count());

        // Every sandbox has exactly one pod and no pod carries two sandboxes (a double claim would
        // have relabelled one sandbox's pod with another's ID, leaving the first without a pod).
        var claimed = cluster.Pods($"{SandboxPods.PoolLabel}=burst,{SandboxPods.StateLabel}={SandboxPods.Claimed}");
        var podsById = claimed.GroupBy(p => p["metadata"]!["labels"]![SandboxPods.SandboxIdLabel]!.GetValue<string>()).ToDictionary(g => g.Key, g => g.Count());
        var without = ids.Where(id => podsById.GetValueOrDefault(id) != 1).ToList();
        Assert.True(without.Count == 0, $"sandboxes without exactly one pod: {string.Join(", ", without.Select(id => $"{id} ({podsById.GetValueOrDefault(id)})"))}");
        Assert.Equal(200, claimed.Count);
        var fromPool = claimed.Count(p => p["metadata"]!["name"]!.GetValue<string>().StartsWith("warm-", StringComparison.Ordinal));
        Assert.True(fromPool >= 100, $"only {fromPool} of 200 creates claimed warm pods");
        // The race was real: some claims were answered 409 because the other process won them.
        var claimPatches = cluster.Server.Requests.Count(r => r.Verb == "patch" && r.Resource == "pods") - patchesBefore;
        Assert.True(claimPatches > fromPool, $"{claimPatches} claim patches for {fromPool} warm pods: no claim ever lost a race");

        // Both processes list all 200: each hears of the other's creates by the store's notes (a
        // bounded wait: notes queue behind the burst's own writes on a loaded machine).
        foreach (var admin in new[] { adminA, adminB })
            Assert.True(await WithinAsync(TimeSpan.FromSeconds(15), async () =>
            {
                var listed = (await admin.GetJsonAsync("/sandboxes")).Body!.AsArray().Select(s => (string)s!["sandboxID"]!).ToHashSet();
                return ids.All(listed.Contains);
            }), "a process did not list all 200 sandboxes within 15 s");
    }

    /// <summary>Made through A; listed, reached, paused, resumed and killed through B.</summary>
    private static async Task OneSandboxThroughBothAsync(FakeCluster cluster, HttpClient adminA, HttpClient adminB)
    {
        var created = await adminA.CreateSandboxAsync("""{"templateID":"base","timeout":600}""");
        var id = (string)created["sandboxID"]!;
        var token = (string)created["envdAccessToken"]!;
        // A get asks the store at once; the list is B's view, fed by A's note.
        Assert.Equal("running", (string)(await adminB.GetJsonAsync($"/sandboxes/{id}")).Body!["state"]!);
        Assert.True(await WithinAsync(TimeSpan.FromSeconds(5), async () => (await adminB.GetJsonAsync("/sandboxes")).Body!.AsArray().Any(s => (string)s!["sandboxID"]! == id)),
            "B did not list the sandbox made through A within 5 s");

        // A server in the sandbox (on its pod's address), started through B's proxy to envd.
        var pod = Assert.Single(cluster.Pods($"{SandboxPods.SandboxIdLabel}={id}"));
        var podIp = pod["status"]!["podIP"]!.GetValue<string>();
        var server = "require('http').createServer((q,s)=>s.end('served by '+process.env.MARK)).listen(8080,process.env.IP)";
        var start = new
        {
            process = new
            {
                cmd = "/bin/bash",
                args = new[] { "-c", $"setsid /usr/bin/node -e \"{server}\" </dev/null >/dev/null 2>&1 &" },
                envs = new Dictionary<string, string> { ["MARK"] = id, ["IP"] = podIp },
            },
        };
        using (var msg = Portal.Tests.Envd.EnvdServer.StreamRequest("process.Process/Start", start, "user"))
        {
            msg.Headers.Add("E2b-Sandbox-Id", id);
            msg.Headers.Add("E2b-Sandbox-Port", "49983");
            msg.Headers.Add("X-Access-Token", token);
            using var res = await adminB.SendAsync(msg, Ct);
            Assert.Equal(HttpStatusCode.OK, res.StatusCode);
            var frames = await res.Content.ReadAsStringAsync(Ct);
            Assert.Contains("\"end\"", frames);
        }
        await FakeCluster.EventuallyAsync(() => ServerSays(adminB, id).Result == "served by " + id, "the sandbox's server answering through B", 20);

        Assert.Equal(204, (await adminB.PostJsonAsync($"/sandboxes/{id}/pause")).Status);
        Assert.Equal("paused", (string)(await adminA.GetJsonAsync($"/sandboxes/{id}")).Body!["state"]!);
        Assert.NotEqual("served by " + id, await ServerSays(adminB, id));
        Assert.Equal(201, (await adminB.PostJsonAsync($"/sandboxes/{id}/resume", """{"timeout":600}""")).Status);
        // The same process answers again: pause (Freeze) kept it, memory and all.
        Assert.Equal("served by " + id, await ServerSays(adminA, id));
        Assert.Equal("served by " + id, await ServerSays(adminB, id));

        Assert.Equal(204, (await adminB.DeleteJsonAsync($"/sandboxes/{id}")).Status);
        AssertError(await adminA.GetJsonAsync($"/sandboxes/{id}"), 404);
        await FakeCluster.EventuallyAsync(() => cluster.Pods($"{SandboxPods.SandboxIdLabel}={id}").Count == 0, "the killed sandbox's pod gone", 10);
    }

    private static async Task<string> ServerSays(HttpClient portal, string id)
    {
        using var msg = new HttpRequestMessage(HttpMethod.Get, "/");
        msg.Headers.Add("E2b-Sandbox-Id", id);
        msg.Headers.Add("E2b-Sandbox-Port", "8080");
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        limit.CancelAfter(TimeSpan.FromSeconds(5));
        try
        {
            using var res = await portal.SendAsync(msg, limit.Token);
            return $"{(res.StatusCode == HttpStatusCode.OK ? "" : $"{(int)res.StatusCode} ")}{await res.Content.ReadAsStringAsync(limit.Token)}";
        }
        catch (OperationCanceledException) when (!Ct.IsCancellationRequested) { return "timed out"; }
    }

    private static async Task RevokedKeyAsync(HttpClient adminA, int portB)
    {
        var (_, created) = await adminA.PostJsonAsync("/api-keys", """{"name":"replicated"}""");
        using var onB = PortalProcessRestartTests.Client(portB, (string)created!["key"]!);
        Assert.True(await WithinAsync(TimeSpan.FromSeconds(1), async () => (await onB.GetJsonAsync("/v2/sandboxes")).Status == 200),
            "a key created on A was not accepted by B within 1 s");
        Assert.Equal(204, (await adminA.DeleteJsonAsync($"/api-keys/{(string)created["id"]!}")).Status);
        var sw = Stopwatch.StartNew();
        Assert.True(await WithinAsync(TimeSpan.FromSeconds(1), async () => (await onB.GetJsonAsync("/v2/sandboxes")).Status == 401),
            "a key revoked on A was still accepted by B after 1 s");
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(1.5));
    }

    /// <summary>SIGKILL the process that holds the reaper's lease; the other takes over and ends a sandbox whose deadline passed meanwhile.</summary>
    private static async Task ReaperHandoverAsync(FakeCluster cluster, PortalProcess a, PortalProcess b, HttpClient adminA, HttpClient adminB)
    {
        // The holder is the process whose last word on the lease was taking it.
        static bool Holds(PortalProcess p) => LastLeaseWord(p.Log) == TakeoverLine;
        Assert.True(await WithinAsync(Lease * 3, () => Task.FromResult(Holds(a) ^ Holds(b))), "neither process (or both) says it holds the reaper's lease");
        var (leader, survivor, survivorAdmin) = Holds(a) ? (a, b, adminB) : (b, a, adminA);
        var takeoversBefore = Count(survivor.Log, TakeoverLine);

        var created = await survivorAdmin.CreateSandboxAsync("""{"templateID":"burst","timeout":1}""");
        var id = (string)created["sandboxID"]!;
        var deadline = DateTimeOffset.Parse((string)(await survivorAdmin.GetJsonAsync($"/sandboxes/{id}")).Body!["endAt"]!, System.Globalization.CultureInfo.InvariantCulture);
        leader.Kill(); // SIGKILL: the lease is not handed over, it runs out
        var killedAt = DateTimeOffset.UtcNow;
        var sw = Stopwatch.StartNew();

        // The lease runs out at most one term after the holder's last renewal (before the kill); the
        // survivor tries at a third of the term, on its 1 s deadline check.
        var bound = Lease + Lease / 3 + TimeSpan.FromSeconds(2);
        Assert.True(await WithinAsync(bound, () => Task.FromResult(Count(survivor.Log, TakeoverLine) > takeoversBefore)),
            $"the survivor did not take the reaper's lease within {bound.TotalSeconds} s of the kill");
        var handover = sw.Elapsed;
        Assert.True(deadline < killedAt + handover, "the sandbox's deadline did not fall into the handover: the test proves nothing");

        // Ended by the new holder, for its timeout, pod and all.
        Assert.True(await WithinAsync(TimeSpan.FromSeconds(5), async () => (await survivorAdmin.GetJsonAsync($"/sandboxes/{id}")).Status == 404),
            "the sandbox whose deadline passed during the handover was not reaped");
        var (_, events) = await survivorAdmin.GetJsonAsync($"/events/sandboxes/{id}");
        Assert.Equal("timeout", (string)events!.AsArray()[0]!["eventData"]!["kill_reason"]!);
        await FakeCluster.EventuallyAsync(() => cluster.Pods($"{SandboxPods.SandboxIdLabel}={id}").Count == 0, "the reaped sandbox's pod gone", 10);
    }

    private static string? LastLeaseWord(string log) =>
        log.Split('\n').Select(l => l.Contains(TakeoverLine, StringComparison.Ordinal) ? TakeoverLine
            : l.Contains("Another replica holds lease 'reaper'", StringComparison.Ordinal) ? "another" : null).LastOrDefault(w => w is not null);

    private static int Count(string log, string line) => log.Split('\n').Count(l => l.Contains(line, StringComparison.Ordinal));

    private static bool IsReady(JsonObject pod) =>
        pod["status"]?["conditions"] is JsonArray c && c.Any(x => (string?)x?["type"] == "Ready" && (string?)x?["status"] == "True");

    /// <summary>What a failure needs from a portal's log: warnings, errors, lease changes, and the end.</summary>
    private static string Tail(string? log)
    {
        if (log is null) return "(not started)";
        var lines = log.Split('\n');
        var picked = new List<string>();
        for (var i = 0; i < lines.Length; i++)
            if (lines[i].StartsWith("warn:", StringComparison.Ordinal) || lines[i].StartsWith("fail:", StringComparison.Ordinal) || lines[i].StartsWith("crit:", StringComparison.Ordinal))
                picked.AddRange(lines.Skip(i).Take(3));
            else if (lines[i].Contains("lease", StringComparison.Ordinal) || lines[i].Contains("abandon", StringComparison.Ordinal)) picked.Add(lines[i]);
        return string.Join("\n", picked.Take(80)) + "\n...\n" + string.Join("\n", lines.TakeLast(20));
    }

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
