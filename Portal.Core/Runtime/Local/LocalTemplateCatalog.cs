using System.Text.Json;

namespace Portal.Core.Runtime.Local;

/// <summary>
/// Templates on disk: each a folder with <c>rootfs/</c> and <c>template.json</c>. A template with a
/// <see cref="SandboxTemplate.ParentTemplateId"/> keeps only its own changes in <c>rootfs/</c>
/// (an overlayfs upper layer, whiteouts included) and is mounted over its parent chain, so a
/// snapshot or a build step costs the files it changed, not a copy of the whole image.
/// </summary>
public sealed class LocalTemplateCatalog(string directory) : ITemplateCatalog
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { WriteIndented = true };

    /// <summary>
    /// Overlayfs takes at most 500 lower layers, and the whole mount option string must fit in one
    /// page: a deeper chain is refused when it is made, not when a sandbox fails to start from it.
    /// </summary>
    public const int MaxChainDepth = 40;

    public string Directory => directory;

    public string RootfsOf(string templateId) => Path.Combine(directory, templateId, "rootfs");

    /// <summary>
    /// The overlayfs <c>lowerdir</c> list for a sandbox of this template: its own layer first, then
    /// each parent's, down to the chain's root filesystem.
    /// </summary>
    /// <exception cref="TemplateNotFoundException">the template or one of its parents is missing.</exception>
    public string LowerDirOf(string templateId)
    {
        var byId = Read().ById;
        if (!byId.ContainsKey(templateId)) throw new TemplateNotFoundException(templateId);
        return string.Join(':', Chain(templateId, byId)!.Select(RootfsOf));
    }

    /// <summary>Ids from the template itself down to its root; null when a parent is missing or the chain loops or is too deep.</summary>
    private static List<string>? Chain(string templateId, IReadOnlyDictionary<string, SandboxTemplate> byId)
    {
        var chain = new List<string>();
        for (string? id = templateId; id is not null; id = byId[id].ParentTemplateId)
        {
            if (!byId.ContainsKey(id) || chain.Contains(id) || chain.Count >= MaxChainDepth) return null;
            chain.Add(id);
        }
        return chain;
    }

    /// <summary>How many layers a sandbox of this template mounts (1 for a template without parent).</summary>
    public int DepthOf(string templateId)
    {
        var byId = Read().ById;
        return byId.ContainsKey(templateId) ? Chain(templateId, byId)?.Count ?? 0 : 0;
    }

    /// <summary>Templates made directly from this one.</summary>
    public IReadOnlyList<string> ChildrenOf(string templateId) =>
        Read().All.Where(t => t.ParentTemplateId == templateId).Select(t => t.TemplateId).ToList();

    /// <summary>
    /// A template a sandbox already stands on, deleted or not (a sandbox paused to disk booting
    /// again); null when it or its chain is gone.
    /// </summary>
    public SandboxTemplate? FindStoodOn(string templateId)
    {
        var byId = Read().ById;
        return byId.TryGetValue(templateId, out var t) && Chain(templateId, byId) is not null ? t : null;
    }

    /// <summary>The template and every one below it (empty when it or its chain is gone).</summary>
    public IReadOnlyList<string> ChainOf(string templateId)
    {
        var byId = Read().ById;
        return byId.ContainsKey(templateId) ? Chain(templateId, byId) ?? [] : [];
    }

    /// <summary>Every template on disk, deleted and broken chains included.</summary>
    public IReadOnlyList<SandboxTemplate> AllForSweep() => Read().All;

    /// <summary>Forgets what was read: a template.json was rewritten in place.</summary>
    public void Invalidate() => _cache = null;

    public Task<SandboxTemplate?> FindAsync(string templateIdOrAlias, CancellationToken ct) =>
        Task.FromResult(Read().Usable.FirstOrDefault(t => t.TemplateId == templateIdOrAlias || t.Aliases.Contains(templateIdOrAlias)));

    public Task<IReadOnlyList<SandboxTemplate>> ListAsync(CancellationToken ct) => Task.FromResult<IReadOnlyList<SandboxTemplate>>(Read().Usable.Where(t => !t.Hidden).ToList());

    /// <summary>Writes a template's <c>template.json</c>, whole or not at all (the folder's <c>rootfs/</c> is the caller's).</summary>
    public static void Save(string templateDirectory, SandboxTemplate template)
    {
        var temp = Path.Combine(templateDirectory, "template.json.tmp");
        File.WriteAllText(temp, JsonSerializer.Serialize(template, Json));
        File.Move(temp, Path.Combine(templateDirectory, "template.json"), overwrite: true);
    }

    /// <summary>
    /// What the templates directory holds, read once per change: every template, by ID, and the
    /// usable ones (not deleted, whole chain present: the others cannot start a sandbox).
    /// </summary>
    private sealed record Snapshot(List<SandboxTemplate> All, Dictionary<string, SandboxTemplate> ById, List<SandboxTemplate> Usable);

    /// <summary>
    /// Every create looks its template up: with hundreds of snapshots, reading every template.json
    /// (and walking every chain) each time would cost more than the create. Adding, renaming or
    /// removing a template folder changes the directory's mtime; an edit inside a template.json is
    /// seen within two seconds.
    /// </summary>
    private (DateTime Mtime, long At, Snapshot Templates)? _cache;

    private Snapshot Read()
    {
        if (!System.IO.Directory.Exists(directory)) return new([], [], []);
        var mtime = System.IO.Directory.GetLastWriteTimeUtc(directory);
        if (_cache is { } c && c.Mtime == mtime && Environment.TickCount64 - c.At < 2000) return c.Templates;
        var all = ReadFiles();
        var byId = all.ToDictionary(t => t.TemplateId);
        var usable = all.Where(t => !t.Deleted && (t.ParentTemplateId is null || Chain(t.TemplateId, byId) is not null)).ToList();
        var snapshot = new Snapshot(all, byId, usable);
        _cache = (mtime, Environment.TickCount64, snapshot);
        return snapshot;
    }

    private List<SandboxTemplate> ReadFiles()
    {
        var result = new List<SandboxTemplate>();
        foreach (var dir in System.IO.Directory.GetDirectories(directory))
        {
            var file = Path.Combine(dir, "template.json");
            if (Path.GetFileName(dir).StartsWith('.') || !File.Exists(file) || !System.IO.Directory.Exists(Path.Combine(dir, "rootfs"))) continue;
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
