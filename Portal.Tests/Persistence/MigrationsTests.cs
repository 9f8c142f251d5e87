using Microsoft.EntityFrameworkCore;
using Portal.Core.Persistence;
using Portal.Core.Persistence.Postgres;
using Portal.Core.Persistence.Sqlite;

namespace Portal.Tests.Persistence;

/// <summary>
/// Each database keeps its own migrations; a model change with a migration for one and not the
/// other would start a portal on a schema its code does not match. scripts/add-migration.sh adds both.
/// </summary>
public sealed class MigrationsTests
{
    public static TheoryData<string> Providers => ["sqlite", "postgres"];

    [Theory]
    [MemberData(nameof(Providers))]
    public void EveryDatabase_HasMigrationsForTheWholeModel(string provider)
    {
        using PortalDbContext db = provider == "sqlite"
            ? new SqlitePortalDbContextDesignFactory().CreateDbContext([])
            : new PostgresPortalDbContextDesignFactory().CreateDbContext([]);
        Assert.NotEmpty(db.Database.GetMigrations());
        Assert.False(db.Database.HasPendingModelChanges(),
            $"the {provider} migrations do not match Portal.Core/Persistence/PortalDbContext.cs: run scripts/add-migration.sh NAME");
    }
}
