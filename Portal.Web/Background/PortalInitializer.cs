using Microsoft.Extensions.Options;
using Portal.Core.Auth;
using Portal.Core.Persistence;
using Portal.Core.Sandboxes;
using Portal.Web.Auth;
using Portal.Web.Options;

namespace Portal.Web.Background;

/// <summary>
/// Runs before the server listens: schema migration, keys into memory, the first admin key and
/// dashboard account, and the reconciliation of stored sandboxes with the runtime.
/// </summary>
public sealed class PortalInitializer(
    IPortalStore store,
    ApiKeyService keys,
    SandboxService sandboxes,
    Portal.Core.Templates.TemplateBuilder templateBuilds,
    IServiceScopeFactory scopes,
    IOptions<PortalOptions> options,
    IOptions<DashboardOptions> dashboard,
    ILogger<PortalInitializer> log) : IHostedService
{
    public bool Ready { get; private set; }

    public async Task StartAsync(CancellationToken ct)
    {
        var o = options.Value;
        Directory.CreateDirectory(o.DataDir);
        // Replicas starting together on an empty database take turns here: the first migrates and
        // seeds it, the others find the schema current and read what it wrote (one admin team,
        // not one per replica; no crash on a table or the configured key made twice; EF's own
        // migration lock did not cover a database without its history table).
        await using (await store.LockStartupAsync(ct))
        {
            await store.InitializeAsync(ct);
            await keys.LoadAsync(ct);
            var secret = await keys.BootstrapAsync(o.AdminApiKey, ct);
            if (secret is not null)
            {
                WriteAdminKeyFile(o.AdminKeyFile, secret);
                if (string.IsNullOrEmpty(o.AdminApiKey))
                {
                    // Shown once: only its hash is stored.
                    Console.WriteLine();
                    Console.WriteLine("Sandbox Portal: created the admin API key (shown once; also in " + o.AdminKeyFile + ", mode 0600):");
                    Console.WriteLine("  E2B_API_KEY=" + secret);
                    Console.WriteLine();
                }
                else log.LogInformation("Seeded the admin API key from PORTAL_ADMIN_API_KEY");
            }
            await BootstrapAdminAccountAsync(o, ct);
        }
        await sandboxes.RecoverAsync(ct);
        await templateBuilds.RecoverAsync(ct);
        Ready = true;
    }

    private async Task BootstrapAdminAccountAsync(PortalOptions o, CancellationToken ct)
    {
        var d = dashboard.Value;
        await using var scope = scopes.CreateAsyncScope();
        var (created, password) = await scope.ServiceProvider.GetRequiredService<UserAccounts>().BootstrapAsync(d.AdminUser, d.AdminPassword, ct);
        if (!created) return;
        if (password is null) { log.LogInformation("Created dashboard admin '{User}' with PORTAL_ADMIN_PASSWORD", d.AdminUser); return; }
        WriteAdminKeyFile(o.AdminPasswordFile, password);
        // Shown once: only its hash is stored.
        Console.WriteLine();
        Console.WriteLine("Sandbox Portal: created the dashboard admin (shown once; also in " + o.AdminPasswordFile + ", mode 0600):");
        Console.WriteLine("  user " + d.AdminUser + "  password " + password);
        Console.WriteLine();
    }

    private static void WriteAdminKeyFile(string path, string secret)
    {
        var options = new FileStreamOptions
        {
            Mode = FileMode.Create,
            Access = FileAccess.Write,
            UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
        };
        using (var f = new StreamWriter(path, System.Text.Encoding.ASCII, options)) f.Write(secret + "\n");
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
    }

    public Task StopAsync(CancellationToken ct) => Task.CompletedTask;
}
