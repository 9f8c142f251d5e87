using System.Text.Json;

namespace Portal.Core.Runtime.Local;

/// <summary>Templates on disk: each a folder with <c>rootfs/</c> and <c>template.json</c>.</summary>
public sealed class LocalTemplateCatalog(string directory) : ITemplateCatalog
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public string RootfsOf(string templateId) => Path.Combine(directory, templateId, "rootfs");

    public Task<SandboxTemplate?> FindAsync(string templateIdOrAlias, CancellationToken ct) =>
        Task.FromResult(Load().FirstOrDefault(t => t.TemplateId == templateIdOrAlias || t.Aliases.Contains(templateIdOrAlias)));

    public Task<IReadOnlyList<SandboxTemplate>> ListAsync(CancellationToken ct) => Task.FromResult<IReadOnlyList<SandboxTemplate>>(Load().Where(t => !t.Hidden).ToList());

    private List<SandboxTemplate> Load()
    {
        if (!Directory.Exists(directory)) return [];
        var result = new List<SandboxTemplate>();
        foreach (var dir in Directory.GetDirectories(directory))
        {
            var file = Path.Combine(dir, "template.json");
            if (Path.GetFileName(dir).StartsWith('.') || !File.Exists(file) || !Directory.Exists(Path.Combine(dir, "rootfs"))) continue;
            try
            {
                var t = JsonSerializer.Deserialize<SandboxTemplate>(File.ReadAllText(file), Json);
                if (t is not null) result.Add(t with { TemplateId = Path.GetFileName(dir) });
            }
            catch (JsonException) { /* a broken template is skipped, not fatal */ }
        }
        return result;
    }
}
