using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Portal.Core.Runtime;
using Portal.Core.Runtime.Kubernetes;
using Portal.Tests.Runtime.Kubernetes;
using Portal.Web.Runtime;

namespace Portal.Tests.Web.Runtime;

/// <summary>Portal:Runtime=kubernetes: Portal:Kubernetes:* is checked at start-up, each message naming its key.</summary>
public sealed class KubernetesRuntimeRegistrationTests
{
    private static ServiceProvider Build(Dictionary<string, string?> settings, string? settingsFile = null)
    {
        var builder = new ConfigurationBuilder();
        if (settingsFile is not null) builder.AddJsonFile(settingsFile);
        var config = builder.AddInMemoryCollection(settings).AddInMemoryCollection(new Dictionary<string, string?> { ["Portal:Runtime"] = "kubernetes" }).Build();
        var services = new ServiceCollection().AddLogging().AddSingleton(TimeProvider.System);
        services.AddSandboxRuntime(config);
        return services.BuildServiceProvider();
    }

    private static string Failures(ServiceProvider sp) =>
        string.Join("\n", Assert.Throws<OptionsValidationException>(() => sp.GetRequiredService<IOptions<KubernetesRuntimeOptions>>().Value).Failures);

    [Fact]
    public void BadSettings_AreRefused_NamingTheKey()
    {
        var kubeconfig = Path.GetTempFileName();
        try
        {
            using var sp = Build(new()
            {
                ["Portal:Kubernetes:Kubeconfig"] = kubeconfig,
                ["Portal:Kubernetes:Namespace"] = "Not_A_Namespace",
                ["Portal:Kubernetes:Templates:base:Image"] = "",
                ["Portal:Kubernetes:Templates:disk:Image"] = "x",
                ["Portal:Kubernetes:Templates:disk:PauseMode"] = "Stop",
                ["Portal:Kubernetes:Templates:home:Image"] = "x",
                ["Portal:Kubernetes:Templates:home:WarmPoolSize"] = "2",
                ["Portal:Kubernetes:Templates:home:PersistentHome:SizeMB"] = "10",
            });
            var failures = Failures(sp);
            Assert.Contains("Portal:Kubernetes:Namespace", failures);
            Assert.Contains("Portal:Kubernetes:Templates:base:Image", failures);
            Assert.Contains("Portal:Kubernetes:Templates:disk:PauseMode 'Stop' needs Portal:Kubernetes:Templates:disk:PersistentHome", failures);
            Assert.Contains("Portal:Kubernetes:Templates:home:WarmPoolSize must be 0", failures);
        }
        finally { File.Delete(kubeconfig); }
    }

    [Fact]
    public void NoKubeconfig_OutsideAPod_IsRefused_NamingTheKey()
    {
        if (Environment.GetEnvironmentVariable("KUBERNETES_SERVICE_HOST") is { Length: > 0 }) Assert.Skip("this test process runs in a pod");
        using var sp = Build(new() { ["Portal:Kubernetes:Templates:base:Image"] = "x" });
        Assert.Contains("Portal:Kubernetes:Kubeconfig (env KUBECONFIG) is not set and this process is not in a pod", Failures(sp));
        using var missing = Build(new() { ["Portal:Kubernetes:Kubeconfig"] = "/nonexistent/kubeconfig", ["Portal:Kubernetes:Templates:base:Image"] = "x" });
        Assert.Contains("Portal:Kubernetes:Kubeconfig (env KUBECONFIG) names a file that does not exist", Failures(missing));
    }

    [Fact]
    public async Task TheRepositorysAppsettings_WithAKubeconfig_GiveAWorkingRuntime()
    {
        await using var cluster = await FakeCluster.StartAsync(realEnvd: false);
        var kubeconfig = Path.GetTempFileName();
        await File.WriteAllTextAsync(kubeconfig, cluster.Server.Kubeconfig("sandbox-system"), TestContext.Current.CancellationToken);
        var root = AppContext.BaseDirectory;
        while (!File.Exists(Path.Combine(root, "Portal.sln"))) root = Path.GetDirectoryName(root)!;
        try
        {
            await using var sp = Build(new() { ["Portal:Kubernetes:Kubeconfig"] = kubeconfig }, Path.Combine(root, "appsettings.json"));
            var runtime = sp.GetRequiredService<ISandboxRuntime>();
            Assert.Equal("kubernetes", runtime.Name);
            Assert.Contains("base", (await runtime.Templates.ListAsync(TestContext.Current.CancellationToken)).Select(t => t.TemplateId));
            Assert.Empty(await runtime.ListAsync(TestContext.Current.CancellationToken));
            // Its warm pool starts filling in the configured namespace.
            await FakeCluster.EventuallyAsync(() => cluster.Store.List("pods", "sandbox-system", Portal.FakeKubernetes.LabelSelector.Parse(SandboxPods.Selector), out _).Count > 0, "warm pods in sandbox-system");
        }
        finally { File.Delete(kubeconfig); }
    }
}
