using Microsoft.Extensions.Options;
using Portal.Core.Auth;
using Portal.Core.Persistence;
using Portal.Core.Sandboxes;
using Portal.Web.Options;

namespace Portal.Web.Background;

/// <summary>
/// Runs before the server listens: schema migration, keys into memory, the first admin key,
/// and the reconciliation of stored sandboxes with the runtime.
/// </summary>
public sealed class PortalInitializer(
    IPortalStore store,
    ApiKeyService keys,
    SandboxService sandboxes,
    IOptions<PortalOptions> options,
    ILogger<PortalInitializer> log) : IHostedService
{
    public bool Ready { get; private set; }

    public async Task StartAsync(CancellationToken ct)
    {
        var o = options.Value;
        Directory.CreateDirectory(o.DataDir);
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
        await sandboxes.RecoverAsync(ct);
        Ready = true;
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
