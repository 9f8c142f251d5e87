using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Portal.Core.Templates;

namespace Portal.Core.Persistence;

public sealed partial class EfPortalStore
{
    public async Task<bool> AddTemplateAsync(TemplateRecord template, CancellationToken ct)
    {
        try
        {
            await WriteAsync(db =>
            {
                db.Templates.Add(FromTemplate(template));
                foreach (var name in template.Names) db.TemplateNames.Add(new TemplateNameRow { Name = name, TemplateId = template.TemplateId });
                return Task.CompletedTask;
            }, ct);
            return true;
        }
        catch (DbUpdateException) { return false; } // a name (primary key) taken by another request first
    }

    public async Task<TemplateRecord?> FindTemplateAsync(string templateId, CancellationToken ct)
    {
        await using var db = Context();
        var row = await db.Templates.AsNoTracking().FirstOrDefaultAsync(t => t.TemplateId == templateId, ct);
        return row is null ? null : await WithNamesAsync(db, row, ct);
    }

    public async Task<TemplateRecord?> FindTemplateByNameAsync(string name, CancellationToken ct)
    {
        await using var db = Context();
        var id = await db.TemplateNames.AsNoTracking().Where(n => n.Name == name).Select(n => n.TemplateId).FirstOrDefaultAsync(ct);
        if (id is null) return null;
        var row = await db.Templates.AsNoTracking().FirstOrDefaultAsync(t => t.TemplateId == id, ct);
        return row is null ? null : await WithNamesAsync(db, row, ct);
    }

    public async Task<IReadOnlyList<TemplateRecord>> ListTemplatesAsync(string teamId, (long Ms, string Id)? after, int? limit, CancellationToken ct)
    {
        await using var db = Context();
        var q = db.Templates.AsNoTracking().Where(t => t.TeamId == teamId);
        if (after is var (ms, afterId))
            q = q.Where(t => t.CreatedAt > ms || (t.CreatedAt == ms && string.Compare(t.TemplateId, afterId) > 0));
        q = q.OrderBy(t => t.CreatedAt).ThenBy(t => t.TemplateId);
        if (limit is { } n) q = q.Take(n);
        var rows = await q.ToListAsync(ct);
        var ids = rows.Select(r => r.TemplateId).ToList();
        var names = (await db.TemplateNames.AsNoTracking().Where(n => ids.Contains(n.TemplateId)).ToListAsync(ct))
            .ToLookup(n => n.TemplateId, n => n.Name);
        return rows.Select(r => ToTemplate(r, names[r.TemplateId].Order(StringComparer.Ordinal).ToList())).ToList();
    }

    public async Task<bool> SetTemplatePublicAsync(string templateId, bool isPublic, DateTimeOffset at, CancellationToken ct)
    {
        var changed = 0;
        await WriteAsync(async db => changed = await db.Templates.Where(t => t.TemplateId == templateId)
            .ExecuteUpdateAsync(u => u.SetProperty(t => t.Public, isPublic).SetProperty(t => t.UpdatedAt, Ms(at)), ct), ct);
        return changed == 1;
    }

    public Task RecordTemplateSpawnAsync(string templateId, DateTimeOffset at, CancellationToken ct) =>
        WriteAsync(db => db.Templates.Where(t => t.TemplateId == templateId)
            .ExecuteUpdateAsync(u => u.SetProperty(t => t.SpawnCount, t => t.SpawnCount + 1).SetProperty(t => t.LastSpawnedAt, Ms(at)), ct), ct);

    public async Task<IReadOnlyList<string>?> DeleteTemplateAsync(string templateId, CancellationToken ct)
    {
        List<string>? runtimeTemplates = null;
        await WriteAsync(async db =>
        {
            var row = await db.Templates.FirstOrDefaultAsync(t => t.TemplateId == templateId, ct);
            if (row is null) return;
            runtimeTemplates = await db.TemplateBuilds.Where(b => b.TemplateId == templateId && b.RuntimeTemplateId != null)
                .Select(b => b.RuntimeTemplateId!).ToListAsync(ct);
            // Explicit, not only the foreign keys' cascade: one transaction whatever the database enforces.
            var builds = db.TemplateBuilds.Where(b => b.TemplateId == templateId).Select(b => b.BuildId);
            await db.TemplateBuildLogs.Where(l => builds.Contains(l.BuildId)).ExecuteDeleteAsync(ct);
            await db.TemplateBuilds.Where(b => b.TemplateId == templateId).ExecuteDeleteAsync(ct);
            await db.TemplateTags.Where(t => t.TemplateId == templateId).ExecuteDeleteAsync(ct);
            await db.TemplateNames.Where(n => n.TemplateId == templateId).ExecuteDeleteAsync(ct);
            db.Templates.Remove(row);
        }, ct);
        return runtimeTemplates;
    }

