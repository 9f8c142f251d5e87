using Portal.Core.Runtime;

namespace Portal.Web.Runtime;

/// <summary>Picks the <see cref="ISandboxRuntime"/> named by <c>Portal:Runtime</c>, unless the host already registered one (tests).</summary>
public static class RuntimeRegistration
{
    public static IServiceCollection AddSandboxRuntime(this IServiceCollection services, IConfiguration config)
    {
        if (services.Any(d => d.ServiceType == typeof(ISandboxRuntime))) return services;
        var name = config["Portal:Runtime"] ?? "local";
        services.AddSingleton<ISandboxRuntime>(_ => throw new InvalidOperationException(
            $"Portal:Runtime (env PORTAL_RUNTIME) is '{name}', but no such sandbox runtime is built into this portal."));
        return services;
    }
}
