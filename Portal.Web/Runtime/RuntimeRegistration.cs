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
        if (name == "kubernetes") return services.AddKubernetesRuntime(config);
        if (name != "local")
        {
            services.AddSingleton<ISandboxRuntime>(_ => throw new InvalidOperationException(
                $"Portal:Runtime (env PORTAL_RUNTIME) is '{name}', but no such sandbox runtime is built into this portal; use 'local' or 'kubernetes'."));
            return services;
        }

        services.AddOptions<LocalRuntimeOptions>()
            .Bind(config.GetSection(LocalSection))
            .PostConfigure<IOptions<PortalOptions>>((o, portal) =>
            {
                // Sandboxes live in the data directory unless placed elsewhere on purpose.
                if (config[LocalSection + ":SandboxesDirectory"] is null)
                    o.SandboxesDirectory = Path.Combine(portal.Value.DataDir, "sandboxes");
            })
            .Validate(o => File.Exists(o.EnvdPath), "Portal:LocalRuntime:EnvdPath (env PORTAL_ENVD_PATH) must name the published portal-envd binary (scripts/publish-envd.sh makes artifacts/envd/portal-envd)")
            .Validate(o => Directory.Exists(o.TemplatesDirectory), "Portal:LocalRuntime:TemplatesDirectory (env PORTAL_TEMPLATES_DIR) must exist; build the base template with scripts/build-template.sh")
            .Validate(o => File.Exists(o.LauncherPath), "Portal:LocalRuntime:LauncherPath must name the sandbox launcher portal-sandbox-init (built with Portal.Core beside the portal's binaries; rebuild, or point the key at it)")
            .Validate(o => o.PidsLimit >= 16, "Portal:LocalRuntime:PidsLimit must be at least 16 (processes and threads per sandbox, envd's included)")
            .Validate(o => o.AgentPidsReserve >= 0 && o.AgentPidsReserve < o.PidsLimit, "Portal:LocalRuntime:AgentPidsReserve must be at least 0 and below Portal:LocalRuntime:PidsLimit (the pids only envd may use)")
            .Validate(o => o.TmpSizePercent is >= 1 and <= LocalRuntimeOptions.MaxTmpfsPercent, $"Portal:LocalRuntime:TmpSizePercent must be 1-{LocalRuntimeOptions.MaxTmpfsPercent} (the size cap of a sandbox's /tmp, in percent of its memory)")
            .Validate(o => o.ShmSizePercent is >= 1 and <= LocalRuntimeOptions.MaxTmpfsPercent, $"Portal:LocalRuntime:ShmSizePercent must be 1-{LocalRuntimeOptions.MaxTmpfsPercent} (the size cap of a sandbox's /dev/shm, in percent of its memory)")
            .Validate(o => o.TmpSizePercent + o.ShmSizePercent <= LocalRuntimeOptions.MaxTmpfsPercent, $"Portal:LocalRuntime:TmpSizePercent + Portal:LocalRuntime:ShmSizePercent must be at most {LocalRuntimeOptions.MaxTmpfsPercent}: what /tmp and /dev/shm hold counts against the sandbox's memory, and its processes and envd need the rest")
            .Validate(o => !o.Network.Enabled || o.Network.HasValidPool, "Portal:LocalRuntime:Network:AddressPool must be an IPv4 CIDR from /8 to /29 (each sandbox takes two addresses of it), e.g. 10.89.0.0/16")
            .Validate(o => !o.Network.Enabled || o.Network.HasValidUplink, "Portal:LocalRuntime:Network:Uplink must name an interface of this host, or be empty (the IPv4 default route's interface) or 'none' (sandboxes reach nothing outside)")
            .Validate(o => !o.Network.Enabled || o.Network.HasValidOpenRanges, "Portal:LocalRuntime:Network:OpenRanges must hold IPv4 addresses or CIDRs outside 127.0.0.0/8 and 169.254.0.0/16 (those stay closed)")
            .Validate(o => !o.Network.Enabled || o.Network.HasValidDnsServers, "Portal:LocalRuntime:Network:DnsServers must hold IPv4 addresses (empty: the nameservers of /etc/resolv.conf)")
            .Validate(o => !o.Network.Enabled || o.Network.HasValidTableName, "Portal:LocalRuntime:Network:TableName must be at most 64 letters, digits or '_' (empty: derived from the sandboxes directory)")
            .ValidateOnStart();
        services.AddSingleton<LocalSandboxRuntime>(sp =>
        {
            var runtime = new LocalSandboxRuntime(
                sp.GetRequiredService<IOptions<LocalRuntimeOptions>>().Value,
                time: sp.GetRequiredService<TimeProvider>(),
                logger: sp.GetRequiredService<ILogger<LocalSandboxRuntime>>());
            // Users' sandboxes outlive the portal; idle warm ones do not (a restart refills them).
            sp.GetRequiredService<IHostApplicationLifetime>().ApplicationStopping.Register(runtime.DrainWarmPools);
            return runtime;
        });
        services.AddSingleton<ISandboxRuntime>(sp => sp.GetRequiredService<LocalSandboxRuntime>());
        return services;
    }
}
