using System.Globalization;
using System.Text.Json;
using k8s.Models;

namespace Portal.Core.Runtime.Kubernetes;

/// <summary>
/// How sandboxes look on the cluster. A pod is warm (labelled with its pool, claimable) or
/// claimed (labelled with its sandbox ID); everything the portal needs to know about a sandbox
/// after a restart, or on another replica, is on the pod (or, for a stopped sandbox, on its
/// home volume's claim), so the cluster is the runtime's only state.
/// </summary>
public static class SandboxPods
{
    public const string Prefix = "sandbox.portal.dev/";
    public const string ManagedBy = "app.kubernetes.io/managed-by";
    public const string ManagedByValue = "sandbox-portal";
    public const string PoolLabel = Prefix + "pool";
    public const string StateLabel = Prefix + "state";
    public const string SandboxIdLabel = Prefix + "sandbox-id";
    public const string Warm = "warm", Claimed = "claimed";

    public const string TemplateAnnotation = Prefix + "template";
    public const string StartedAtAnnotation = Prefix + "started-at";
    public const string CpuAnnotation = Prefix + "cpu";
    public const string MemoryAnnotation = Prefix + "memory-mb";
    /// <summary>envd's access token and the create's env vars (JSON): what a resume after a stop
    /// re-applies. Readable by whoever may read pods or claims in the namespace.</summary>
    public const string InitAnnotation = Prefix + "init";
    /// <summary>"freeze" on a frozen pod, "stop" on the claim of a stopped sandbox.</summary>
    public const string PausedAnnotation = Prefix + "paused";
    /// <summary>Set just before a deliberate kill: other replicas then report no death.</summary>
    public const string KilledAnnotation = Prefix + "killed";
    /// <summary>"true" when the sandbox may reach the internet (the NetworkPolicy in manifests/ selects on it).</summary>
    public const string InternetLabel = Prefix + "internet";

    public const string Selector = ManagedBy + "=" + ManagedByValue;
    public const string EnvdVolume = "portal-envd", HomeVolume = "home";
    public const string SandboxContainer = "sandbox";

