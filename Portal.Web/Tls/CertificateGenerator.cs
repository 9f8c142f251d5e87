using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Portal.Web.Tls;

/// <summary>
/// Makes a local certificate authority and a wildcard server certificate for a domain, so
/// the native protocol (<c>api.D</c>, <c>P-S.D</c>) can be tried on one machine.
/// Clients trust the CA with <c>NODE_EXTRA_CA_CERTS=ca.pem</c> (Node) or
/// <c>SSL_CERT_FILE</c> / <c>REQUESTS_CA_BUNDLE</c> (Python).
/// </summary>
public static class CertificateGenerator
{
    public sealed record Files(string CaCert, string CaKey, string Cert, string Key);

    public static Files Generate(string domain, string directory, TimeSpan? lifetime = null, DateTimeOffset? now = null)
    {
        var host = domain.Split(':')[0].ToLowerInvariant();
        var start = (now ?? DateTimeOffset.UtcNow).AddMinutes(-5);
        var end = start + (lifetime ?? TimeSpan.FromDays(365));
        Directory.CreateDirectory(directory);

        using var caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var caReq = new CertificateRequest($"CN=Sandbox Portal local CA ({host})", caKey, HashAlgorithmName.SHA256);
        caReq.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, true, 0, true));
        caReq.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        caReq.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(caReq.PublicKey, false));
        using var ca = caReq.CreateSelfSigned(start, end.AddDays(1));

        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var req = new CertificateRequest($"CN={host}", key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName(host);
        san.AddDnsName("*." + host);
        req.CertificateExtensions.Add(san.Build());
        req.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        req.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        req.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        req.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(ca, true, false));
        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] &= 0x7f;
        using var cert = req.Create(ca, start, end, serial);

        var files = new Files(
            Path.Combine(directory, "ca.pem"),
            Path.Combine(directory, "ca-key.pem"),
            Path.Combine(directory, "fullchain.pem"),
            Path.Combine(directory, "privkey.pem"));
        WritePrivate(files.CaKey, caKey.ExportPkcs8PrivateKeyPem());
        File.WriteAllText(files.CaCert, ca.ExportCertificatePem() + "\n");
        WritePrivate(files.Key, key.ExportPkcs8PrivateKeyPem());
        File.WriteAllText(files.Cert, cert.ExportCertificatePem() + "\n" + ca.ExportCertificatePem() + "\n");
        return files;
    }

    private static void WritePrivate(string path, string pem)
    {
        File.WriteAllText(path, "");
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        File.WriteAllText(path, pem + "\n");
    }
}
