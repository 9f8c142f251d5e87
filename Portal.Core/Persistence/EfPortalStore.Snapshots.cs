using Microsoft.EntityFrameworkCore;
using Portal.Core.Snapshots;

namespace Portal.Core.Persistence;

// Snapshots (E2B's snapshot templates): rows owned by a team, read straight from the database
// (no replica cache: a snapshot taken through one replica is at once usable through another).
public sealed partial class EfPortalStore
{
    public async Task<IReadOnlyList<string>> AddSnapshotAsync(SnapshotRecord snapshot, CancellationToken ct)
    {
        var replaced = new List<string>();
        await WriteAsync(async db =>
        {
            if (snapshot.Name is not null)
            {
                var ns = snapshot.Namespace;
                var name = snapshot.Name;
                var tag = snapshot.Tag;
                var older = await db.Snapshots
                    .Where(s => s.TeamId == snapshot.TeamId && s.Namespace == ns && s.Name == name && s.Tag == tag && s.RemovedAt == null)
                    .ToListAsync(CancellationToken.None);
                foreach (var row in older) { row.RemovedAt = Ms(snapshot.CreatedAt); replaced.Add(row.SnapshotId); }
            }
            db.Snapshots.Add(FromSnapshot(snapshot));
        }, ct);
        return replaced;
    }

    public async Task<SnapshotRecord?> FindSnapshotAsync(string snapshotId, CancellationToken ct)
    {
        await using var db = Context();
        var row = await db.Snapshots.AsNoTracking().FirstOrDefaultAsync(s => s.SnapshotId == snapshotId, ct);
        return row is null ? null : ToSnapshot(row);
    }

    public async Task<IReadOnlyList<SnapshotRecord>> ListSnapshotsAsync(SnapshotQuery query, CancellationToken ct)
    {
        await using var db = Context();
        var q = db.Snapshots.AsNoTracking();
        q = query.Removed ? q.Where(s => s.RemovedAt != null) : q.Where(s => s.RemovedAt == null);
        if (query.ListedOnly) q = q.Where(s => s.Listed);
        if (query.TeamId is { } team) q = q.Where(s => s.TeamId == team);
        if (query.SourceSandboxId is { } source) q = q.Where(s => s.SourceSandboxId == source);
        if (query.SnapshotId is { } id) q = q.Where(s => s.SnapshotId == id);
        if (query.Namespace is { } ns) q = q.Where(s => s.Namespace == ns);
        if (query.Name is { } name) q = q.Where(s => s.Name == name);
        if (query.Tag is { } tag) q = q.Where(s => s.Tag == tag);
        if (query.After is { } after)
        {
            var (ms, afterId) = after;
            q = q.Where(s => s.CreatedAt < ms || (s.CreatedAt == ms && string.Compare(s.SnapshotId, afterId) > 0));
        }
        var rows = await q.OrderByDescending(s => s.CreatedAt).ThenBy(s => s.SnapshotId).Take(query.Limit).ToListAsync(ct);
        return rows.Select(ToSnapshot).ToList();
    }

    public async Task<IReadOnlyList<string>> RemoveSnapshotsAsync(IReadOnlyCollection<string> snapshotIds, DateTimeOffset at, CancellationToken ct)
    {
        var removed = new List<string>();
        if (snapshotIds.Count == 0) return removed;
        await WriteAsync(async db =>
        {
            var rows = await db.Snapshots.Where(s => snapshotIds.Contains(s.SnapshotId) && s.RemovedAt == null).ToListAsync(CancellationToken.None);
            foreach (var row in rows) { row.RemovedAt = Ms(at); removed.Add(row.SnapshotId); }
        }, ct);
        return removed;
    }

    public async Task<bool> DeleteRemovedSnapshotAsync(string snapshotId, CancellationToken ct)
    {
        var deleted = 0;
        await WriteAsync(async db =>
            deleted = await db.Snapshots.Where(s => s.SnapshotId == snapshotId && s.RemovedAt != null).ExecuteDeleteAsync(CancellationToken.None), ct);
        return deleted > 0;
    }

    private static SnapshotRecord ToSnapshot(SnapshotRow r) => new()
    {
        SnapshotId = r.SnapshotId, TeamId = r.TeamId, Namespace = r.Namespace, Name = r.Name, Tag = r.Tag,
        SourceSandboxId = r.SourceSandboxId, ParentTemplateId = r.ParentTemplateId, Listed = r.Listed,
        CreatedAt = At(r.CreatedAt), RemovedAt = At(r.RemovedAt),
    };

    private static SnapshotRow FromSnapshot(SnapshotRecord s) => new()
    {
        SnapshotId = s.SnapshotId, TeamId = s.TeamId, Namespace = s.Namespace, Name = s.Name, Tag = s.Tag,
        SourceSandboxId = s.SourceSandboxId, ParentTemplateId = s.ParentTemplateId, Listed = s.Listed,
        CreatedAt = Ms(s.CreatedAt), RemovedAt = Ms(s.RemovedAt),
    };
}
