using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Portal.Core.Auth;
using Portal.Core.Persistence;
using Portal.Core.Sandboxes;
using Portal.Core.Threading;
using Portal.Core.Webhooks;
using Portal.Web.Apis;
using Portal.Web.Auth;
using Portal.Web.Background;
using Portal.Web.Dashboard;
using Portal.Web.Options;
using Portal.Web.Proxy;
using Portal.Web.Routing;
using Portal.Web.Runtime;
using Portal.Web.Telemetry;
using Portal.Web.Templates;
using Portal.Web.Tls;
using Portal.Web.Transport;

namespace Portal.Web.Hosting;

/// <summary>
/// Builds the portal's <see cref="WebApplication"/>: Program.cs runs it, tests boot it in-process
/// on port 0 with their own configuration and a fake runtime.
/// </summary>
public static class PortalWebApplication
{
    public const int DefaultPort = 7788;

    /// <summary>Environment variables users know, mapped to configuration keys (explicit configuration wins).</summary>
    private static readonly (string Env, string Key)[] EnvironmentKeys =
    [
        ("PORTAL_DATA_DIR", "Portal:DataDir"),
        ("PORTAL_ADMIN_API_KEY", "Portal:AdminApiKey"),
        ("PORTAL_DATABASE", "Portal:Database"),
        ("PORTAL_ADMIN_USER", "Portal:Dashboard:AdminUser"),
        ("PORTAL_ADMIN_PASSWORD", "Portal:Dashboard:AdminPassword"),
        ("E2B_DOMAIN", "Portal:Domain"),
        ("PORTAL_RUNTIME", "Portal:Runtime"),
        ("PORTAL_TRANSPORT", "Portal:Transport"),
        ("PORTAL_TEMPLATES_DIR", "Portal:LocalRuntime:TemplatesDirectory"),
        ("PORTAL_ENVD_PATH", "Portal:LocalRuntime:EnvdPath"),
        ("PORTAL_NETWORK_UPLINK", "Portal:LocalRuntime:Network:Uplink"),
        ("PORTAL_TLS_CERT", "Portal:Tls:CertificatePath"),
        ("PORTAL_TLS_KEY", "Portal:Tls:KeyPath"),
        ("KUBECONFIG", "Portal:Kubernetes:Kubeconfig"),
    ];

    /// <summary>Where the operator's settings file is looked for unless <c>PORTAL_SETTINGS</c> names one
    /// (the manifests mount the ConfigMap made from the repository's appsettings.json here).</summary>
    public const string DefaultSettingsFile = "/etc/sandbox-portal/appsettings.json";

    /// <summary>
    /// The operator's settings (the repository's appsettings.json: templates, Kubernetes, limits)
    /// over the built-in defaults beside the binary, under environment variables and arguments.
    /// A file named by PORTAL_SETTINGS must exist; the default place is read when present.
    /// </summary>
    private static void AddOperatorSettings(ConfigurationManager configuration)
    {
        var named = Environment.GetEnvironmentVariable("PORTAL_SETTINGS");
        var path = string.IsNullOrEmpty(named) ? DefaultSettingsFile : Path.GetFullPath(named);
        if (!File.Exists(path))
        {
            if (named is { Length: > 0 }) throw new InvalidOperationException($"PORTAL_SETTINGS names '{named}', which does not exist");
            return;
        }
        var sources = (IList<IConfigurationSource>)configuration.Sources;
        var last = sources.Select((s, i) => (s, i)).LastOrDefault(x => x.s is Microsoft.Extensions.Configuration.Json.JsonConfigurationSource).i;
        var source = new Microsoft.Extensions.Configuration.Json.JsonConfigurationSource { Path = path, Optional = false, ReloadOnChange = false };
        source.ResolveFileProvider();
        sources.Insert(last + 1, source);
    }

