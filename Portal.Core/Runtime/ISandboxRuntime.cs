namespace Portal.Core.Runtime;

/// <summary>
/// The one seam between the control plane and whatever runs sandboxes: the local runtime
/// (own namespaces launcher + cgroups on this machine) or Kubernetes pods. Everything the E2B API needs
/// from a sandbox goes through here; nothing above it knows how sandboxes are made.
/// Implementations must be safe for concurrent use and must survive a restart of the
/// portal process: sandboxes keep running and <see cref="ListAsync"/> finds them again.
/// </summary>
public interface ISandboxRuntime
{
    /// <summary>"local", "kubernetes", ...; shown on the dashboard and in logs.</summary>
    string Name { get; }

    /// <summary>Templates this runtime can start sandboxes from.</summary>
    ITemplateCatalog Templates { get; }

    /// <summary>
    /// Starts a sandbox (claiming a warm one when the template keeps a pool) and returns once
    /// its envd answers, initialised with the spec's env vars, access token and default user.
    /// </summary>
    /// <exception cref="TemplateNotFoundException">the template does not exist.</exception>
    /// <exception cref="RuntimeCapacityException">no room for another sandbox.</exception>
    Task<SandboxInstance> CreateAsync(SandboxSpec spec, CancellationToken ct);

    /// <summary>The sandbox as the runtime sees it now, or null when it does not exist (any more).</summary>
    Task<SandboxInstance?> FindAsync(string sandboxId, CancellationToken ct);

    /// <summary>Every sandbox that exists (running or paused), warm-pool members excluded.</summary>
    Task<IReadOnlyList<SandboxInstance>> ListAsync(CancellationToken ct);

    /// <summary>Kills the sandbox and removes everything of it. False when it did not exist.</summary>
    Task<bool> KillAsync(string sandboxId, CancellationToken ct);

    /// <summary>
    /// Pauses the sandbox; envd is unreachable until it is resumed. <see cref="SandboxPauseMode.Memory"/>
    /// freezes it (processes and memory kept); <see cref="SandboxPauseMode.Filesystem"/> stops its
    /// processes and frees its memory, keeping its files: the resume boots it again (envd and the
    /// template's start command start afresh, with the same env vars and access token).
    /// </summary>
    /// <exception cref="SandboxNotFoundException"/>
    /// <exception cref="SandboxStateException">already paused.</exception>
    /// <exception cref="NotSupportedException">this runtime (or the sandbox's template) cannot pause that way.</exception>
    Task PauseAsync(string sandboxId, SandboxPauseMode mode, CancellationToken ct);

    /// <summary>Thaws (or, after a filesystem pause, boots) a paused sandbox and waits for envd to answer again.</summary>
    /// <exception cref="SandboxNotFoundException"/>
    /// <exception cref="SandboxStateException">not paused.</exception>
    Task<SandboxInstance> ResumeAsync(string sandboxId, CancellationToken ct);

    /// <summary>
    /// Opens a byte stream to TCP port <paramref name="port"/> inside the sandbox
    /// (<see cref="SandboxPorts.Envd"/> is envd itself). The proxy speaks HTTP over it.
    /// </summary>
    /// <exception cref="SandboxNotFoundException">unknown, killed or paused sandbox.</exception>
    /// <exception cref="SandboxPortClosedException">nothing listens on that port.</exception>
    ValueTask<Stream> ConnectAsync(string sandboxId, int port, CancellationToken ct);

    /// <summary>
    /// Where port <paramref name="port"/> of the sandbox answers a plain stream connect (TCP or
    /// Unix socket, nothing to say first), when the runtime can tell: the proxy then connects by
    /// itself, on its own event loop. Null when only <see cref="ConnectAsync"/> reaches the port
    /// (a tunnel, say); a connect to the address that fails is retried through it.
    /// </summary>
    /// <exception cref="SandboxNotFoundException">unknown, killed or paused sandbox.</exception>
    System.Net.EndPoint? DirectEndPoint(string sandboxId, int port) => null;

    /// <summary>
    /// Whether this process keeps the warm pools filled. Among replicas sharing one runtime (a
    /// cluster), only the holder of the store lease "pools" does; a runtime that belongs to one
    /// process (the local runtime) ignores it.
    /// </summary>
    void FillWarmPools(bool enabled) { }

