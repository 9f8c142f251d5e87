using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Options;
using Portal.Core.Runtime;
using Portal.Web.Options;
using Portal.Web.Tls;

namespace Portal.Web.Dashboard.Model;

/// <summary>One way in to the portal, whether it works with the current settings, and what a client sets to use it.</summary>
public sealed record WayIn(string Name, bool Works, string Why, string Environment, string JavaScript, string Python);

/// <summary>The certificate the portal serves, as a client sees it.</summary>
public sealed record CertificateView(
    string Subject, string Issuer, IReadOnlyList<string> DnsNames, DateTimeOffset NotAfter, int DaysLeft,
    bool CoversApiHost, bool CoversSandboxHosts, bool CoversDomain, string? Warning);

public sealed record TemplateRow(string TemplateId, IReadOnlyList<string> Aliases, int CpuCount, int MemoryMB, int WarmReady, int WarmSize);

/// <summary>What the configuration page shows: never a secret or a file path.</summary>
public sealed record PortalSettingsView(
    string? Domain, string RuntimeName, bool TlsEnabled, CertificateView? Certificate,
    IReadOnlyList<WayIn> WaysIn, IReadOnlyList<TemplateRow> Templates);

/// <summary>
/// Reads the running portal's settings for the dashboard's configuration page: the same options,
/// certificate and runtime the portal serves with, so what the page says is what clients meet.
/// </summary>
public sealed class PortalSettingsReader(
    IOptions<PortalOptions> portal, IOptions<TlsOptions> tls, IServiceProvider services, ISandboxRuntime runtime, TimeProvider clock)
{
    /// <summary>A certificate this close to its end is shown with a warning.</summary>
    public const int ExpiryWarningDays = 30;

    private const string KeyLine = "E2B_API_KEY=e2b_…  # a key from the API keys page";

    /// <param name="portalUrl">The URL the dashboard was opened with: the portal as this browser reaches it.</param>
    public async Task<PortalSettingsView> ReadAsync(Uri portalUrl, CancellationToken ct)
    {
        var domain = string.IsNullOrWhiteSpace(portal.Value.Domain) ? null : portal.Value.Domain.Trim();
        var certificate = tls.Value.Enabled ? Describe(services.GetRequiredService<CertificateReloader>().Current, domain) : null;
        var templates = await runtime.Templates.ListAsync(ct);
        var pools = (await runtime.GetWarmPoolsAsync(ct)).ToDictionary(p => p.TemplateId, StringComparer.Ordinal);
        return new PortalSettingsView(
            domain, runtime.Name, tls.Value.Enabled, certificate,
            [Native(domain, tls.Value.Enabled, certificate), Private(domain, tls.Value.Enabled, certificate), HeaderRouting(portalUrl)],
            templates.OrderBy(t => t.TemplateId, StringComparer.Ordinal)
                .Select(t => pools.TryGetValue(t.TemplateId, out var p)
                    ? new TemplateRow(t.TemplateId, t.Aliases, t.CpuCount, t.MemoryMB, p.Ready, p.Size)
                    : new TemplateRow(t.TemplateId, t.Aliases, t.CpuCount, t.MemoryMB, 0, 0))
                .ToList());
    }

    private CertificateView Describe(X509Certificate2 cert, string? domain)
    {
        // Without a domain, the certificate's own name stands in for it (what the portal logs at start too).
        var name = domain ?? cert.GetNameInfo(X509NameType.DnsName, forIssuer: false);
        var coverage = CertificateCoverage.For(cert, name);
        var now = clock.GetUtcNow();
        var daysLeft = (int)Math.Floor((coverage.NotAfter - now).TotalDays);
        var warning = coverage.NotAfter <= now ? $"The certificate expired on {coverage.NotAfter:u}: clients refuse it."
            : daysLeft < ExpiryWarningDays ? $"The certificate expires in {daysLeft} days ({coverage.NotAfter:u}): replace the files; the portal reloads them without a restart."
            : null;
        return new CertificateView(coverage.Subject, cert.Issuer, coverage.DnsNames, coverage.NotAfter, daysLeft,
            coverage.CoversApiHost, coverage.CoversSandboxHosts, coverage.CoversDomain, warning);
    }

    /// <summary>E2B's own: <c>https://api.D</c> and <c>https://P-S.D</c>; the SDKs build both from the domain.</summary>
    private static WayIn Native(string? domain, bool tlsEnabled, CertificateView? cert)
    {
        var d = domain ?? "sandbox.example.com";
        var (works, why) = domain is null
            ? (false, "E2B_DOMAIN (Portal:Domain) is not set: the SDKs build api.D and P-S.D from it.")
            : !tlsEnabled
                ? (false, $"No certificate is set (Portal:Tls): the SDKs reach api.{d} and P-S.{d} over HTTPS only. Set one here, or terminate TLS for api.{d} and *.{d} in front of the portal.")
                : cert is { CoversApiHost: true, CoversSandboxHosts: true }
                    ? (true, $"api.{d} and P-S.{d} over HTTPS, both covered by the certificate.")
                    : (false, $"The certificate does not cover api.{d} and *.{d}.");
        return new WayIn("Native (api.D, P-S.D over HTTPS)", works, why,
            $"E2B_DOMAIN={d}\n{KeyLine}",
            $"await Sandbox.create({{ domain: '{d}', apiKey }})",
            $"Sandbox.create(domain=\"{d}\", api_key=api_key)");
    }

    /// <summary>OpenKruise's: the API under <c>D/kruise/api</c>, sandbox traffic to the same host (routing headers).</summary>
    private static WayIn Private(string? domain, bool tlsEnabled, CertificateView? cert)
    {
        var d = domain ?? "sandbox.example.com";
        var scheme = tlsEnabled ? "https" : "http";
        var (works, why) = domain is null
            ? (false, "E2B_DOMAIN (Portal:Domain) is not set: the private protocol's single host is the domain.")
            : tlsEnabled && cert is { CoversDomain: false }
                ? (false, $"The certificate does not cover {d}.")
                : (true, $"One host, {scheme}://{d}: the API under /kruise/api, sandboxes by routing headers (or /kruise/S/P/ paths).");
        var api = $"{scheme}://{d}/kruise/api";
        var sandboxes = $"{scheme}://{d}";
        return new WayIn("Private (one host, /kruise paths)", works, why,
            $"E2B_API_URL={api}\nE2B_SANDBOX_URL={sandboxes}\n{KeyLine}",
            $"await Sandbox.create({{ apiUrl: '{api}', sandboxUrl: '{sandboxes}', apiKey }})",
            $"Sandbox.create(api_url=\"{api}\", sandbox_url=\"{sandboxes}\", api_key=api_key)");
    }

    /// <summary>Any URL that reaches the portal: the API there, sandboxes by <c>E2b-Sandbox-Id</c>/<c>-Port</c> headers.</summary>
    private static WayIn HeaderRouting(Uri portalUrl)
    {
        var url = portalUrl.GetLeftPart(UriPartial.Authority);
        return new WayIn("Header routing (this URL)", true,
            $"The portal as this browser reaches it, {url}: the API and every sandbox through one URL.",
            $"E2B_API_URL={url}\nE2B_SANDBOX_URL={url}\n{KeyLine}",
            $"await Sandbox.create({{ apiUrl: '{url}', sandboxUrl: '{url}', apiKey }})",
            $"Sandbox.create(api_url=\"{url}\", sandbox_url=\"{url}\", api_key=api_key)");
    }
}
