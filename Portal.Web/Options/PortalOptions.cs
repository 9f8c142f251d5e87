using Microsoft.Extensions.Options;
using Portal.Core.Auth;
using Portal.Core.Sandboxes;

namespace Portal.Web.Options;

/// <summary>Configuration section <c>Portal</c> (environment: PORTAL_DATA_DIR, PORTAL_ADMIN_API_KEY, E2B_DOMAIN, PORTAL_RUNTIME).</summary>
public sealed class PortalOptions
{
    public const string Section = "Portal";
    public const string DefaultDataDir = "/var/lib/sandbox-portal";

    /// <summary>Where the SQLite database (unless <see cref="Database"/> names another) and <c>admin-api-key</c> live.</summary>
    public string DataDir { get; set; } = DefaultDataDir;
    /// <summary>
    /// The shared store: an Npgsql connection string (<c>Host=db;Database=portal;Username=portal;Password=...</c>)
    /// puts the portal on PostgreSQL, which several replicas can share. Empty: SQLite in <see cref="DataDir"/>.
    /// </summary>
    public string? Database { get; set; }
    /// <summary>Seeds this admin key instead of generating one (<c>e2b_</c> + 40 lowercase hex).</summary>
    public string? AdminApiKey { get; set; }
    /// <summary>E2B domain returned in the <c>domain</c> field; empty = none (clients use their own setting).</summary>
    public string? Domain { get; set; }
    /// <summary>Which sandbox runtime to use: <c>local</c>.</summary>
    public string Runtime { get; set; } = "local";
    /// <summary>
    /// Kestrel's transport for TCP endpoints: <c>epoll</c> (the portal's own, Linux; see
    /// <c>Portal.Web/Transport</c>) or <c>sockets</c> (Kestrel's, on the runtime's socket engine).
    /// </summary>
    public string Transport { get; set; } = TransportEpoll;
    public const string TransportEpoll = "epoll", TransportSockets = "sockets";

    /// <summary>Whether <c>Portal:Transport</c> (unset: the default) puts the portal on its epoll transport here.</summary>
    public static bool UsesEpoll(string? transport) => OperatingSystem.IsLinux() && (transport ?? TransportEpoll) == TransportEpoll;
    /// <summary>Largest control-plane request body; larger ones get 413. The proxy is not limited.</summary>
    public long MaxApiBodyBytes { get; set; } = 1024 * 1024;
    /// <summary>Section <c>Portal:Routing</c>.</summary>
    public RoutingOptions Routing { get; set; } = new();

    public string DatabasePath => Path.Combine(DataDir, "portal.db");
    public string AdminKeyFile => Path.Combine(DataDir, "admin-api-key");
    public string AdminPasswordFile => Path.Combine(DataDir, "admin-password");
}

/// <summary>Configuration section <c>Portal:Routing</c>.</summary>
public sealed class RoutingOptions
{
    /// <summary>
    /// More names the portal answers to as its own host when <c>E2B_DOMAIN</c> is set (e.g. the
    /// in-cluster service name <c>sandbox-manager.sandbox-system.svc.cluster.local</c>): the API,
    /// the private <c>/kruise/...</c> paths and header routing, never native <c>P-S.host</c> names.
    /// Each is a host name, optionally with <c>:port</c> (then the Host header must carry that port).
    /// Environment: <c>PORTAL_EXTRA_HOSTS</c>, comma-separated.
    /// </summary>
    public List<string> ExtraHosts { get; set; } = [];
}

/// <summary>Configuration section <c>Portal:Proxy</c>.</summary>
public sealed class ProxyOptions
{
    public const string Section = "Portal:Proxy";

    /// <summary>A proxied request with no bytes either way for this long is cut (envd streams send keepalives every 50 s).</summary>
    public TimeSpan ActivityTimeout { get; set; } = TimeSpan.FromMinutes(10);
    /// <summary>Opening the byte stream to a sandbox port.</summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(10);
    /// <summary>Idle pooled connections to a sandbox are closed after this.</summary>
    public TimeSpan PooledConnectionIdleTimeout { get; set; } = TimeSpan.FromMinutes(1);
    /// <summary>
    /// Plain-HTTP connections carry sandbox requests through <c>Http1ConnectionProxy</c> (no
    /// per-request HttpContext); false sends everything through Kestrel's HTTP layer.
    /// </summary>
    public bool FastPath { get; set; } = true;
}

