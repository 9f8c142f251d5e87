namespace Portal.Core.Runtime.Kubernetes;

/// <summary>Templates as the operator configured them (<c>Portal:Kubernetes:Templates</c>).</summary>
public sealed class KubernetesTemplateCatalog(KubernetesRuntimeOptions options) : ITemplateCatalog
{
    private readonly IReadOnlyList<SandboxTemplate> _templates = options.Templates
        .OrderBy(t => t.Key, StringComparer.Ordinal)
        .Select(t => new SandboxTemplate
        {
            TemplateId = t.Key,
            Aliases = t.Value.Aliases,
            CpuCount = t.Value.CpuCount,
            MemoryMB = t.Value.MemoryMB,
            DiskSizeMB = t.Value.DiskSizeMB,
            StartCommand = t.Value.StartCommand,
            ReadyCommand = t.Value.ReadyCommand,
            WarmPoolSize = t.Value.WarmPoolSize,
        }).ToList();

    public Task<SandboxTemplate?> FindAsync(string templateIdOrAlias, CancellationToken ct) =>
        Task.FromResult(_templates.FirstOrDefault(t => t.TemplateId == templateIdOrAlias)
            ?? _templates.FirstOrDefault(t => t.Aliases.Contains(templateIdOrAlias)));

    public Task<IReadOnlyList<SandboxTemplate>> ListAsync(CancellationToken ct) => Task.FromResult(_templates);

    public KubernetesTemplateOptions Options(string templateId) => options.Templates[templateId];
}
