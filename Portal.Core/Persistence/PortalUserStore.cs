using Microsoft.AspNetCore.Identity;
using Microsoft.Extensions.DependencyInjection;

namespace Portal.Core.Persistence;

public static class PortalUserStore
{
    /// <summary>
    /// Identity's EF Core user store on the portal's own database: a context per scope opened by
    /// the <see cref="EfPortalStore"/> (same database, connection settings and migrations, SQLite or
    /// PostgreSQL). Identity writes are their own transactions; accounts are read from the
    /// database on every request, so replicas need no notes for them.
    /// </summary>
    public static IdentityBuilder AddPortalUserStore(this IdentityBuilder identity)
    {
        identity.Services.AddScoped<PortalDbContext>(sp => sp.GetRequiredService<IPortalStore>() is EfPortalStore store
            ? store.OpenContext()
            : throw new InvalidOperationException("dashboard accounts are kept by the portal's EF Core store (EfPortalStore)"));
        return identity.AddEntityFrameworkStores<PortalDbContext>();
    }
}
