using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Portal.Web.Tls;

namespace Portal.Tests.Web.Tls;

public sealed class TlsTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("portal-tls-").FullName;

    [Fact]
    public void GeneratedWildcard_CoversNativeAndPrivate()
    {
        var files = CertificateGenerator.Generate("sbx.test:8443", _dir);
        using var cert = X509Certificate2.CreateFromPemFile(files.Cert, files.Key);
        var coverage = CertificateCoverage.For(cert, "sbx.test:8443");
        Assert.True(coverage.SupportsNative);
        Assert.True(coverage.SupportsPrivate);
        Assert.Contains("*.sbx.test", coverage.DnsNames);
        Assert.True(coverage.NotAfter > DateTimeOffset.UtcNow.AddDays(300));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(files.Key));
    }

    [Fact]
    public void SingleNameCertificate_CoversPrivateOnly()
    {
        using var cert = SelfSigned("portal.example.com");
        var coverage = CertificateCoverage.For(cert, "portal.example.com");
        Assert.False(coverage.SupportsNative);
        Assert.True(coverage.SupportsPrivate);
        Assert.Contains("private protocol only", coverage.Summary("portal.example.com", DateTimeOffset.UtcNow));
    }

    [Theory]
    [InlineData("*.example.com", "api.example.com", true)]
    [InlineData("*.example.com", "49983-abc.example.com", true)]
    [InlineData("*.example.com", "example.com", false)]
    [InlineData("*.example.com", "a.b.example.com", false)]
    [InlineData("example.com", "EXAMPLE.com", false)]
    [InlineData("example.com", "example.com", true)]
    public void Wildcards_MatchOneLabel(string pattern, string host, bool expected) =>
        Assert.Equal(expected, CertificateCoverage.Matches(pattern, host));

    [Fact]
    public void MissingFiles_FailWithTheirPath()
    {
        var e = Assert.Throws<FileNotFoundException>(() => new CertificateReloader(Path.Combine(_dir, "nope.pem"), Path.Combine(_dir, "nope.key"), NullLogger.Instance));
        Assert.Contains("nope.pem", e.Message);
    }

    [Fact]
    public async Task SwappedFiles_AreServedWithoutRestart()
    {
        var ct = TestContext.Current.CancellationToken;
        var first = CertificateGenerator.Generate("one.test", Path.Combine(_dir, "one"));
        var live = Path.Combine(_dir, "live");
        Directory.CreateDirectory(live);
        var certPath = Path.Combine(live, "tls.crt");
        var keyPath = Path.Combine(live, "tls.key");
        File.Copy(first.Cert, certPath);
        File.Copy(first.Key, keyPath);

        using var reloader = new CertificateReloader(certPath, keyPath, NullLogger.Instance);
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0, l => l.UseHttps(h => h.ServerCertificateSelector = (_, _) => reloader.Current)));
        await using var app = builder.Build();
        app.MapGet("/", () => "ok");
        await app.StartAsync(ct);
        var address = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());

        var before = await ServedCertificateAsync(address, "one.test", ct);
        Assert.Contains("CN=one.test", before.Subject);

        var second = CertificateGenerator.Generate("two.test", Path.Combine(_dir, "two"));
        File.Copy(second.Cert, certPath, overwrite: true);
        File.Copy(second.Key, keyPath, overwrite: true);

        X509Certificate2? after = null;
        for (var i = 0; i < 50 && after?.Subject.Contains("two.test") != true; i++)
        {
            await Task.Delay(200, ct);
            after = await ServedCertificateAsync(address, "two.test", ct);
        }
        Assert.Contains("CN=two.test", after!.Subject);
        await app.StopAsync(ct);
    }

    private static async Task<X509Certificate2> ServedCertificateAsync(Uri address, string sni, CancellationToken ct)
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(address.Host, address.Port, ct);
        await using var ssl = new SslStream(tcp.GetStream(), false, (_, _, _, _) => true);
        await ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = sni }, ct);
        return new X509Certificate2(ssl.RemoteCertificate!);
    }

    private static X509Certificate2 SelfSigned(string name)
    {
        using var key = System.Security.Cryptography.ECDsa.Create();
        var req = new CertificateRequest($"CN={name}", key, System.Security.Cryptography.HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName(name);
        req.CertificateExtensions.Add(san.Build());
        return req.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));
    }

    public void Dispose() => Directory.Delete(_dir, true);
}
