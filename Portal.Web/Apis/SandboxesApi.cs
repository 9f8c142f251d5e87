using System.Text.Json;
using Microsoft.Extensions.Options;
using Portal.Core;
using Portal.Core.Runtime;
using Portal.Core.Sandboxes;
using Portal.Web.Options;
using Portal.Web.Routing;
using Portal.Web.Auth;

namespace Portal.Web.Apis;

/// <summary>The E2B sandbox routes, v1 and v2 (docs/api.md).</summary>
public static class SandboxesApi
{
    public static IEndpointRouteBuilder MapSandboxesApi(this IEndpointRouteBuilder root)
    {
        var v1 = root.MapGroup("/sandboxes").RequireCaller().WithTags("sandboxes");
        v1.MapPost("", CreateV1);
        v1.MapGet("", ListV1);
        v1.MapGet("/metrics", ManyMetrics);
        v1.MapGet("/{sandboxID}", Get);
        v1.MapDelete("/{sandboxID}", Kill);
        v1.MapPost("/{sandboxID}/timeout", SetTimeout);
        v1.MapPost("/{sandboxID}/pause", Pause);
        v1.MapPost("/{sandboxID}/resume", Resume);
        v1.MapPost("/{sandboxID}/connect", Connect);
        v1.MapPut("/{sandboxID}/network", UpdateNetwork);
        v1.MapPost("/{sandboxID}/refreshes", Refresh);
        v1.MapGet("/{sandboxID}/metrics", Metrics);
        v1.MapGet("/{sandboxID}/logs", LogsV1);

        var v2 = root.MapGroup("/v2/sandboxes").RequireCaller().WithTags("sandboxes");
        v2.MapPost("", CreateV2);
        v2.MapGet("", ListV2);
        v2.MapPost("/{sandboxID}/connect", Connect);
        v2.MapGet("/{sandboxID}/logs", LogsV2);
        return root;
    }

    /// <summary>The domain the request was addressed under: E2B_DOMAIN, else derived from its host.</summary>
    internal static string? Domain(HttpContext ctx)
    {
        if (ctx.Features.Get<RouteDecision>() is { Domain: { Length: > 0 } routed }) return routed;
        var d = ctx.RequestServices.GetRequiredService<IOptions<PortalOptions>>().Value.Domain;
        return string.IsNullOrWhiteSpace(d) ? null : d;
    }

    // ---------------------------------------------------------------- create

    private static Task<IResult> CreateV1(HttpContext ctx, SandboxService svc) => Create(ctx, svc, v1: true);
    private static Task<IResult> CreateV2(HttpContext ctx, SandboxService svc) => Create(ctx, svc, v1: false);

    private static async Task<IResult> Create(HttpContext ctx, SandboxService svc, bool v1)
    {
        var body = await ApiRequest.ReadBodyAsync<NewSandboxBody>(ctx);
        if (string.IsNullOrWhiteSpace(body.TemplateId))
            throw DomainException.InvalidArgument("'templateID' is required");
        ValidateMap(body.Metadata, "metadata");
        ValidateMap(body.EnvVars, "envVars");
        var network = body.Network ?? new NetworkBody();
        RefuseUnsupported(network.Rules, network.EgressProxy, "network.egressProxy");
        if (network.HttpsPorts is { Count: > 0 })
            throw DomainException.InvalidArgument("network.httpsPorts is not supported by this portal: the proxy reaches sandbox ports over plain HTTP");
        var lifecycle = body.Lifecycle;
        if (lifecycle?.OnTimeout is not (null or "kill" or "pause"))
            throw DomainException.InvalidArgument($"'lifecycle.onTimeout' must be 'kill' or 'pause' (got '{lifecycle!.OnTimeout}')");
        if (body.AutoPause is { } ap && lifecycle?.OnTimeout is { } on && ap != (on == "pause"))
            throw DomainException.InvalidArgument("'autoPause' and 'lifecycle.onTimeout' disagree");
        if (body.AutoResume?.Enabled is { } ar && lifecycle?.AutoResume is { } lar && ar != lar)
            throw DomainException.InvalidArgument("'autoResume.enabled' and 'lifecycle.autoResume' disagree");
        var autoPause = body.AutoPause ?? lifecycle?.OnTimeout == "pause";
        var rec = await svc.CreateAsync(ctx.Caller(), new CreateSandboxCommand
        {
            Template = body.TemplateId,
            TimeoutSeconds = body.Timeout,
            IsV1 = v1,
            Metadata = body.Metadata ?? [],
            EnvVars = body.EnvVars ?? [],
            Secure = !v1 || body.Secure == true,
            AutoPause = autoPause,
            // Only meaningful with autoPause; kept either way so the detail shows what was asked.
            AutoPauseFilesystem = body.AutoPauseMemory == false,
            AutoResume = body.AutoResume?.Enabled ?? lifecycle?.AutoResume ?? false,
            AllowInternetAccess = body.AllowInternetAccess ?? true,
            Network = new SandboxNetworkSettings
            {
                AllowOut = network.AllowOut, DenyOut = network.DenyOut, AllowPublicTraffic = network.AllowPublicTraffic,
                MaskRequestHost = network.MaskRequestHost, AllowInternetAccess = body.AllowInternetAccess,
            },
        }, ctx.RequestAborted);
        return TypedResults.Json(SandboxDto.From(rec, Domain(ctx)), statusCode: StatusCodes.Status201Created);
    }

