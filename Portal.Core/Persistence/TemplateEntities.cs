using Microsoft.EntityFrameworkCore;

namespace Portal.Core.Persistence;

// The template registry's rows (see Entities.cs for the conventions).

internal sealed class TemplateRow
{
    public string TemplateId { get; set; } = "";
    public string TeamId { get; set; } = "";
    public bool Public { get; set; }
    public int CpuCount { get; set; }
    public int MemoryMB { get; set; }
    public int DiskSizeMB { get; set; }
    public long CreatedAt { get; set; }
    public long UpdatedAt { get; set; }
    public string? CreatedById { get; set; }
    public string? CreatedByName { get; set; }
    public long SpawnCount { get; set; }
    public long? LastSpawnedAt { get; set; }
    public int BuildCount { get; set; }
}

/// <summary>A template's name; unique across teams (E2B's aliases are global).</summary>
internal sealed class TemplateNameRow
{
    public string Name { get; set; } = "";
    public string TemplateId { get; set; } = "";
}

internal sealed class TemplateTagRow
{
    public string TemplateId { get; set; } = "";
    public string Tag { get; set; } = "";
    public string BuildId { get; set; } = "";
    public long CreatedAt { get; set; }
}

internal sealed class TemplateBuildRow
{
    public string BuildId { get; set; } = "";
    public string TemplateId { get; set; } = "";
    public string TeamId { get; set; } = "";
    public string Status { get; set; } = "";
    public long CreatedAt { get; set; }
    public long? FinishedAt { get; set; }
    public string TagsJson { get; set; } = "[]";
    public string? RequestJson { get; set; }
    public string? ReasonMessage { get; set; }
    public string? ReasonStep { get; set; }
    public string? RuntimeTemplateId { get; set; }
    public string? BuildSandboxId { get; set; }
    /// <summary><see cref="Templates.BuildState"/> as JSON once ready.</summary>
    public string? ResultJson { get; set; }
    public string? StartCmd { get; set; }
    public string? ReadyCmd { get; set; }
    public string LayerKeysJson { get; set; } = "[]";
    public int CpuCount { get; set; }
    public int MemoryMB { get; set; }
}

internal sealed class TemplateBuildLogRow
{
    public long Id { get; set; }
    public string BuildId { get; set; } = "";
    public long Timestamp { get; set; }
    public string Level { get; set; } = "";
    /// <summary>0 debug, 1 info, 2 warn, 3 error: filtered in SQL.</summary>
    public int LevelRank { get; set; }
    public string Message { get; set; } = "";
    public string? Step { get; set; }
}

internal sealed class TemplateLayerRow
{
    public string Key { get; set; } = "";
    public string TeamId { get; set; } = "";
    public string RuntimeTemplateId { get; set; } = "";
    public string StateJson { get; set; } = "{}";
    public long CreatedAt { get; set; }
}

internal abstract partial class PortalDbContext
{
    public DbSet<TemplateRow> Templates => Set<TemplateRow>();
    public DbSet<TemplateNameRow> TemplateNames => Set<TemplateNameRow>();
    public DbSet<TemplateTagRow> TemplateTags => Set<TemplateTagRow>();
    public DbSet<TemplateBuildRow> TemplateBuilds => Set<TemplateBuildRow>();
    public DbSet<TemplateBuildLogRow> TemplateBuildLogs => Set<TemplateBuildLogRow>();
    public DbSet<TemplateLayerRow> TemplateLayers => Set<TemplateLayerRow>();

    private static void ConfigureTemplates(ModelBuilder b)
    {
        b.Entity<TemplateRow>(e =>
        {
            e.ToTable("templates");
            e.HasKey(x => x.TemplateId);
            e.HasIndex(x => x.TeamId);
            e.HasOne<TeamRow>().WithMany().HasForeignKey(x => x.TeamId).OnDelete(DeleteBehavior.Restrict);
        });
        b.Entity<TemplateNameRow>(e =>
        {
            e.ToTable("template_names");
            e.HasKey(x => x.Name);
            e.HasIndex(x => x.TemplateId);
            e.HasOne<TemplateRow>().WithMany().HasForeignKey(x => x.TemplateId).OnDelete(DeleteBehavior.Cascade);
        });
        b.Entity<TemplateTagRow>(e =>
        {
            e.ToTable("template_tags");
            e.HasKey(x => new { x.TemplateId, x.Tag });
            e.HasOne<TemplateRow>().WithMany().HasForeignKey(x => x.TemplateId).OnDelete(DeleteBehavior.Cascade);
        });
        b.Entity<TemplateBuildRow>(e =>
        {
            e.ToTable("template_builds");
            e.HasKey(x => x.BuildId);
            e.HasIndex(x => new { x.TemplateId, x.CreatedAt });
            e.HasIndex(x => x.Status);
            e.HasOne<TemplateRow>().WithMany().HasForeignKey(x => x.TemplateId).OnDelete(DeleteBehavior.Cascade);
        });
        b.Entity<TemplateBuildLogRow>(e =>
        {
            e.ToTable("template_build_logs");
            e.HasKey(x => x.Id);
            e.Property(x => x.Id).ValueGeneratedOnAdd();
            e.HasIndex(x => new { x.BuildId, x.Id });
            e.HasOne<TemplateBuildRow>().WithMany().HasForeignKey(x => x.BuildId).OnDelete(DeleteBehavior.Cascade);
        });
        b.Entity<TemplateLayerRow>(e =>
        {
            e.ToTable("template_layers");
            e.HasKey(x => x.Key);
            e.HasIndex(x => x.TeamId);
        });
    }
}