internal sealed class PortalOptionsValidator : IValidateOptions<PortalOptions>
{
    public ValidateOptionsResult Validate(string? name, PortalOptions o)
    {
        var errors = new List<string>();
        if (string.IsNullOrWhiteSpace(o.DataDir) || !Path.IsPathRooted(o.DataDir))
            errors.Add($"Portal:DataDir (env PORTAL_DATA_DIR) must be an absolute directory path (got '{o.DataDir}').");
        if (!string.IsNullOrWhiteSpace(o.Database))
        {
            string? why;
            try { why = string.IsNullOrWhiteSpace(new Npgsql.NpgsqlConnectionStringBuilder(o.Database).Host) ? "it names no Host" : null; }
            catch (ArgumentException e) { why = e.Message; }
            if (why is not null)
                errors.Add($"Portal:Database (env PORTAL_DATABASE) must be empty (SQLite in Portal:DataDir) or a PostgreSQL connection string such as 'Host=db;Database=portal;Username=portal;Password=...': {why}.");
        }
        if (!string.IsNullOrEmpty(o.AdminApiKey) && !ApiKeyFormat.IsWellFormed(o.AdminApiKey))
            errors.Add("Portal:AdminApiKey (env PORTAL_ADMIN_API_KEY) must be 'e2b_' followed by 40 lowercase hex digits.");
        if (o.MaxApiBodyBytes is < 1024 or > 64 * 1024 * 1024)
            errors.Add($"Portal:MaxApiBodyBytes must be between 1024 and 67108864 (got {o.MaxApiBodyBytes}).");
        if (string.IsNullOrWhiteSpace(o.Runtime))
            errors.Add("Portal:Runtime (env PORTAL_RUNTIME) must name a sandbox runtime, e.g. 'local'.");
        if (o.Transport is not (PortalOptions.TransportEpoll or PortalOptions.TransportSockets))
            errors.Add($"Portal:Transport (env PORTAL_TRANSPORT) must be '{PortalOptions.TransportEpoll}' or '{PortalOptions.TransportSockets}' (got '{o.Transport}').");
        if (!string.IsNullOrEmpty(o.Domain) && (o.Domain.Contains('/') || o.Domain.Contains(' ')))
            errors.Add($"Portal:Domain (env E2B_DOMAIN) must be a host name, optionally with ':port' (got '{o.Domain}').");
        for (var i = 0; i < o.Routing.ExtraHosts.Count; i++)
        {
            var host = o.Routing.ExtraHosts[i];
            var key = $"Portal:Routing:ExtraHosts:{i} (env PORTAL_EXTRA_HOSTS)";
            if (!Routing.RequestRouter.IsHostName(host))
                errors.Add($"{key} must be a host name, optionally with ':port', e.g. 'sandbox-manager.sandbox-system.svc.cluster.local' (got '{host}').");
            else if (!string.IsNullOrWhiteSpace(o.Domain) && Routing.RequestRouter.IsUnderDomain(host, o.Domain))
                errors.Add($"{key}: '{host}' is the domain '{o.Domain}' (Portal:Domain, env E2B_DOMAIN) or a name under it, which the portal already routes; list only other names.");
        }
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}

internal sealed class ProxyOptionsValidator : IValidateOptions<ProxyOptions>
{
    public ValidateOptionsResult Validate(string? name, ProxyOptions o)
    {
        var errors = new List<string>();
        if (o.ActivityTimeout <= TimeSpan.Zero) errors.Add($"Portal:Proxy:ActivityTimeout must be positive, e.g. '00:10:00' (got '{o.ActivityTimeout}').");
        if (o.ConnectTimeout <= TimeSpan.Zero) errors.Add($"Portal:Proxy:ConnectTimeout must be positive, e.g. '00:00:10' (got '{o.ConnectTimeout}').");
        if (o.PooledConnectionIdleTimeout <= TimeSpan.Zero) errors.Add($"Portal:Proxy:PooledConnectionIdleTimeout must be positive (got '{o.PooledConnectionIdleTimeout}').");
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}

internal sealed class SandboxOptionsValidator : IValidateOptions<SandboxOptions>
{
    public ValidateOptionsResult Validate(string? name, SandboxOptions o)
    {
        const string s = SandboxOptions.Section;
        var errors = new List<string>();
        if (o.MaxTimeoutSeconds < 1) errors.Add($"{s}:MaxTimeoutSeconds must be at least 1 (got {o.MaxTimeoutSeconds}).");
        if (o.DefaultTimeoutSeconds < 1 || o.DefaultTimeoutSeconds > o.MaxTimeoutSeconds)
            errors.Add($"{s}:DefaultTimeoutSeconds must be between 1 and {s}:MaxTimeoutSeconds ({o.MaxTimeoutSeconds}) (got {o.DefaultTimeoutSeconds}).");
        if (o.V1DefaultTimeoutSeconds < 1 || o.V1DefaultTimeoutSeconds > o.MaxTimeoutSeconds)
            errors.Add($"{s}:V1DefaultTimeoutSeconds must be between 1 and {s}:MaxTimeoutSeconds ({o.MaxTimeoutSeconds}) (got {o.V1DefaultTimeoutSeconds}).");
        if (o.DeadlineCheckInterval <= TimeSpan.Zero) errors.Add($"{s}:DeadlineCheckInterval must be positive, e.g. '00:00:01' (got '{o.DeadlineCheckInterval}').");
        if (o.ReaperLeaseDuration <= o.DeadlineCheckInterval * 2)
            errors.Add($"{s}:ReaperLeaseDuration must be more than twice {s}:DeadlineCheckInterval (the lease is renewed at each check; got '{o.ReaperLeaseDuration}' and '{o.DeadlineCheckInterval}').");
        if (o.MetricsSampleInterval <= TimeSpan.Zero) errors.Add($"{s}:MetricsSampleInterval must be positive, e.g. '00:00:05' (got '{o.MetricsSampleInterval}').");
        if (o.RuntimeCallTimeout <= TimeSpan.Zero) errors.Add($"{s}:RuntimeCallTimeout must be positive, e.g. '00:02:00' (got '{o.RuntimeCallTimeout}').");
        if (o.EventRetentionDays is < 1 or > 365) errors.Add($"{s}:EventRetentionDays must be between 1 and 365 (got {o.EventRetentionDays}).");
        if (o.MetricsHistorySize < 1) errors.Add($"{s}:MetricsHistorySize must be at least 1 (got {o.MetricsHistorySize}).");
        if (string.IsNullOrWhiteSpace(o.ClientId)) errors.Add($"{s}:ClientId must not be empty.");
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