    public Task AddTemplateBuildAsync(TemplateBuild build, CancellationToken ct) =>
        WriteAsync(async db =>
        {
            db.TemplateBuilds.Add(FromBuild(build));
            await db.Templates.Where(t => t.TemplateId == build.TemplateId)
                .ExecuteUpdateAsync(u => u.SetProperty(t => t.BuildCount, t => t.BuildCount + 1).SetProperty(t => t.UpdatedAt, Ms(build.CreatedAt)), ct);
        }, ct);

    public async Task<TemplateBuild?> FindTemplateBuildAsync(string buildId, CancellationToken ct)
    {
        await using var db = Context();
        var row = await db.TemplateBuilds.AsNoTracking().FirstOrDefaultAsync(b => b.BuildId == buildId, ct);
        return row is null ? null : ToBuild(row);
    }

    public async Task<IReadOnlyList<TemplateBuild>> ListTemplateBuildsAsync(IReadOnlyCollection<TemplateBuildStatus> statuses, string? teamId, CancellationToken ct)
    {
        var names = statuses.Select(s => s.ToString()).ToList();
        await using var db = Context();
        var q = db.TemplateBuilds.AsNoTracking().Where(b => names.Contains(b.Status));
        if (teamId is not null) q = q.Where(b => b.TeamId == teamId);
        var rows = await q.OrderBy(b => b.CreatedAt).ToListAsync(ct);
        return rows.Select(ToBuild).ToList();
    }

    public async Task<IReadOnlyList<TemplateBuild>> ListBuildsOfTemplateAsync(string templateId, (long Ms, string Id)? after, int limit, CancellationToken ct)
    {
        await using var db = Context();
        var q = db.TemplateBuilds.AsNoTracking().Where(b => b.TemplateId == templateId);
        if (after is var (ms, afterId))
            q = q.Where(b => b.CreatedAt < ms || (b.CreatedAt == ms && string.Compare(b.BuildId, afterId) > 0));
        var rows = await q.OrderByDescending(b => b.CreatedAt).ThenBy(b => b.BuildId).Take(limit).ToListAsync(ct);
        return rows.Select(ToBuild).ToList();
    }

    public async Task<IReadOnlyDictionary<string, TemplateBuild>> FindLatestTemplateBuildsAsync(IReadOnlyCollection<string> templateIds, CancellationToken ct)
    {
        if (templateIds.Count == 0) return new Dictionary<string, TemplateBuild>();
        await using var db = Context();
        var rows = await db.TemplateBuilds.AsNoTracking().Where(b => templateIds.Contains(b.TemplateId))
            .GroupBy(b => b.TemplateId)
            .Select(g => g.OrderByDescending(b => b.CreatedAt).ThenByDescending(b => b.BuildId).First())
            .ToListAsync(ct);
        return rows.ToDictionary(r => r.TemplateId, ToBuild, StringComparer.Ordinal);
    }

    public Task SaveTemplateBuildAsync(TemplateBuild build, CancellationToken ct) =>
        WriteAsync(async db =>
        {
            db.TemplateBuilds.Update(FromBuild(build));
            if (build.Status == TemplateBuildStatus.Ready) await PointTagsAsync(db, build.TemplateId, build.BuildId, build.Tags, build.FinishedAt ?? build.CreatedAt, ct);
        }, ct);

