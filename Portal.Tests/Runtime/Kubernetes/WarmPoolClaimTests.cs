using Portal.Core.Runtime;
using Portal.Core.Runtime.Kubernetes;

namespace Portal.Tests.Runtime.Kubernetes;

/// <summary>
/// Two runtimes ("portal replicas") on one FAKE cluster, claiming from one warm pool at once.
/// The fake kubelet answers for envd here (only /health and /init): the property under test is
/// the API server's optimistic concurrency, and 200+ real envd processes would not fit the machine.
/// </summary>
public sealed class WarmPoolClaimTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task TwoReplicas_200ConcurrentCreates_NeverHandOutOnePodTwice()
    {
        await using var cluster = await FakeCluster.StartAsync(realEnvd: false);
        var templates = new Dictionary<string, KubernetesTemplateOptions> { ["base"] = FakeCluster.Template(warm: 120) };
        var a = await cluster.RuntimeAsync(templates);
        var b = await cluster.RuntimeAsync(templates);
        await FakeCluster.EventuallyAsync(() => a.WarmCount("base") >= 120 && b.WarmCount("base") >= 120, "both replicas see 120 ready warm pods", 60);

        var ids = Enumerable.Range(0, 200).Select(i => $"c{i:000}{Guid.NewGuid():N}"[..20]).ToArray();
        SandboxInstance[] results;
        try
        {
            results = await Task.WhenAll(ids.Select((id, i) => Task.Run(() =>
                (i % 2 == 0 ? a : b).CreateAsync(new SandboxSpec { SandboxId = id, TemplateId = "base" }, Ct), Ct)));
        }
        catch (TimeoutException e)
        {
            var name = e.Message.Split(' ')[1];
            var pod = cluster.Pods().FirstOrDefault(p => p["metadata"]!["name"]!.GetValue<string>() == name);
            throw new Exception($"{e.Message}; store: {pod?["status"]?.ToJsonString()} running={cluster.Kubelet.Running} reqs={string.Join(",", cluster.Server.Requests.GroupBy(r => r.Verb + " " + r.Resource).Select(g => g.Key + "=" + g.Count()))} log: {string.Join(" | ", cluster.Log.Take(2))} errors: {string.Join(" | ", cluster.Server.Errors.Take(2))}");
        }

        Assert.Equal(ids, results.Select(r => r.SandboxId).ToArray());
        // Every sandbox has exactly one pod, and no pod carries two sandboxes: a double claim
        // would have relabelled one sandbox's pod with another's ID, leaving the first without one.
        var claimed = cluster.Pods($"{SandboxPods.StateLabel}={SandboxPods.Claimed}");
        var byId = claimed.GroupBy(p => p["metadata"]!["labels"]![SandboxPods.SandboxIdLabel]!.GetValue<string>()).ToDictionary(g => g.Key, g => g.Count());
        Assert.Equal(200, claimed.Count);
        Assert.All(ids, id => Assert.Equal(1, byId.GetValueOrDefault(id)));
        Assert.Equal(200, claimed.Select(p => p["metadata"]!["name"]!.GetValue<string>()).Distinct().Count());
        // The race was real: most creates took warm pods, and some claims lost to the other replica.
        var fromPool = claimed.Count(p => p["metadata"]!["name"]!.GetValue<string>().StartsWith("warm-", StringComparison.Ordinal));
        Assert.True(fromPool >= 100, $"only {fromPool} creates claimed warm pods");
        var conflicts = cluster.Server.Requests.Count(r => r.Verb == "patch") - fromPool;
        Assert.True(conflicts > 0, "no claim ever lost a race: the test did not exercise concurrency");
        Assert.Equal(200, (await a.ListAsync(Ct)).Count);
        await FakeCluster.EventuallyAsync(() => b.ListAsync(Ct).Result.Count == 200, "the other replica lists all 200");
    }
}