    public static WebApplication Build(string[] args, Action<WebApplicationBuilder>? configure = null)
    {
        // appsettings.json ships beside the binary: read it from there, whatever the working directory.
        // The application is Portal.Web whatever executable hosts it (tests): its static web assets
        // (the dashboard's, MudBlazor's) are found by that name.
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions
        {
            Args = args,
            ContentRootPath = AppContext.BaseDirectory,
            ApplicationName = typeof(PortalWebApplication).Assembly.GetName().Name,
        });
        // Static web assets from the build output too (not only in Development): a published
        // app has them in wwwroot and this finds no manifest.
        builder.WebHost.UseStaticWebAssets();
        AddOperatorSettings(builder.Configuration);
        var mapped = new Dictionary<string, string?>();
        foreach (var (env, key) in EnvironmentKeys)
            if (builder.Configuration[key] is null && Environment.GetEnvironmentVariable(env) is { Length: > 0 } v)
                mapped[key] = v;
        // PORTAL_EXTRA_HOSTS=a,b → Portal:Routing:ExtraHosts:0, :1 (unless configured otherwise).
        if (!builder.Configuration.GetSection("Portal:Routing:ExtraHosts").GetChildren().Any()
            && Environment.GetEnvironmentVariable("PORTAL_EXTRA_HOSTS") is { Length: > 0 } extra)
        {
            var hosts = extra.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            for (var i = 0; i < hosts.Length; i++) mapped[$"Portal:Routing:ExtraHosts:{i}"] = hosts[i];
        }
        builder.Configuration.AddInMemoryCollection(mapped);
        if (builder.Configuration["urls"] is null && Environment.GetEnvironmentVariable("ASPNETCORE_URLS") is null
            && Environment.GetEnvironmentVariable("ASPNETCORE_HTTP_PORTS") is null)
            builder.WebHost.UseUrls($"http://0.0.0.0:{DefaultPort}");
        // The proxy streams uploads of any size; control-plane bodies are limited by ApiRequest.
        builder.WebHost.ConfigureKestrel(k => k.Limits.MaxRequestBodySize = null);
        // Kestrel:Limits:* from configuration (e.g. KeepAliveTimeout), which the fast path honours too.
        builder.WebHost.ConfigureKestrel((ctx, k) => ctx.Configuration.GetSection("Kestrel:Limits").Bind(k.Limits));
        // With inline socket completions (InlineIo), Kestrel runs the request on the thread that
        // completed its read too, instead of one more hop per request; SandboxProxy moves everything
        // but proxied traffic to the thread pool.
        // Reads go straight into a buffer instead of a zero-byte read first: one receive call per
        // request instead of two (each idle keep-alive connection holds a 4 KB block meanwhile).
        builder.WebHost.UseSockets(o =>
        {
            o.UnsafePreferInlineScheduling = InlineIo.Enabled;
            o.WaitForDataBeforeAllocatingBuffer = false;
        });
        // https:// URLs serve Portal:Tls (PORTAL_TLS_CERT / PORTAL_TLS_KEY), reloaded when the files change.
        builder.WebHost.ConfigureKestrel((ctx, k) => PortalTls.ConfigureHttps(k, ctx.Configuration));
        // Sandbox requests on plain-HTTP connections: Http1ConnectionProxy, before Kestrel's HTTP
        // layer (endpoint defaults come before TLS, so a TLS connection is handed on untouched).
        // Inside it, Kestrel's own refusals (414, 431, malformed heads) get the E2B error body.
        builder.WebHost.ConfigureKestrel((ctx, k) =>
        {
            var fastPath = ctx.Configuration.GetValue(ProxyOptions.Section + ":" + nameof(ProxyOptions.FastPath), true);
            var httpsPorts = PortalTls.HttpsPorts(ctx.Configuration);
            k.ConfigureEndpointDefaults(listen =>
            {
                if (fastPath)
                {
                    Http1ConnectionProxy? fast = null;
                    listen.Use(next => connection =>
                        (fast ??= k.ApplicationServices.GetRequiredService<Http1ConnectionProxy>()).RunAsync(connection, next));
                }
                // TLS added here (Kestrel then does not add it again) so the next middleware sees plain HTTP.
                if (listen.IPEndPoint is { } ep && httpsPorts.Contains(ep.Port)) listen.UseHttps();
                listen.Use(KestrelRejections.Middleware);
            });
        });

        configure?.Invoke(builder);
        // TCP endpoints on the portal's epoll transport unless Portal:Transport says "sockets" (an
        // unknown value fails at start, from PortalOptionsValidator). Registered last, so Kestrel
        // asks it first; it leaves Unix-socket endpoints to the socket transport.
        if (PortalOptions.UsesEpoll(builder.Configuration["Portal:Transport"]))
            builder.Services.AddSingleton<IConnectionListenerFactory, EpollTransportFactory>();
        AddPortal(builder.Services, builder.Configuration);

