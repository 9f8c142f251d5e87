using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Options;
using Portal.Web.Apis;
using Portal.Web.Options;
using Portal.Web.Auth;

namespace Portal.Web.Tls;

/// <summary>
/// Configuration section <c>Portal:Tls</c> (env <c>PORTAL_TLS_CERT</c>, <c>PORTAL_TLS_KEY</c>): PEM
/// certificate (full chain) and key, e.g. <c>tls.crt</c> / <c>tls.key</c> of the Kubernetes TLS
/// secret <c>sandbox-manager-tls</c>. When set, every <c>https://</c> URL in <c>--urls</c> serves it.
/// </summary>
public sealed class TlsOptions
{
    public const string Section = "Portal:Tls";
    public string? CertificatePath { get; set; }
    public string? KeyPath { get; set; }
    public bool Enabled => !string.IsNullOrWhiteSpace(CertificatePath) || !string.IsNullOrWhiteSpace(KeyPath);
}

internal sealed class TlsOptionsValidator : IValidateOptions<TlsOptions>
{
    public ValidateOptionsResult Validate(string? name, TlsOptions o)
    {
        if (!o.Enabled) return ValidateOptionsResult.Success;
        var errors = new List<string>();
        if (string.IsNullOrWhiteSpace(o.CertificatePath))
            errors.Add("Portal:Tls:CertificatePath (env PORTAL_TLS_CERT) is required when Portal:Tls:KeyPath is set: the PEM certificate chain, e.g. /etc/sandbox-manager-tls/tls.crt.");
        else if (!File.Exists(o.CertificatePath))
            errors.Add($"Portal:Tls:CertificatePath (env PORTAL_TLS_CERT): no such file '{o.CertificatePath}'.");
        if (string.IsNullOrWhiteSpace(o.KeyPath))
            errors.Add("Portal:Tls:KeyPath (env PORTAL_TLS_KEY) is required when Portal:Tls:CertificatePath is set: the PEM private key, e.g. /etc/sandbox-manager-tls/tls.key.");
        else if (!File.Exists(o.KeyPath))
            errors.Add($"Portal:Tls:KeyPath (env PORTAL_TLS_KEY): no such file '{o.KeyPath}'.");
        if (errors.Count == 0)
        {
            try
            {
                using var cert = System.Security.Cryptography.X509Certificates.X509Certificate2.CreateFromPemFile(o.CertificatePath!, o.KeyPath!);
            }
            catch (Exception e)
            {
                errors.Add($"Portal:Tls:CertificatePath / Portal:Tls:KeyPath (env PORTAL_TLS_CERT / PORTAL_TLS_KEY): could not load the PEM certificate and key ({e.Message}).");
            }
        }
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}

/// <summary>Wires TLS into Kestrel, logs what the certificate covers, and answers <c>GET /portal/config</c>.</summary>
public static class PortalTls
{
    public static void AddPortalTls(this IServiceCollection services, IConfiguration config)
    {
        services.AddOptions<TlsOptions>().Bind(config.GetSection(TlsOptions.Section)).ValidateOnStart();
        services.AddSingleton<IValidateOptions<TlsOptions>, TlsOptionsValidator>();
        services.AddSingleton(sp =>
        {
            var o = sp.GetRequiredService<IOptions<TlsOptions>>().Value;
            return o.Enabled
                ? new CertificateReloader(o.CertificatePath!, o.KeyPath!, sp.GetRequiredService<ILoggerFactory>().CreateLogger<CertificateReloader>())
                : null!;
        });
        services.AddHostedService<TlsStartupLog>();
    }

    /// <summary>Every https:// endpoint serves the reloader's current certificate.</summary>
    public static void ConfigureHttps(KestrelServerOptions k, IConfiguration config)
    {
        var tls = config.GetSection(TlsOptions.Section).Get<TlsOptions>() ?? new TlsOptions();
        if (!tls.Enabled) return;
        k.ConfigureHttpsDefaults(h =>
        {
            CertificateReloader? reloader = null;
            h.ServerCertificateSelector = (_, _) =>
                (reloader ??= k.ApplicationServices.GetRequiredService<CertificateReloader>()).Current;
        });
    }

