using Microsoft.AspNetCore.Identity;
using Microsoft.Extensions.DependencyInjection;

namespace Portal.Core.Persistence.Sqlite;

public static class SqliteUserStore
{
    /// <summary>
    /// Identity's EF Core user store on the portal's own database: a context per scope opened by
    /// the <see cref="SqlitePortalStore"/> (same file, connection settings and migrations).
    /// Identity writes are their own transactions; SQLite's busy timeout orders them with the
    /// store's writes.
    /// </summary>
    public static IdentityBuilder AddPortalUserStore(this IdentityBuilder identity)
    {
        identity.Services.AddScoped(sp => sp.GetRequiredService<IPortalStore>() is SqlitePortalStore sqlite
            ? sqlite.Open()
            : throw new InvalidOperationException("dashboard accounts are stored by the SQLite store only"));
        return identity.AddEntityFrameworkStores<PortalDbContext>();
    }
}
