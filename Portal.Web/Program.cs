// Sandbox Portal: the E2B-compatible control plane, API keys and sandbox proxy.
// Everything is assembled in Hosting/PortalWebApplication.cs (tests boot the same app).
using Portal.Web.Hosting;

var app = PortalWebApplication.Build(args);
app.Run();

public partial class Program;