    /// <summary>
    /// The ports of the https:// URLs the portal listens on (<c>urls</c>, <c>https_ports</c>), when
    /// Portal:Tls is configured; empty otherwise. The host builder adds TLS to these endpoints
    /// itself, so that connection middleware can follow it (Kestrel would add it after every one).
    /// A port that an http:// URL uses too (port 0 for both, in tests) is left out, and so is
    /// everything when endpoints come from <c>Kestrel:Endpoints</c>: Kestrel then adds TLS itself.
    /// </summary>
    public static IReadOnlySet<int> HttpsPorts(IConfiguration config)
    {
        var https = new HashSet<int>();
        var plain = new HashSet<int>();
        var tls = config.GetSection(TlsOptions.Section).Get<TlsOptions>() ?? new TlsOptions();
        if (!tls.Enabled || config.GetSection("Kestrel:Endpoints").GetChildren().Any()) return https;
        foreach (var url in (config["urls"] ?? "").Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var secure = url.StartsWith("https://", StringComparison.OrdinalIgnoreCase);
            var scheme = url.IndexOf("://", StringComparison.Ordinal);
            if (scheme < 0) continue;
            var authority = url[(scheme + 3)..].Split('/')[0];
            var colon = authority.LastIndexOf(':');
            var port = colon < 0 || colon < authority.LastIndexOf(']') ? (secure ? 443 : 80)
                : int.TryParse(authority[(colon + 1)..], out var p) ? p : -1;
            (secure ? https : plain).Add(port);
        }
        foreach (var text in (config["https_ports"] ?? "").Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            if (int.TryParse(text, out var port)) https.Add(port);
        https.ExceptWith(plain);
        return https;
    }

    public static object Describe(IServiceProvider sp)
    {
        var tls = sp.GetRequiredService<IOptions<TlsOptions>>().Value;
        var domain = sp.GetRequiredService<IOptions<PortalOptions>>().Value.Domain;
        object? certificate = null;
        if (tls.Enabled)
        {
            var cert = sp.GetRequiredService<CertificateReloader>().Current;
            var coverage = CertificateCoverage.For(cert, string.IsNullOrWhiteSpace(domain) ? cert.GetNameInfo(System.Security.Cryptography.X509Certificates.X509NameType.DnsName, false) : domain);
            certificate = new
            {
                certificatePath = tls.CertificatePath,
                keyPath = tls.KeyPath,
                subject = coverage.Subject,
                dnsNames = coverage.DnsNames,
                notAfter = coverage.NotAfter,
                coversDomain = coverage.CoversDomain,
                coversApiHost = coverage.CoversApiHost,
                coversSandboxHosts = coverage.CoversSandboxHosts,
                supportsNative = coverage.SupportsNative,
                supportsPrivate = coverage.SupportsPrivate,
                summary = Summary(sp),
            };
        }
        return new
        {
            domain = string.IsNullOrWhiteSpace(domain) ? null : domain,
            tls = new { enabled = tls.Enabled, certificate },
        };
    }

    internal static string Summary(IServiceProvider sp)
    {
        var cert = sp.GetRequiredService<CertificateReloader>().Current;
        var domain = sp.GetRequiredService<IOptions<PortalOptions>>().Value.Domain;
        var now = sp.GetRequiredService<TimeProvider>().GetUtcNow();
        if (string.IsNullOrWhiteSpace(domain))
        {
            var name = cert.GetNameInfo(System.Security.Cryptography.X509Certificates.X509NameType.DnsName, false);
            return "no E2B_DOMAIN set; " + CertificateCoverage.For(cert, name).Summary(name, now);
        }
        return CertificateCoverage.For(cert, domain).Summary(domain, now);
    }

    /// <summary><c>GET /portal/config</c>: the portal's routing and TLS settings (admin key only).</summary>
    public static void MapPortalConfig(this IEndpointRouteBuilder app)
    {
        app.MapGroup("/portal").RequireCaller().MapGet("/config", (HttpContext ctx) =>
            ctx.Caller().IsAdmin
                ? Results.Json(Describe(ctx.RequestServices))
                : ApiErrors.Result(403, "the portal configuration needs the admin API key"));
    }

    private sealed class TlsStartupLog(IServiceProvider sp, IOptions<TlsOptions> options, ILogger<TlsStartupLog> log) : IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken)
        {
            if (options.Value.Enabled)
                log.LogInformation("TLS: {Summary}", Summary(sp));
            return Task.CompletedTask;
        }

        public Task StopAsync(CancellationToken cancellationToken)
        {
            sp.GetService<CertificateReloader>()?.Dispose();
            return Task.CompletedTask;
        }
    }
}
