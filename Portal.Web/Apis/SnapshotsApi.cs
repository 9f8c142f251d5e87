using System.Text.Json.Serialization;
using Portal.Core;
using Portal.Core.Snapshots;
using Portal.Web.Auth;

namespace Portal.Web.Apis;

/// <summary>
/// E2B's snapshots and forks (docs/snapshots.md): POST /sandboxes/{id}/snapshots, GET /snapshots,
/// POST /sandboxes/{id}/fork, and a snapshot's deletion through DELETE /templates/{id}; also under /kruise/api.
/// </summary>
public static class SnapshotsApi
{
    /// <summary>
    /// Says how the forks of a <c>POST /sandboxes/{id}/fork</c> started: <c>filesystem</c> (booted fresh
    /// from a copy of the source's files; processes and memory not kept) or <c>memory</c> (kept). E2B's
    /// answer has no field for it; this header is the portal's own.
    /// </summary>
    public const string ForkStateHeader = "X-Portal-Fork-State";

    public static IEndpointRouteBuilder MapSnapshotsApi(this IEndpointRouteBuilder root)
    {
        var g = root.MapGroup("").RequireCaller().WithTags("snapshots");
        g.MapPost("/sandboxes/{sandboxID}/snapshots", Create);
        g.MapPost("/sandboxes/{sandboxID}/fork", Fork);
        g.MapGet("/snapshots", List);
        return root;
    }

    private static async Task<IResult> Create(HttpContext ctx, SnapshotService snapshots, string sandboxID)
    {
        var body = await ApiRequest.ReadBodyAsync(ctx, () => new SnapshotBody());
        var snap = await snapshots.CreateAsync(ctx.Caller(), sandboxID, body.Name, ctx.RequestAborted);
        return TypedResults.Json(SnapshotInfoDto.From(snap), statusCode: StatusCodes.Status201Created);
    }

    private static async Task<IResult> List(HttpContext ctx, SnapshotService snapshots)
    {
        var page = await snapshots.ListAsync(ctx.Caller(),
            ApiRequest.Query(ctx, "sandboxID"),
            ApiRequest.Query(ctx, "name"),
            ApiRequest.QueryInt(ctx, "limit", 1, 100) ?? 100,
            ApiRequest.Query(ctx, "nextToken"),
            ctx.RequestAborted);
        if (page.NextToken is not null) ctx.Response.Headers["X-Next-Token"] = page.NextToken;
        return TypedResults.Ok(page.Items.Select(SnapshotInfoDto.From).ToList());
    }

    private static async Task<IResult> Fork(HttpContext ctx, SnapshotService snapshots, string sandboxID)
    {
        var body = await ApiRequest.ReadBodyAsync(ctx, () => new ForkBody());
        var result = await snapshots.ForkAsync(ctx.Caller(), sandboxID, body.Count, body.Timeout, ctx.RequestAborted);
        ctx.Response.Headers[ForkStateHeader] = result.MemoryKept ? "memory" : "filesystem";
        var domain = SandboxesApi.Domain(ctx);
        var items = result.Forks.Select(f => f.Sandbox is { } s
            ? new ForkResultDto { Sandbox = SandboxDto.From(s, domain) }
            : new ForkResultDto { Error = new ErrorBody(ApiErrors.StatusOf(f.Error!.Kind), f.Error.Message) }).ToList();
        return TypedResults.Json(items, statusCode: StatusCodes.Status201Created);
    }

    /// <summary>
    /// DELETE /templates/{id} as far as snapshots go (TemplatesApi's handler asks this first): true
    /// when it named one of the caller's snapshots and it is deleted, false when it names no snapshot;
    /// another team's snapshot is a 403 (<see cref="DomainException"/>).
    /// </summary>
    public static Task<bool> TryDeleteSnapshotAsync(HttpContext ctx, string templateID) =>
        ctx.RequestServices.GetRequiredService<SnapshotService>().TryDeleteAsync(ctx.Caller(), templateID, ctx.RequestAborted);
}

/// <summary>Body of POST /sandboxes/{id}/snapshots.</summary>
public sealed class SnapshotBody
{
    [JsonPropertyName("name")] public string? Name { get; set; }
}

/// <summary>Body of POST /sandboxes/{id}/fork.</summary>
public sealed class ForkBody
{
    [JsonPropertyName("count")] public long? Count { get; set; }
    [JsonPropertyName("timeout")] public long? Timeout { get; set; }
}

/// <summary>E2B's <c>SnapshotInfo</c>.</summary>
public sealed record SnapshotInfoDto
{
    [JsonPropertyName("snapshotID")] public required string SnapshotId { get; init; }
    [JsonPropertyName("names")] public required IReadOnlyList<string> Names { get; init; }

    public static SnapshotInfoDto From(SnapshotRecord s) => new() { SnapshotId = s.PublicId, Names = s.Names };
}

/// <summary>E2B's <c>SandboxForkResult</c>: exactly one of the two is set.</summary>
public sealed record ForkResultDto
{
    [JsonPropertyName("sandbox")] public SandboxDto? Sandbox { get; init; }
    [JsonPropertyName("error")] public ErrorBody? Error { get; init; }
}
