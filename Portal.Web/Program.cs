// Sandbox Portal: the E2B-compatible control plane, API keys and sandbox proxy.
// Everything is assembled in Hosting/PortalWebApplication.cs (tests boot the same app).
using Microsoft.Extensions.Options;
using Portal.Web.Hosting;

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
