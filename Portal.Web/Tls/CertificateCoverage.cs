using System.Security.Cryptography.X509Certificates;

namespace Portal.Web.Tls;

/// <summary>Which ways in a certificate supports for a domain, and until when.</summary>
public sealed record CertificateCoverage(
    string Subject,
    IReadOnlyList<string> DnsNames,
    DateTimeOffset NotAfter,
    bool CoversDomain,
    bool CoversApiHost,
    bool CoversSandboxHosts)
{
    /// <summary>Native protocol needs <c>api.D</c> and <c>*.D</c>; the private one only <c>D</c>.</summary>
    public bool SupportsNative => CoversApiHost && CoversSandboxHosts;
    public bool SupportsPrivate => CoversDomain;

    public string Summary(string domain, DateTimeOffset now)
    {
        var ways = SupportsNative && SupportsPrivate ? "native and private protocols"
            : SupportsNative ? "native protocol only (not the bare domain)"
            : SupportsPrivate ? "private protocol only (no api.D / *.D names)"
            : "neither protocol: no name matches the domain";
        var expiry = NotAfter <= now ? $"EXPIRED on {NotAfter:u}" : $"expires {NotAfter:u} (in {(int)(NotAfter - now).TotalDays} days)";
        return $"certificate for {domain}: {ways}; {expiry}; names: {string.Join(", ", DnsNames)}";
    }

    public static CertificateCoverage For(X509Certificate2 cert, string domain)
    {
        var host = domain.Split(':')[0].ToLowerInvariant();
        var names = DnsNamesOf(cert);
        return new CertificateCoverage(
            cert.Subject,
            names,
            new DateTimeOffset(cert.NotAfter.ToUniversalTime()),
            names.Any(n => Matches(n, host)),
            names.Any(n => Matches(n, "api." + host)),
            names.Any(n => Matches(n, "49983-abc123." + host)));
    }

    /// <summary>RFC 6125: a wildcard matches exactly one left-most label.</summary>
    public static bool Matches(string pattern, string host)
    {
        pattern = pattern.ToLowerInvariant();
        if (!pattern.StartsWith("*.", StringComparison.Ordinal)) return pattern == host;
        var dot = host.IndexOf('.');
        return dot > 0 && host[(dot + 1)..] == pattern[2..];
    }

    private static List<string> DnsNamesOf(X509Certificate2 cert)
    {
        var names = new List<string>();
        foreach (var ext in cert.Extensions)
        {
            if (ext is X509SubjectAlternativeNameExtension san)
                names.AddRange(san.EnumerateDnsNames());
        }
        if (names.Count == 0)
        {
            var cn = cert.GetNameInfo(X509NameType.DnsName, forIssuer: false);
            if (!string.IsNullOrEmpty(cn)) names.Add(cn);
        }
        return names;
    }
}
