using System.Text.RegularExpressions;
using k8s;
using Microsoft.Extensions.Options;
using Portal.Core.Runtime;
using Portal.Core.Runtime.Kubernetes;

namespace Portal.Web.Runtime;

/// <summary><c>Portal:Runtime=kubernetes</c>: options under <c>Portal:Kubernetes</c>, validated at start-up.</summary>
public static partial class KubernetesRuntimeRegistration
{
    public const string Section = "Portal:Kubernetes";

    public static IServiceCollection AddKubernetesRuntime(this IServiceCollection services, IConfiguration config)
    {
        services.AddOptions<KubernetesRuntimeOptions>()
            .Bind(config.GetSection(Section))
            .Validate(o => o.Kubeconfig is not null || Environment.GetEnvironmentVariable("KUBERNETES_SERVICE_HOST") is { Length: > 0 },
                $"{Section}:Kubeconfig (env KUBECONFIG) is not set and this process is not in a pod (KUBERNETES_SERVICE_HOST is unset): name a kubeconfig file, or run the portal in the cluster")
            .Validate(o => o.Kubeconfig is null || File.Exists(o.Kubeconfig), $"{Section}:Kubeconfig (env KUBECONFIG) names a file that does not exist")
            .Validate(o => DnsLabel().IsMatch(o.Namespace), $"{Section}:Namespace must be a Kubernetes namespace name (lowercase letters, digits, '-'; at most 63)")
            .Validate(o => o.Templates.Count > 0, $"{Section}:Templates must name at least one template (an image and its sizes; see docs/kubernetes.md)")
            .Validate(o => o.StartTimeout > TimeSpan.Zero, $"{Section}:StartTimeout must be positive")
            .Validate(o => o.Templates.Values.All(t => t.ImageHasEnvd) || !string.IsNullOrWhiteSpace(o.EnvdImage),
                $"{Section}:EnvdImage must name the image that carries portal-envd (the portal's own image) when a template's image lacks it")
            .ValidateOnStart();
        services.AddSingleton<IValidateOptions<KubernetesRuntimeOptions>, TemplateValidation>();
        services.AddSingleton<IKubernetes>(sp =>
        {
            var o = sp.GetRequiredService<IOptions<KubernetesRuntimeOptions>>().Value;
            var config = o.Kubeconfig is null
                ? KubernetesClientConfiguration.InClusterConfig()
                : KubernetesClientConfiguration.BuildConfigFromConfigFile(o.Kubeconfig, o.Context);
            return new Kubernetes(config);
        });
        services.AddSingleton(sp => new KubernetesSandboxRuntime(sp.GetRequiredService<IOptions<KubernetesRuntimeOptions>>().Value, sp.GetRequiredService<IKubernetes>(),
            sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ILogger<KubernetesSandboxRuntime>>()));
        services.AddSingleton<ISandboxRuntime>(sp => sp.GetRequiredService<KubernetesSandboxRuntime>());
        // On Kubernetes the leader of each kind of one-replica work is decided by a Lease in the
        // portal's namespace (the store still keeps the fence its writes are checked against).
        services.AddSingleton<Portal.Core.Coordination.ILeaseArbiter>(sp => new Portal.Core.Coordination.KubernetesLeaseArbiter(
            sp.GetRequiredService<IKubernetes>(), sp.GetRequiredService<IOptions<KubernetesRuntimeOptions>>().Value.Namespace,
            sp.GetRequiredService<Portal.Core.Persistence.IPortalStore>(), sp.GetRequiredService<TimeProvider>()));
        return services;
    }

    /// <summary>Per-template checks, each message naming the template's own key.</summary>
    private sealed class TemplateValidation : IValidateOptions<KubernetesRuntimeOptions>
    {
        public ValidateOptionsResult Validate(string? name, KubernetesRuntimeOptions o)
        {
            var failures = new List<string>();
            foreach (var (id, t) in o.Templates)
            {
                var key = $"{Section}:Templates:{id}";
                if (string.IsNullOrWhiteSpace(t.Image)) failures.Add($"{key}:Image must name the container image sandboxes of '{id}' run");
                if (t.CpuCount < 1) failures.Add($"{key}:CpuCount must be at least 1");
                if (t.MemoryMB < 64) failures.Add($"{key}:MemoryMB must be at least 64");
                if (t.DiskSizeMB < 64) failures.Add($"{key}:DiskSizeMB must be at least 64");
                if (t.WarmPoolSize < 0) failures.Add($"{key}:WarmPoolSize must be 0 or more");
                if (!t.EnvdPath.StartsWith('/')) failures.Add($"{key}:EnvdPath must be an absolute path inside the container");
                if (t.Ports.Any(p => p is < 1 or > 65535)) failures.Add($"{key}:Ports must be TCP ports (1-65535)");
                if (t.PauseMode == KubernetesPauseMode.Stop && t.PersistentHome is null)
                    failures.Add($"{key}:PauseMode 'Stop' needs {key}:PersistentHome: a stopped sandbox keeps only its home volume");
                if (t.PersistentHome is not null && t.WarmPoolSize > 0)
                    failures.Add($"{key}:WarmPoolSize must be 0 with {key}:PersistentHome: a warm pod cannot mount a volume made for a sandbox not yet created");
                if (t.PersistentHome is { SizeMB: < 1 }) failures.Add($"{key}:PersistentHome:SizeMB must be at least 1");
            }
            return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
        }
    }

    [GeneratedRegex("^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")]
    private static partial Regex DnsLabel();
}
