namespace Portal.Core.Runtime.Local;

/// <summary>Where the local runtime keeps things, and its defaults.</summary>
public sealed class LocalRuntimeOptions
{
    /// <summary>Per-sandbox directories (overlay layers, envd socket, state). Root-only.</summary>
    public string SandboxesDirectory { get; set; } = "/var/lib/sandbox-portal/sandboxes";

    /// <summary>Templates: <c>&lt;dir&gt;/&lt;name&gt;/rootfs</c> + <c>template.json</c>.</summary>
    public string TemplatesDirectory { get; set; } = "/var/lib/sandbox-portal/templates";

    /// <summary>The published native <c>portal-envd</c>, bind-mounted read-only into every sandbox.</summary>
    public string EnvdPath { get; set; } = "/usr/local/lib/sandbox-portal/portal-envd";

    /// <summary>
    /// The sandbox launcher (Runtime/Local/Native/portal-sandbox-init.c), built with Portal.Core
    /// and copied beside the portal's binaries.
    /// </summary>
    public string LauncherPath { get; set; } = Path.Combine(AppContext.BaseDirectory, "portal-sandbox-init");

    /// <summary>Most processes one sandbox may have.</summary>
    public int PidsLimit { get; set; } = 1024;

    /// <summary>
    /// Of <see cref="PidsLimit"/>, how many only envd may use (cgroup v1 hosts): a fork bomb in a
    /// sandbox takes the rest and envd keeps answering.
    /// </summary>
    public int AgentPidsReserve { get; set; } = 64;

    /// <summary>
    /// Size cap of each sandbox's <c>/tmp</c> (tmpfs), in percent of its memory limit. tmpfs pages
    /// count against that limit: an uncapped <c>/tmp</c> filled by a user takes all of it.
    /// </summary>
    public int TmpSizePercent { get; set; } = 50;

    /// <summary>Size cap of each sandbox's <c>/dev/shm</c> (tmpfs), in percent of its memory limit.</summary>
    public int ShmSizePercent { get; set; } = 25;

    /// <summary>Highest <see cref="TmpSizePercent"/> + <see cref="ShmSizePercent"/>: the rest of the memory is for processes and envd.</summary>
    public const int MaxTmpfsPercent = 90;

    /// <summary>How long a new sandbox may take until envd answers.</summary>
    public TimeSpan StartTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Name of the cgroup (per controller) that holds every sandbox's cgroup.</summary>
    public string CgroupGroup { get; set; } = "sandbox-portal";

    /// <summary>Warm-pool size per template ID, overriding the template's own <c>warmPoolSize</c>.</summary>
    public Dictionary<string, int> WarmPools { get; set; } = [];

    /// <summary>Sandbox networking (<c>Portal:LocalRuntime:Network</c>): address, veth, NAT, DNS, egress rules.</summary>
    public Network.LocalNetworkOptions Network { get; set; } = new();

    /// <summary>
    /// Where lxcfs's file system is (or is mounted by the runtime when it is not yet): its /proc
    /// files are bound over each sandbox's so free, /proc/meminfo, /proc/cpuinfo and uptime show the
    /// sandbox's own limits and start. Empty = off (sandboxes then see the host's figures).
    /// </summary>
    public string LxcfsDirectory { get; set; } = "/var/lib/lxcfs";

    /// <summary>Reported as envdVersion: the envd protocol level Portal.Envd implements.</summary>
    public string EnvdVersion { get; set; } = "0.6.13";
}