    /// <summary>
    /// Header rules and a bring-your-own egress proxy need a MITM / SOCKS egress path this portal
    /// does not have: refused as E2B's open-source server refuses them, never accepted and ignored.
    /// </summary>
    private static void RefuseUnsupported(JsonElement? rules, JsonElement? egressProxy, string proxyField)
    {
        if (egressProxy is { ValueKind: not JsonValueKind.Null })
            throw DomainException.PermissionDenied($"Egress proxy ({proxyField}) is not enabled for this team.");
        if (rules is { ValueKind: JsonValueKind.Object } r && r.EnumerateObject().Any())
            throw DomainException.InvalidArgument("Network rules (header transforms) are not supported by this portal.");
    }

    /// <summary>PUT /sandboxes/{id}/network: full replace of the egress rules; 204.</summary>
    private static async Task<IResult> UpdateNetwork(HttpContext ctx, SandboxService svc, string sandboxID)
    {
        var body = await ApiRequest.ReadBodyAsync(ctx, () => new NetworkUpdateBody());
        RefuseUnsupported(body.Rules, body.EgressProxy, "egressProxy");
        await svc.UpdateNetworkAsync(ctx.Caller(), sandboxID, body.AllowOut, body.DenyOut, body.AllowInternetAccess, ctx.RequestAborted);
        return TypedResults.NoContent();
    }

    private static void ValidateMap(Dictionary<string, string>? map, string field)
    {
        if (map is null) return;
        if (map.Count > 1000) throw DomainException.InvalidArgument($"'{field}' has more than 1000 entries");
        foreach (var (k, v) in map)
        {
            if (string.IsNullOrEmpty(k)) throw DomainException.InvalidArgument($"'{field}' has an empty key");
            if (v is null) throw DomainException.InvalidArgument($"'{field}.{k}' must be a string, not null");
        }
    }

    // ---------------------------------------------------------------- list & read

    private static IResult ListV1(HttpContext ctx, SandboxService svc)
    {
        var page = svc.List(ctx.Caller(), new SandboxListQuery
        {
            Metadata = MetadataFilter.Parse(ApiRequest.Query(ctx, "metadata")),
            States = new HashSet<SandboxStatus> { SandboxStatus.Running },
        });
        return TypedResults.Ok(page.Items.Select(ListedSandboxDto.From).ToList());
    }