    public Task AddTemplateBuildLogsAsync(string buildId, IReadOnlyList<BuildLogEntry> entries, CancellationToken ct) =>
        WriteAsync(db =>
        {
            foreach (var e in entries)
                db.TemplateBuildLogs.Add(new TemplateBuildLogRow
                {
                    BuildId = buildId, Timestamp = Ms(e.Timestamp), Level = e.Level, LevelRank = LevelRank(e.Level), Message = e.Message, Step = e.Step,
                });
            return Task.CompletedTask;
        }, ct);

    public async Task<IReadOnlyList<BuildLogEntry>> ListTemplateBuildLogsAsync(string buildId, int offset, int limit, string? minLevel, CancellationToken ct)
    {
        var rank = minLevel is null ? 0 : LevelRank(minLevel);
        await using var db = Context();
        var rows = await db.TemplateBuildLogs.AsNoTracking().Where(l => l.BuildId == buildId && l.LevelRank >= rank)
            .OrderBy(l => l.Id).Skip(Math.Max(0, offset)).Take(limit).ToListAsync(ct);
        return rows.Select(r => new BuildLogEntry(At(r.Timestamp), r.Level, r.Message, r.Step)).ToList();
    }

    public async Task<IReadOnlyList<TemplateTag>> ListTemplateTagsAsync(string templateId, CancellationToken ct)
    {
        await using var db = Context();
        var rows = await db.TemplateTags.AsNoTracking().Where(t => t.TemplateId == templateId).OrderBy(t => t.Tag).ToListAsync(ct);
        return rows.Select(r => new TemplateTag(r.Tag, r.BuildId, At(r.CreatedAt))).ToList();
    }

    public Task SetTemplateTagsAsync(string templateId, string buildId, IReadOnlyList<string> tags, DateTimeOffset at, CancellationToken ct) =>
        WriteAsync(db => PointTagsAsync(db, templateId, buildId, tags, at, ct), ct);

    public async Task<int> RemoveTemplateTagsAsync(string templateId, IReadOnlyList<string> tags, CancellationToken ct)
    {
        var removed = 0;
        await WriteAsync(async db => removed = await db.TemplateTags.Where(t => t.TemplateId == templateId && tags.Contains(t.Tag)).ExecuteDeleteAsync(ct), ct);
        return removed;
    }

    public async Task<TemplateLayer?> FindTemplateLayerAsync(string key, CancellationToken ct)
    {
        await using var db = Context();
        var row = await db.TemplateLayers.AsNoTracking().FirstOrDefaultAsync(l => l.Key == key, ct);
        return row is null ? null : new TemplateLayer(row.Key, row.TeamId, row.RuntimeTemplateId, State(row.StateJson) ?? new BuildState(), At(row.CreatedAt));
    }

    public Task SaveTemplateLayerAsync(TemplateLayer layer, CancellationToken ct) =>
        WriteAsync(async db =>
        {
            await db.TemplateLayers.Where(l => l.Key == layer.Key).ExecuteDeleteAsync(ct);
            db.TemplateLayers.Add(new TemplateLayerRow
            {
                Key = layer.Key, TeamId = layer.TeamId, RuntimeTemplateId = layer.RuntimeTemplateId, StateJson = JsonSerializer.Serialize(layer.State), CreatedAt = Ms(layer.CreatedAt),
            });
        }, ct);

    public async Task<IReadOnlyList<TemplateLayer>> ListTemplateLayersAsync(string teamId, CancellationToken ct)
    {
        await using var db = Context();
        var rows = await db.TemplateLayers.AsNoTracking().Where(l => l.TeamId == teamId).OrderByDescending(l => l.CreatedAt).ToListAsync(ct);
        return rows.Select(r => new TemplateLayer(r.Key, r.TeamId, r.RuntimeTemplateId, State(r.StateJson) ?? new BuildState(), At(r.CreatedAt))).ToList();
    }

    public Task DeleteTemplateLayerAsync(string key, CancellationToken ct) =>
        WriteAsync(db => db.TemplateLayers.Where(l => l.Key == key).ExecuteDeleteAsync(ct), ct);

    private static async Task PointTagsAsync(PortalDbContext db, string templateId, string buildId, IReadOnlyList<string> tags, DateTimeOffset at, CancellationToken ct)
    {
        var list = tags.Distinct(StringComparer.Ordinal).ToList();
        await db.TemplateTags.Where(t => t.TemplateId == templateId && list.Contains(t.Tag)).ExecuteDeleteAsync(ct);
        foreach (var tag in list) db.TemplateTags.Add(new TemplateTagRow { TemplateId = templateId, Tag = tag, BuildId = buildId, CreatedAt = Ms(at) });
    }

