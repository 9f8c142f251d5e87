// Sandbox Portal: the E2B-compatible control plane, API keys and sandbox proxy.
// Everything is assembled in Hosting/PortalWebApplication.cs (tests boot the same app).
using Microsoft.Extensions.Options;
using Portal.Core.Threading;
using Portal.Web.Hosting;

// Before any socket exists: I/O completions run inline on the epoll threads (see InlineIo).
InlineIo.EnableUnlessConfigured();

if (args is ["certs", ..])
{
    // portal certs DOMAIN OUTDIR: a local CA and a wildcard certificate for DOMAIN and *.DOMAIN.
    if (args.Length != 3)
    {
        Console.Error.WriteLine("usage: Portal.Web certs DOMAIN OUTDIR   (e.g. certs sbx.test:8443 ./certs)");
        return 2;
    }
    var files = Portal.Web.Tls.CertificateGenerator.Generate(args[1], args[2]);
    Console.WriteLine($"CA certificate:     {files.CaCert}  (clients: NODE_EXTRA_CA_CERTS / SSL_CERT_FILE)");
    Console.WriteLine($"CA key:             {files.CaKey}");
    Console.WriteLine($"server certificate: {files.Cert}  (PORTAL_TLS_CERT)");
    Console.WriteLine($"server key:         {files.Key}  (PORTAL_TLS_KEY)");
    return 0;
}

try
{
    var app = PortalWebApplication.Build(args);
    app.Run();
    return 0;
}
catch (Exception e) when (e is not HostAbortedException)
{
    // Configuration and startup errors: say what to fix, without a crash dump.
    var message = e is OptionsValidationException ov ? string.Join(Environment.NewLine + "  ", ov.Failures) : e.GetBaseException().Message;
    Console.Error.WriteLine("Sandbox Portal could not start:" + Environment.NewLine + "  " + message);
    return 1;
}

public partial class Program;
