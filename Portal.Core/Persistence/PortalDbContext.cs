using Microsoft.AspNetCore.Identity.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore;
using Portal.Core.Auth;

namespace Portal.Core.Persistence;

/// <summary>
/// The portal's schema, one model for every database, dashboard accounts included: Identity's
/// user tables (users, claims, logins, tokens; roles are a column, <see cref="PortalUser.Role"/>)
/// live in the same database and migrations as teams, keys and sandboxes. Each provider has its
/// own subclass only so that its migrations (SQL differs between SQLite and PostgreSQL) have a
/// context type of their own.
/// </summary>
internal abstract partial class PortalDbContext(DbContextOptions options) : IdentityUserContext<PortalUser>(options)
{
    public DbSet<TeamRow> Teams => Set<TeamRow>();
    public DbSet<ApiKeyRow> ApiKeys => Set<ApiKeyRow>();
    public DbSet<SandboxRow> Sandboxes => Set<SandboxRow>();
    public DbSet<SandboxLogRow> SandboxLogs => Set<SandboxLogRow>();
    public DbSet<LeaseRow> Leases => Set<LeaseRow>();
    public DbSet<WebhookRow> Webhooks => Set<WebhookRow>();
    public DbSet<WebhookOutboxRow> WebhookOutbox => Set<WebhookOutboxRow>();
    public DbSet<WebhookAttemptRow> WebhookAttempts => Set<WebhookAttemptRow>();
    public DbSet<SnapshotRow> Snapshots => Set<SnapshotRow>();

    protected override void OnModelCreating(ModelBuilder b)
    {
        base.OnModelCreating(b);
        b.Entity<PortalUser>(e =>
        {
            e.ToTable("users");
            e.HasIndex(x => x.TeamId);
            e.HasOne<TeamRow>().WithMany().HasForeignKey(x => x.TeamId).OnDelete(DeleteBehavior.Restrict);
        });
        b.Entity<Microsoft.AspNetCore.Identity.IdentityUserClaim<string>>().ToTable("user_claims");
        b.Entity<Microsoft.AspNetCore.Identity.IdentityUserLogin<string>>().ToTable("user_logins");
        b.Entity<Microsoft.AspNetCore.Identity.IdentityUserToken<string>>().ToTable("user_tokens");
        b.Entity<TeamRow>(e =>
        {
            e.ToTable("teams");
            e.HasKey(x => x.TeamId);
            e.Property(x => x.Name).IsRequired();
        });
        b.Entity<ApiKeyRow>(e =>
        {
            e.ToTable("api_keys");
            e.HasKey(x => x.Id);
            e.HasIndex(x => x.KeyHash).IsUnique();
            e.HasIndex(x => x.TeamId);
            e.HasOne<TeamRow>().WithMany().HasForeignKey(x => x.TeamId).OnDelete(DeleteBehavior.Restrict);
        });
        b.Entity<SandboxRow>(e =>
        {
            e.ToTable("sandboxes");
            e.HasKey(x => x.SandboxId);
            e.HasIndex(x => x.Status);
            e.Property(x => x.Version).IsConcurrencyToken(); // updates say WHERE Version = the one read
            e.HasIndex(x => new { x.TeamId, x.Status });
            e.HasOne<TeamRow>().WithMany().HasForeignKey(x => x.TeamId).OnDelete(DeleteBehavior.Restrict);
        });
        b.Entity<SandboxLogRow>(e =>
        {
            e.ToTable("sandbox_logs");
            e.HasKey(x => x.Id);
            e.Property(x => x.Id).ValueGeneratedOnAdd();
            e.HasIndex(x => new { x.SandboxId, x.Timestamp });
            e.HasIndex(x => new { x.TeamId, x.Timestamp }); // the team's events
            e.HasIndex(x => x.Timestamp); // retention
        });
        b.Entity<LeaseRow>(e =>
        {
            e.ToTable("leases");
            e.HasKey(x => x.Name);
            e.Property(x => x.Holder).IsRequired();
        });
        b.Entity<WebhookRow>(e =>
        {
            e.ToTable("webhooks");
            e.HasKey(x => x.Id);
            e.HasIndex(x => x.TeamId);
            e.HasOne<TeamRow>().WithMany().HasForeignKey(x => x.TeamId).OnDelete(DeleteBehavior.Restrict);
        });
        b.Entity<WebhookOutboxRow>(e =>
        {
            e.ToTable("webhook_outbox");
            e.HasKey(x => x.Id);
            e.Property(x => x.Id).ValueGeneratedOnAdd();
            e.HasIndex(x => x.WebhookId);
            // A deleted webhook takes its undelivered events along.
            e.HasOne<WebhookRow>().WithMany().HasForeignKey(x => x.WebhookId).OnDelete(DeleteBehavior.Cascade);
        });
        b.Entity<WebhookAttemptRow>(e =>
        {
            e.ToTable("webhook_attempts");
            e.HasKey(x => x.Id);
            e.Property(x => x.Id).ValueGeneratedOnAdd();
            e.HasIndex(x => new { x.WebhookId, x.Id });
            e.HasOne<WebhookRow>().WithMany().HasForeignKey(x => x.WebhookId).OnDelete(DeleteBehavior.Cascade);
        });
        ConfigureTemplates(b);
        b.Entity<SnapshotRow>(e =>
        {
            e.ToTable("snapshots");
            e.HasKey(x => x.SnapshotId);
            e.Property(x => x.Tag).IsRequired();
            e.HasIndex(x => new { x.TeamId, x.CreatedAt }); // a team's list, newest first
            e.HasIndex(x => new { x.TeamId, x.Namespace, x.Name, x.Tag }); // by name
            e.HasIndex(x => x.SourceSandboxId);
            e.HasIndex(x => x.RemovedAt); // the sweep
            e.HasOne<TeamRow>().WithMany().HasForeignKey(x => x.TeamId).OnDelete(DeleteBehavior.Restrict);
        });
    }
}