    private static int LevelRank(string level) => level switch { "debug" => 0, "info" => 1, "warn" => 2, "error" => 3, _ => 1 };

    private static async Task<TemplateRecord> WithNamesAsync(PortalDbContext db, TemplateRow row, CancellationToken ct)
    {
        var names = await db.TemplateNames.AsNoTracking().Where(n => n.TemplateId == row.TemplateId).Select(n => n.Name).ToListAsync(ct);
        return ToTemplate(row, names.Order(StringComparer.Ordinal).ToList());
    }

    private static TemplateRecord ToTemplate(TemplateRow r, IReadOnlyList<string> names) => new()
    {
        TemplateId = r.TemplateId, TeamId = r.TeamId, Names = names, Public = r.Public, CpuCount = r.CpuCount, MemoryMB = r.MemoryMB,
        DiskSizeMB = r.DiskSizeMB, CreatedAt = At(r.CreatedAt), UpdatedAt = At(r.UpdatedAt), CreatedById = r.CreatedById,
        CreatedByName = r.CreatedByName, SpawnCount = r.SpawnCount, LastSpawnedAt = At(r.LastSpawnedAt), BuildCount = r.BuildCount,
    };

    private static TemplateRow FromTemplate(TemplateRecord t) => new()
    {
        TemplateId = t.TemplateId, TeamId = t.TeamId, Public = t.Public, CpuCount = t.CpuCount, MemoryMB = t.MemoryMB, DiskSizeMB = t.DiskSizeMB,
        CreatedAt = Ms(t.CreatedAt), UpdatedAt = Ms(t.UpdatedAt), CreatedById = t.CreatedById, CreatedByName = t.CreatedByName,
        SpawnCount = t.SpawnCount, LastSpawnedAt = t.LastSpawnedAt is { } s ? Ms(s) : null, BuildCount = t.BuildCount,
    };

    private static BuildState? State(string? json) => json is null ? null : JsonSerializer.Deserialize<BuildState>(json);

    private static TemplateBuild ToBuild(TemplateBuildRow r) => new()
    {
        BuildId = r.BuildId, TemplateId = r.TemplateId, TeamId = r.TeamId, Status = Enum.Parse<TemplateBuildStatus>(r.Status),
        CreatedAt = At(r.CreatedAt), FinishedAt = At(r.FinishedAt), Tags = JsonSerializer.Deserialize<string[]>(r.TagsJson) ?? [],
        RequestJson = r.RequestJson, ReasonMessage = r.ReasonMessage, ReasonStep = r.ReasonStep, RuntimeTemplateId = r.RuntimeTemplateId,
        BuildSandboxId = r.BuildSandboxId, Result = State(r.ResultJson), StartCmd = r.StartCmd, ReadyCmd = r.ReadyCmd,
        CpuCount = r.CpuCount, MemoryMB = r.MemoryMB, LayerKeys = JsonSerializer.Deserialize<string[]>(r.LayerKeysJson) ?? [],
    };

    private static TemplateBuildRow FromBuild(TemplateBuild b) => new()
    {
        BuildId = b.BuildId, TemplateId = b.TemplateId, TeamId = b.TeamId, Status = b.Status.ToString(), CreatedAt = Ms(b.CreatedAt),
        FinishedAt = b.FinishedAt is { } f ? Ms(f) : null, TagsJson = JsonSerializer.Serialize(b.Tags), RequestJson = b.RequestJson,
        ReasonMessage = b.ReasonMessage, ReasonStep = b.ReasonStep, RuntimeTemplateId = b.RuntimeTemplateId, BuildSandboxId = b.BuildSandboxId,
        ResultJson = b.Result is null ? null : JsonSerializer.Serialize(b.Result), StartCmd = b.StartCmd, ReadyCmd = b.ReadyCmd,
        CpuCount = b.CpuCount, MemoryMB = b.MemoryMB, LayerKeysJson = JsonSerializer.Serialize(b.LayerKeys),
    };
}