    /// <summary>Label values may not hold every template ID (63 characters of [A-Za-z0-9._-]).</summary>
    public static string LabelValue(string s)
    {
        var chars = s.Select(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' ? c : '-').ToArray();
        var v = new string(chars).Trim('-', '_', '.');
        return v.Length <= 63 ? v : v[..63].TrimEnd('-', '_', '.');
    }

    /// <summary>A DNS-1123 name part.</summary>
    public static string NamePart(string s)
    {
        var v = new string(s.ToLowerInvariant().Select(c => char.IsAsciiLetterOrDigit(c) ? c : '-').ToArray()).Trim('-');
        return v.Length <= 40 ? v : v[..40].TrimEnd('-');
    }

    public static string ClaimName(string sandboxId) => "home-" + sandboxId;

    public sealed record InitData(Dictionary<string, string> EnvVars, string? AccessToken);

    public static string SerializeInit(SandboxSpec spec) =>
        JsonSerializer.Serialize(new InitData(new Dictionary<string, string>(spec.EnvVars), spec.EnvdAccessToken));

    public static InitData ReadInit(IDictionary<string, string>? annotations) =>
        annotations?.TryGetValue(InitAnnotation, out var json) == true
            ? JsonSerializer.Deserialize<InitData>(json) ?? new InitData([], null)
            : new InitData([], null);

    /// <summary>The annotations of a claimed sandbox.</summary>
    public static Dictionary<string, string> SandboxAnnotations(SandboxSpec spec, string templateId, int cpu, int memoryMB, DateTimeOffset startedAt) => new()
    {
        [TemplateAnnotation] = templateId,
        [StartedAtAnnotation] = startedAt.ToString("O", CultureInfo.InvariantCulture),
        [CpuAnnotation] = cpu.ToString(CultureInfo.InvariantCulture),
        [MemoryAnnotation] = memoryMB.ToString(CultureInfo.InvariantCulture),
        [InitAnnotation] = SerializeInit(spec),
    };

    /// <summary>
    /// The pod of a template: warm (<paramref name="sandboxId"/> null) or claimed from the start.
    /// envd is the container's main process (PID 1, so it inherits every orphan and a freeze
    /// reaches all processes); the template's start command runs beside it.
    /// </summary>
    public static V1Pod Build(KubernetesRuntimeOptions options, string templateId, KubernetesTemplateOptions t, string? sandboxId,
        int cpu, int memoryMB, IDictionary<string, string>? annotations, IDictionary<string, string>? env)
    {
        var labels = new Dictionary<string, string>
        {
            [ManagedBy] = ManagedByValue,
            [PoolLabel] = LabelValue(templateId),
            [StateLabel] = sandboxId is null ? Warm : Claimed,
        };
        if (sandboxId is not null) labels[SandboxIdLabel] = sandboxId;
        var podAnnotations = new Dictionary<string, string>(annotations ?? new Dictionary<string, string>()) { [TemplateAnnotation] = templateId };

        var volumes = new List<V1Volume>();
        var mounts = new List<V1VolumeMount>();
        var initContainers = new List<V1Container>();
        var envdDir = Path.GetDirectoryName(t.EnvdPath)!;
        if (!t.ImageHasEnvd)
        {
            volumes.Add(new V1Volume { Name = EnvdVolume, EmptyDir = new V1EmptyDirVolumeSource { SizeLimit = new ResourceQuantity("200Mi") } });
            mounts.Add(new V1VolumeMount { Name = EnvdVolume, MountPath = envdDir, ReadOnlyProperty = true });
            initContainers.Add(new V1Container
            {
                Name = "install-envd",
                Image = options.EnvdImage,
                Command = ["cp", options.EnvdPathInImage, "/install/portal-envd"],
                VolumeMounts = [new V1VolumeMount { Name = EnvdVolume, MountPath = "/install" }],
                Resources = new V1ResourceRequirements
                {
                    Limits = new Dictionary<string, ResourceQuantity> { ["cpu"] = new("500m"), ["memory"] = new("64Mi") },
                },
            });
        }
        if (t.PersistentHome is not null && sandboxId is not null)
        {
            volumes.Add(new V1Volume { Name = HomeVolume, PersistentVolumeClaim = new V1PersistentVolumeClaimVolumeSource { ClaimName = ClaimName(sandboxId) } });
            mounts.Add(new V1VolumeMount { Name = HomeVolume, MountPath = "/home/user" });
        }

        var containerEnv = new List<V1EnvVar>();
        foreach (var (k, v) in t.Env) containerEnv.Add(new V1EnvVar { Name = k, Value = v });
        foreach (var (k, v) in env ?? new Dictionary<string, string>()) containerEnv.Add(new V1EnvVar { Name = k, Value = v });
        if (t.StartCommand is { } start) containerEnv.Add(new V1EnvVar { Name = "PORTAL_START_COMMAND", Value = start });
        if (t.StartCommand is not null && t.ReadyCommand is { } ready) containerEnv.Add(new V1EnvVar { Name = "PORTAL_READY_COMMAND", Value = ready });
        containerEnv.Add(new V1EnvVar { Name = "PORTAL_ENVD", Value = t.EnvdPath });

        var ports = new List<V1ContainerPort> { new() { Name = "envd", ContainerPort = SandboxPorts.Envd } };
        ports.AddRange(t.Ports.Where(p => p != SandboxPorts.Envd).Select(p => new V1ContainerPort { ContainerPort = p }));

        var resources = new Dictionary<string, ResourceQuantity>
        {
            ["cpu"] = new(cpu.ToString(CultureInfo.InvariantCulture)),
            ["memory"] = new($"{memoryMB}Mi"),
            ["ephemeral-storage"] = new($"{t.DiskSizeMB}Mi"),
        };
        return new V1Pod
        {
            Metadata = new V1ObjectMeta
            {
                GenerateName = sandboxId is null ? $"warm-{NamePart(templateId)}-" : $"sbx-{sandboxId}-",
                Labels = labels,
                Annotations = podAnnotations,
            },
            Spec = new V1PodSpec
            {
                RestartPolicy = "Never",
                AutomountServiceAccountToken = false,
                ServiceAccountName = options.ServiceAccountName,
                EnableServiceLinks = false,
                TerminationGracePeriodSeconds = 5,
                NodeSelector = t.NodeSelector.Count > 0 ? t.NodeSelector : null,
                InitContainers = initContainers.Count > 0 ? initContainers : null,
                Volumes = volumes.Count > 0 ? volumes : null,
                Containers =
                [
                    new V1Container
                    {
                        Name = SandboxContainer,
                        Image = t.Image,
                        // exec: envd becomes PID 1; it runs and restarts the start command (Sandbox/StartCommand.cs in envd).
                        // E2B's images run commands as "user": created when the image has none.
                        Command = ["/bin/sh", "-c",
                            "id user >/dev/null 2>&1 || useradd -m -s /bin/bash user 2>/dev/null || adduser -D user 2>/dev/null; " +
                            $"exec \"$PORTAL_ENVD\" --port {SandboxPorts.Envd} --default-user user " +
                            "${PORTAL_START_COMMAND:+--start-command \"$PORTAL_START_COMMAND\"} ${PORTAL_READY_COMMAND:+--ready-command \"$PORTAL_READY_COMMAND\"}"],
                        Env = containerEnv,
                        Ports = ports,
                        VolumeMounts = mounts.Count > 0 ? mounts : null,
                        Resources = new V1ResourceRequirements { Limits = resources, Requests = resources },
                        ReadinessProbe = new V1Probe
                        {
                            // Ready = envd up and the template's start command ready (204 at once without one).
                            HttpGet = new V1HTTPGetAction { Path = "/_portal/ready", Port = SandboxPorts.Envd },
                            PeriodSeconds = 2,
                        },
                    },
                ],
            },
        };
    }

    /// <summary>The claim that holds a sandbox's home (and, while it is stopped, its record).</summary>
    public static V1PersistentVolumeClaim BuildClaim(string sandboxId, string templateId, KubernetesHomeVolumeOptions home) => new()
    {
        Metadata = new V1ObjectMeta
        {
            Name = ClaimName(sandboxId),
            Labels = new Dictionary<string, string> { [ManagedBy] = ManagedByValue, [SandboxIdLabel] = sandboxId, [PoolLabel] = LabelValue(templateId) },
            Annotations = new Dictionary<string, string> { [TemplateAnnotation] = templateId },
        },
        Spec = new V1PersistentVolumeClaimSpec
        {
            AccessModes = ["ReadWriteOnce"],
            StorageClassName = home.StorageClassName,
            Resources = new V1VolumeResourceRequirements { Requests = new Dictionary<string, ResourceQuantity> { ["storage"] = new($"{home.SizeMB}Mi") } },
        },
    };

    public static bool IsReady(V1Pod pod) =>
        pod.Status?.Phase == "Running" && !string.IsNullOrEmpty(pod.Status.PodIP) &&
        pod.Status.Conditions?.Any(c => c.Type == "Ready" && c.Status == "True") == true;

    public static bool HasEnded(V1Pod pod) => pod.Status?.Phase is "Failed" or "Succeeded";

    public static string? Label(IMetadata<V1ObjectMeta> o, string key) => o.Metadata?.Labels?.TryGetValue(key, out var v) == true ? v : null;
    public static string? Annotation(IMetadata<V1ObjectMeta> o, string key) => o.Metadata?.Annotations?.TryGetValue(key, out var v) == true ? v : null;
}
