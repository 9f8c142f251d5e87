namespace Portal.Core.Runtime.Kubernetes;

/// <summary>How a template's sandboxes are paused on Kubernetes (see docs/kubernetes.md).</summary>
public enum KubernetesPauseMode
{
    /// <summary>envd stops every process of the sandbox (SIGSTOP); the pod, its memory and its
    /// files stay on the node and keep their resource requests.</summary>
    Freeze,
    /// <summary>The pod is deleted, the persistent home volume kept; resume starts a new pod on
    /// it. Memory, processes and everything outside the home directory are lost.</summary>
    Stop,
}

/// <summary><c>Portal:Kubernetes</c>: where the cluster is and what sandboxes look like there.</summary>
public sealed class KubernetesRuntimeOptions
{
    /// <summary>Path of a kubeconfig file; null = the in-cluster service account (the normal case in a pod).</summary>
    public string? Kubeconfig { get; set; }

    /// <summary>Context of <see cref="Kubeconfig"/> to use; null = its current context.</summary>
    public string? Context { get; set; }

    /// <summary>Namespace sandbox pods (and their volumes) live in; the Role in manifests/ grants only this one.</summary>
    public string Namespace { get; set; } = "sandbox-system";

    /// <summary>Image of the init container that copies portal-envd into sandboxes whose image lacks it (the portal's own image carries it).</summary>
    public string EnvdImage { get; set; } = "sandbox-portal:latest";

    /// <summary>Where portal-envd lies inside <see cref="EnvdImage"/>.</summary>
    public string EnvdPathInImage { get; set; } = "/app/envd/portal-envd";

    /// <summary>How long a new pod may take until its envd answers (image pulls count).</summary>
    public TimeSpan StartTimeout { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>Reported as envdVersion: the envd protocol level Portal.Envd implements.</summary>
    public string EnvdVersion { get; set; } = "0.6.13";

    /// <summary>ServiceAccount sandbox pods run as (its token is never mounted).</summary>
    public string? ServiceAccountName { get; set; }

    /// <summary>Templates by ID.</summary>
    public Dictionary<string, KubernetesTemplateOptions> Templates { get; set; } = [];
}

/// <summary>One template: an image plus what sandboxes started from it get.</summary>
public sealed class KubernetesTemplateOptions
{
    public string Image { get; set; } = "";
    public List<string> Aliases { get; set; } = [];
    public int CpuCount { get; set; } = 2;
    public int MemoryMB { get; set; } = 512;
    /// <summary>The container's ephemeral-storage limit.</summary>
    public int DiskSizeMB { get; set; } = 2048;
    /// <summary>Pods kept started and unclaimed, shared by every portal replica.</summary>
    public int WarmPoolSize { get; set; }
    /// <summary>Kubernetes cannot tell the portal an image's own entrypoint, and the sandbox
    /// container's command is envd: what the image would have run goes here (envd runs it with
    /// /bin/sh and restarts it when it exits); null = nothing.</summary>
    public string? StartCommand { get; set; }
    /// <summary>Exits 0 once the start command is ready: the pod is Ready (and claimable) only then; null = at once.</summary>
    public string? ReadyCommand { get; set; }
    public Dictionary<string, string> Env { get; set; } = [];
    /// <summary>Ports besides envd's the container declares (informational for Kubernetes; traffic goes to the pod IP).</summary>
    public List<int> Ports { get; set; } = [];
    /// <summary>True when the image already has portal-envd at <see cref="EnvdPath"/>: no init container.</summary>
    public bool ImageHasEnvd { get; set; }
    /// <summary>Where envd is (or is copied to) inside the sandbox container.</summary>
    public string EnvdPath { get; set; } = "/.portal/bin/portal-envd";
    /// <summary>A PersistentVolumeClaim per sandbox mounted at /home/user; null = none.</summary>
    public KubernetesHomeVolumeOptions? PersistentHome { get; set; }
    public KubernetesPauseMode PauseMode { get; set; } = KubernetesPauseMode.Freeze;
    public Dictionary<string, string> NodeSelector { get; set; } = [];
}

public sealed class KubernetesHomeVolumeOptions
{
    public int SizeMB { get; set; } = 1024;
    /// <summary>Null = the cluster's default storage class.</summary>
    public string? StorageClassName { get; set; }
}
