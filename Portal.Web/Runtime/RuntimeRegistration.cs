using Microsoft.Extensions.Options;
using Portal.Core.Runtime;
using Portal.Core.Runtime.Local;
using Portal.Web.Options;

namespace Portal.Web.Runtime;

/// <summary>Picks the <see cref="ISandboxRuntime"/> named by <c>Portal:Runtime</c>, unless the host already registered one (tests).</summary>
public static class RuntimeRegistration
{
    public const string LocalSection = "Portal:LocalRuntime";

    public static IServiceCollection AddSandboxRuntime(this IServiceCollection services, IConfiguration config)
    {
        if (services.Any(d => d.ServiceType == typeof(ISandboxRuntime))) return services;
        var name = config["Portal:Runtime"] ?? "local";
        if (name == "local")
        {
            // Defaults follow Portal:DataDir; PORTAL_TEMPLATES_DIR / PORTAL_ENVD_PATH as the scripts set them.
            services.AddOptions<LocalRuntimeOptions>()
                .Configure<IOptions<PortalOptions>>((o, portal) =>
                {
                    o.SandboxesDirectory = Path.Combine(portal.Value.DataDir, "sandboxes");
                    o.TemplatesDirectory = Environment.GetEnvironmentVariable("PORTAL_TEMPLATES_DIR") is { Length: > 0 } t ? t : Path.Combine(portal.Value.DataDir, "templates");
                    if (Environment.GetEnvironmentVariable("PORTAL_ENVD_PATH") is { Length: > 0 } e) o.EnvdPath = e;
                })
                .Bind(config.GetSection(LocalSection))
                .Validate(o => File.Exists(o.EnvdPath), $"{LocalSection}:EnvdPath (env PORTAL_ENVD_PATH) must name the published portal-envd (scripts/publish-envd.sh writes artifacts/envd/portal-envd)")
                .Validate(o => Directory.Exists(o.TemplatesDirectory), $"{LocalSection}:TemplatesDirectory (env PORTAL_TEMPLATES_DIR) must be a directory of templates (scripts/build-template.sh builds 'base')")
                .ValidateOnStart();
            services.AddSingleton<ISandboxRuntime>(sp => new LocalSandboxRuntime(
                sp.GetRequiredService<IOptions<LocalRuntimeOptions>>().Value,
                cgroups: null,
                time: sp.GetRequiredService<TimeProvider>(),
                logger: sp.GetRequiredService<ILogger<LocalSandboxRuntime>>()));
            return services;
        }
        services.AddSingleton<ISandboxRuntime>(_ => throw new InvalidOperationException(
            $"Portal:Runtime (env PORTAL_RUNTIME) is '{name}', but no such sandbox runtime is built into this portal (known: local)."));
        return services;
    }
}