    private static IResult ListV2(HttpContext ctx, SandboxService svc)
    {
        var order = ApiRequest.Query(ctx, "order");
        if (order is not (null or "asc" or "desc"))
            throw DomainException.InvalidArgument($"query parameter 'order' must be 'asc' or 'desc' (got '{order}')");
        var page = svc.List(ctx.Caller(), new SandboxListQuery
        {
            Metadata = MetadataFilter.Parse(ApiRequest.Query(ctx, "metadata")),
            States = ParseStates(ctx),
            Ascending = order == "asc",
            StartedAfter = ApiRequest.QueryTime(ctx, "startedAfter"),
            Template = ApiRequest.Query(ctx, "template"),
            Limit = ApiRequest.QueryInt(ctx, "limit", 1, 100) ?? 100,
            NextToken = ApiRequest.Query(ctx, "nextToken"),
        });
        if (page.NextToken is not null) ctx.Response.Headers["X-Next-Token"] = page.NextToken;
        return TypedResults.Ok(page.Items.Select(ListedSandboxDto.From).ToList());
    }

    private static HashSet<SandboxStatus> ParseStates(HttpContext ctx)
    {
        var values = ctx.Request.Query["state"];
        var states = new HashSet<SandboxStatus>();
        foreach (var v in values)
            foreach (var part in (v ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
                states.Add(part switch
                {
                    "running" => SandboxStatus.Running,
                    "paused" => SandboxStatus.Paused,
                    _ => throw DomainException.InvalidArgument($"query parameter 'state' must be 'running', 'paused' or both comma-joined (got '{part}')"),
                });
        return states.Count == 0 ? [SandboxStatus.Running, SandboxStatus.Paused] : states;
    }

    private static async Task<IResult> Get(HttpContext ctx, SandboxService svc, string sandboxID) =>
        TypedResults.Ok(SandboxDetailDto.From(await svc.GetAsync(ctx.Caller(), sandboxID, ctx.RequestAborted), Domain(ctx)));

    // ---------------------------------------------------------------- lifecycle

    private static async Task<IResult> Kill(HttpContext ctx, SandboxService svc, string sandboxID)
    {
        await svc.KillAsync(ctx.Caller(), sandboxID, ctx.RequestAborted);
        return TypedResults.NoContent();
    }

    private static async Task<IResult> SetTimeout(HttpContext ctx, SandboxService svc, string sandboxID)
    {
        var body = await ApiRequest.ReadBodyAsync<TimeoutBody>(ctx);
        await svc.SetTimeoutAsync(ctx.Caller(), sandboxID, body.Timeout, ctx.RequestAborted);
        return TypedResults.NoContent();
    }

    private static async Task<IResult> Pause(HttpContext ctx, SandboxService svc, string sandboxID)
    {
        var body = await ApiRequest.ReadBodyAsync(ctx, () => new PauseBody());
        await svc.PauseAsync(ctx.Caller(), sandboxID, body.Memory == false ? SandboxPauseMode.Filesystem : SandboxPauseMode.Memory, ctx.RequestAborted);
        return TypedResults.NoContent();
    }

    private static async Task<IResult> Resume(HttpContext ctx, SandboxService svc, string sandboxID)
    {
        var body = await ApiRequest.ReadBodyAsync(ctx, () => new ResumeBody());
        var rec = await svc.ResumeAsync(ctx.Caller(), sandboxID, body.Timeout, body.AutoPause, ctx.RequestAborted);
        return TypedResults.Json(SandboxDto.From(rec, Domain(ctx)), statusCode: StatusCodes.Status201Created);
    }

    private static async Task<IResult> Connect(HttpContext ctx, SandboxService svc, string sandboxID)
    {
        var body = await ApiRequest.ReadBodyAsync(ctx, () => new ConnectBody());
        var (rec, resumed) = await svc.ConnectAsync(ctx.Caller(), sandboxID, body.Timeout, ctx.RequestAborted);
        return TypedResults.Json(SandboxDto.From(rec, Domain(ctx)), statusCode: resumed ? StatusCodes.Status201Created : StatusCodes.Status200OK);
    }

    private static async Task<IResult> Refresh(HttpContext ctx, SandboxService svc, string sandboxID)
    {
        var body = await ApiRequest.ReadBodyAsync(ctx, () => new RefreshBody());
        await svc.RefreshAsync(ctx.Caller(), sandboxID, body.Duration, ctx.RequestAborted);
        return TypedResults.NoContent();
    }

    // ---------------------------------------------------------------- metrics & logs

    private static async Task<IResult> Metrics(HttpContext ctx, SandboxService svc, string sandboxID)
    {
        var start = ApiRequest.UnixSeconds(ctx, "start");
        var end = ApiRequest.UnixSeconds(ctx, "end");
        if (start is not null && end is not null && start > end)
            throw DomainException.InvalidArgument("query parameter 'start' must not be after 'end'");
        // 'end' is a whole second: include samples taken during it.
        var samples = await svc.GetMetricsAsync(ctx.Caller(), sandboxID, start, end?.AddSeconds(1).AddTicks(-1), ctx.RequestAborted);
        return TypedResults.Ok(samples.Select(SandboxMetricDto.From).ToList());
    }

    private static async Task<IResult> ManyMetrics(HttpContext ctx, SandboxService svc)
    {
        var ids = (ApiRequest.Query(ctx, "sandbox_ids") ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (ids.Length == 0) throw DomainException.InvalidArgument("query parameter 'sandbox_ids' is required (comma-separated sandbox IDs)");
        if (ids.Length > 100) throw DomainException.InvalidArgument("query parameter 'sandbox_ids' names more than 100 sandboxes");
        var result = new Dictionary<string, SandboxMetricDto>();
        foreach (var id in ids.Distinct())
        {
            IReadOnlyList<SandboxMetricSample> samples;
            try { samples = await svc.GetMetricsAsync(ctx.Caller(), id, null, null, ctx.RequestAborted); }
            catch (DomainException e) when (e.Kind == DomainErrorKind.NotFound) { continue; }
            if (samples.Count > 0) result[id] = SandboxMetricDto.From(samples[^1]);
        }
        return TypedResults.Ok(new { sandboxes = result });
    }

    private static async Task<IResult> LogsV1(HttpContext ctx, SandboxService svc, string sandboxID)
    {
        var start = ApiRequest.QueryLong(ctx, "start", 0, 253402300799999);
        var limit = ApiRequest.QueryInt(ctx, "limit", 1, 1000) ?? 1000;
        var entries = await svc.GetLogsAsync(ctx.Caller(), sandboxID, start is { } s ? DateTimeOffset.FromUnixTimeMilliseconds(s) : null, limit, false, ctx.RequestAborted);
        return TypedResults.Ok(new
        {
            logs = entries.Select(e => new LogLineDto(e.Timestamp, e.Message)).ToList(),
            logEntries = entries.Select(LogEntryDto.From).ToList(),
        });
    }

    private static async Task<IResult> LogsV2(HttpContext ctx, SandboxService svc, string sandboxID)
    {
        var cursor = ApiRequest.QueryLong(ctx, "cursor", 0, 253402300799999);
        var limit = ApiRequest.QueryInt(ctx, "limit", 1, 1000) ?? 1000;
        var direction = ApiRequest.Query(ctx, "direction") ?? "forward";
        if (direction is not ("forward" or "backward"))
            throw DomainException.InvalidArgument($"query parameter 'direction' must be 'forward' or 'backward' (got '{direction}')");
        var level = ApiRequest.Query(ctx, "level");
        var minLevel = level is null ? 0 : LevelRank(level) ?? throw DomainException.InvalidArgument($"query parameter 'level' must be debug, info, warn or error (got '{level}')");
        var search = ApiRequest.Query(ctx, "search");
        var entries = await svc.GetLogsAsync(ctx.Caller(), sandboxID, cursor is { } c ? DateTimeOffset.FromUnixTimeMilliseconds(c) : null, 10_000, direction == "backward", ctx.RequestAborted);
        var selected = entries
            .Where(e => (LevelRank(e.Level) ?? 1) >= minLevel)
            .Where(e => search is null || e.Message.Contains(search, StringComparison.OrdinalIgnoreCase))
            .Take(limit)
            .Select(LogEntryDto.From)
            .ToList();
        return TypedResults.Ok(new { logs = selected });
    }

    private static int? LevelRank(string level) => level switch
    {
        "debug" => 0, "info" => 1, "warn" => 2, "error" => 3, _ => null,
    };
}
