using Microsoft.Extensions.Primitives;
using Portal.Core;
using Portal.Core.Persistence;
using Portal.Core.Sandboxes;
using Portal.Web.Auth;

namespace Portal.Web.Apis;

/// <summary>
/// E2B's lifecycle events API: <c>GET /events/sandboxes</c> (the caller's team; an admin: every
/// team) and <c>GET /events/sandboxes/{sandboxID}</c> (also after the sandbox was killed, within
/// retention), with <c>offset</c>, <c>limit</c> (1..100, default 10), <c>orderAsc</c> and
/// repeatable <c>types</c>. The body is a bare array of the events as stored.
/// </summary>
public static class EventsApi
{
    public static IEndpointRouteBuilder MapEventsApi(this IEndpointRouteBuilder root)
    {
        var g = root.MapGroup("/events/sandboxes").RequireCaller().WithTags("events");
        g.MapGet("", (HttpContext ctx, SandboxService svc) => ListAsync(ctx, svc, null));
        g.MapGet("/{sandboxID}", (HttpContext ctx, SandboxService svc, string sandboxID) => ListAsync(ctx, svc, sandboxID));
        return root;
    }

    private static async Task<IResult> ListAsync(HttpContext ctx, SandboxService svc, string? sandboxId)
    {
        var orderAsc = ApiRequest.Query(ctx, "orderAsc");
        if (orderAsc is not (null or "true" or "false"))
            throw DomainException.InvalidArgument($"query parameter 'orderAsc' must be 'true' or 'false' (got '{orderAsc}')");
        var types = new List<string>();
        foreach (var value in ctx.Request.Query["types"])
            foreach (var type in (value ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                if (!SandboxEvents.Types.Contains(type))
                    throw DomainException.InvalidArgument($"query parameter 'types': unknown event type '{type}' (known: {string.Join(", ", SandboxEvents.Types)})");
                types.Add(type);
            }
        var events = await svc.ListEventsAsync(ctx.Caller(), sandboxId, types,
            ApiRequest.QueryInt(ctx, "offset", 0, int.MaxValue) ?? 0,
            ApiRequest.QueryInt(ctx, "limit", 1, 100) ?? 10,
            orderAsc == "true", ctx.RequestAborted);
        // The events are stored as the JSON clients get: one array of them, no re-serialising.
        return Results.Text("[" + string.Join(",", events.Select(e => e.Json)) + "]", "application/json");
    }
}