    /// <summary>
    /// Each pooled template's warm sandboxes ready now against the pool's size (the dashboard's
    /// overview); empty for a runtime that keeps no pools in this process.
    /// </summary>
    Task<IReadOnlyList<WarmPoolFill>> GetWarmPoolsAsync(CancellationToken ct) => Task.FromResult<IReadOnlyList<WarmPoolFill>>([]);

    /// <summary>
    /// Replaces the sandbox's egress rules (E2B's PUT /sandboxes/{id}/network). Connections opened
    /// after it meet the new rules; open ones keep going.
    /// </summary>
    /// <exception cref="SandboxNotFoundException"/>
    /// <exception cref="NotSupportedException">this runtime has no egress rules.</exception>
    Task SetEgressAsync(string sandboxId, SandboxEgress egress, CancellationToken ct) =>
        throw new NotSupportedException($"the '{Name}' runtime cannot change a sandbox's egress rules");

    /// <summary>
    /// Whether the portal makes this runtime's templates (<see cref="SnapshotAsync"/>,
    /// <see cref="DeriveTemplateAsync"/>, <see cref="DeleteTemplateAsync"/>): template builds and
    /// snapshots need it. The Kubernetes runtime's templates are container images made elsewhere.
    /// </summary>
    bool ManagesTemplates => false;

    /// <summary>
    /// Copies the sandbox's filesystem as it is now into a new template <paramref name="newTemplateId"/>
    /// made from the sandbox's own template (<see cref="SandboxTemplate.ParentTemplateId"/>), with the
    /// sandbox's sizes and the template's start and ready commands. The copy is taken while the
    /// sandbox is frozen, so it is consistent; a running sandbox runs on afterwards, a paused one
    /// stays paused. Memory-backed directories (<c>/tmp</c>, <c>/dev/shm</c>) are not part of it.
    /// </summary>
    /// <exception cref="SandboxNotFoundException"/>
    /// <exception cref="ArgumentException">the new ID is not a valid template ID or is taken.</exception>
    /// <exception cref="NotSupportedException">this runtime cannot copy a sandbox's filesystem.</exception>
    Task<SandboxTemplate> SnapshotAsync(string sandboxId, string newTemplateId, CancellationToken ct) =>
        throw new NotSupportedException($"the '{Name}' runtime cannot snapshot sandboxes");

    /// <summary>
    /// Makes template <paramref name="newTemplateId"/> with no files of its own over
    /// <paramref name="parentTemplateId"/>, with other start and ready commands (the last step of a
    /// template build, whose steps' files are already in the parent chain).
    /// </summary>
    /// <exception cref="TemplateNotFoundException">no such parent.</exception>
    /// <exception cref="ArgumentException">the new ID is not a valid template ID or is taken.</exception>
    /// <exception cref="NotSupportedException">this runtime's templates are not managed by the portal.</exception>
    Task<SandboxTemplate> DeriveTemplateAsync(string parentTemplateId, string newTemplateId, string? startCommand, string? readyCommand, CancellationToken ct) =>
        throw new NotSupportedException($"the '{Name}' runtime cannot make templates");

    /// <summary>
    /// Removes a template. Sandboxes running on it keep working (its files go once the last one
    /// ends); new ones cannot start from it. False when it did not exist.
    /// </summary>
    /// <exception cref="TemplateInUseException">other templates are made from it.</exception>
    /// <exception cref="NotSupportedException">this runtime's templates are not managed by the portal.</exception>
    Task<bool> DeleteTemplateAsync(string templateId, CancellationToken ct) =>
        throw new NotSupportedException($"the '{Name}' runtime's templates cannot be deleted by the portal");

    /// <summary>Current resource use, or null when the sandbox does not exist.</summary>
    Task<SandboxMetrics?> GetMetricsAsync(string sandboxId, CancellationToken ct);

    /// <summary>
    /// State changes as they happen (created, paused, resumed, killed, died). Starts with one
    /// event per existing sandbox so a subscriber never misses one between list and watch.
    /// </summary>
    IAsyncEnumerable<SandboxEvent> WatchAsync(CancellationToken ct);
}
