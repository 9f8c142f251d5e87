// The portal host. For now it only reports health; the control plane, proxy and
// dashboard land here as their issues are done (see docs/architecture.md).
var builder = WebApplication.CreateBuilder(args);
var app = builder.Build();
app.MapGet("/health", () => Results.Ok(new { status = "ok" }));
app.Run();

public partial class Program;