        var app = builder.Build();
        UsePortal(app);
        return app;
    }

    public static void AddPortal(IServiceCollection services, IConfiguration config)
    {
        services.AddOptions<PortalOptions>().Bind(config.GetSection(PortalOptions.Section)).ValidateOnStart();
        services.AddOptions<SandboxOptions>().Bind(config.GetSection(SandboxOptions.Section)).ValidateOnStart();
        services.AddOptions<ProxyOptions>().Bind(config.GetSection(ProxyOptions.Section)).ValidateOnStart();
        services.AddSingleton<IValidateOptions<PortalOptions>, PortalOptionsValidator>();
        services.AddSingleton<IValidateOptions<SandboxOptions>, SandboxOptionsValidator>();
        services.AddSingleton<IValidateOptions<ProxyOptions>, ProxyOptionsValidator>();
        services.AddOptions<WebhookOptions>().Bind(config.GetSection(WebhookOptions.Section)).ValidateOnStart();
        services.AddSingleton<IValidateOptions<WebhookOptions>, WebhookOptionsValidator>();
        services.AddPortalTls(config);
        services.AddPortalAuthentication(config);
        services.AddDashboard();

        services.AddProblemDetails();
        services.ConfigureHttpJsonOptions(o =>
        {
            o.SerializerOptions.DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull;
            o.SerializerOptions.Converters.Add(new Rfc3339Converter());
        });

        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<IPortalStore>(sp =>
        {
            var o = sp.GetRequiredService<IOptions<PortalOptions>>().Value;
            return EfPortalStore.Open(o.Database, o.DatabasePath);
        });
        services.AddSingleton<PortalTelemetry>();
        services.AddSingleton<ApiKeyService>();
        services.AddSingleton<SandboxChangeStream>();
        services.AddSingleton<SandboxService>();
        services.AddTemplates(config);
        services.AddSingleton<Portal.Core.Snapshots.SnapshotService>();
        services.AddSandboxRuntime(config);
        services.AddTemplateImages(config);
        services.AddSingleton<WebhookDispatcher>();
        services.AddSingleton<WebhookService>();

        services.AddHttpForwarder();
        services.AddSingleton<SandboxConnections>();
        services.AddSingleton<UpstreamPool>();
        services.AddSingleton<Http1Forwarder>();
        services.AddSingleton<Http1ConnectionProxy>();
        services.AddSingleton<SandboxProxy>();
        services.AddSingleton(sp =>
        {
            var o = sp.GetRequiredService<IOptions<PortalOptions>>().Value;
            return new RequestRouter(o.Domain, o.Routing.ExtraHosts);
        });

        // Order matters: the initializer finishes before the others start and before Kestrel listens.
        // The store decides leases unless the runtime brought its own arbiter (a Kubernetes Lease).
        services.TryAddSingleton<Portal.Core.Coordination.ILeaseArbiter, Portal.Core.Coordination.StoreLeaseArbiter>();
        services.AddSingleton<Portal.Core.Coordination.LeaderLease>();
        services.AddSingleton<PortalInitializer>();
        services.AddHostedService(sp => sp.GetRequiredService<PortalInitializer>());
        services.AddHostedService<ReplicaHeartbeat>();
        services.AddHostedService<DeadlineEnforcer>();
        services.AddHostedService<MetricsSampler>();
        services.AddHostedService<RuntimeEventFollower>();
        services.AddHostedService<EventRetention>();
        services.AddHostedService<ReplicaSync>();
        services.AddHostedService<WarmPoolLeader>();
        services.AddHostedService<WebhookDeliveryService>();
        services.AddHostedService<SnapshotSweeper>();
        services.AddHostedService<TemplateFilesSweeper>();
    }

    public static void UsePortal(WebApplication app)
    {
        // Routed sandbox traffic first: it must pass through untouched by the API's error pages.
        // Resolved on first use, so startup validation (options, runtime) reports first.
        SandboxProxy? proxy = null;
        app.Use((ctx, next) =>
        {
            KestrelRejections.Track(ctx);
            return (proxy ??= app.Services.GetRequiredService<SandboxProxy>()).InvokeAsync(ctx, next);
        });
        app.UseApiErrors();
        // Endpoints are matched after the router rewrote /kruise/api/... to /...
        app.UseRouting();
        app.UseAuthentication();
        app.UseAuthorization();

        app.MapGet("/health", (PortalInitializer init) => init.Ready
            ? Results.Ok(new { status = "ok" })
            : ApiErrors.Result(503, "starting"));
        app.MapPrometheusMetrics();
        app.MapPortalConfig();
        MapControlPlane(app);
        app.MapDashboard();
    }

    private static void MapControlPlane(IEndpointRouteBuilder root)
    {
        root.MapSandboxesApi();
        root.MapSnapshotsApi();
        root.MapApiKeysApi();
        root.MapTeamsApi();
        root.MapEventsApi();
        root.MapWebhooksApi();
        root.MapTemplatesApi();
    }
}
