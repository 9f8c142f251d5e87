using System.Text.Json;
using Microsoft.AspNetCore.DataProtection;
using Portal.Core;
using Portal.Core.Templates;
using Portal.Web.Auth;
using Portal.Web.Routing;

namespace Portal.Web.Apis;

/// <summary>E2B's template routes: build, files, status, names and tags, list, publish, delete (docs/templates.md).</summary>
public static class TemplatesApi
{
    private const string EnvdVersion = "0.6.13";
    private const string UploadPurpose = "Portal.Templates.Upload";

    public static IEndpointRouteBuilder MapTemplatesApi(this IEndpointRouteBuilder root)
    {
        var v3 = root.MapGroup("/v3/templates").RequireCaller().WithTags("templates");
        v3.MapPost("", RequestBuild);

        var v2 = root.MapGroup("/v2/templates").RequireCaller().WithTags("templates");
        v2.MapGet("", ListPage);
        v2.MapPost("/{templateID}/builds/{buildID}", StartBuild);
        v2.MapPatch("/{templateID}", Publish);

        var v1 = root.MapGroup("/templates").RequireCaller().WithTags("templates");
        v1.MapGet("", List);
        v1.MapGet("/{templateID}", Get);
        v1.MapGet("/{templateID}/files/{hash}", Files);
        v1.MapGet("/{templateID}/builds/{buildID}/status", Status);
        v1.MapGet("/aliases/{alias}", Alias);
        v1.MapPost("/tags", AssignTags);
        v1.MapDelete("/tags", RemoveTags);
        v1.MapGet("/{templateID}/tags", Tags);
        v1.MapDelete("/{**templateID}", Delete); // one route for templates and snapshots (Sandbox.deleteSnapshot)

        // The SDK PUTs its archive to the URL it was given, with no API key: the URL's token is the authority.
        root.MapPut("/templates/{templateID}/files/{hash}/upload", Upload).AllowAnonymous().WithTags("templates");
        return root;
    }

    public static string StatusName(TemplateBuildStatus s) => s switch
    {
        TemplateBuildStatus.Waiting => "waiting",
        TemplateBuildStatus.Building => "building",
        TemplateBuildStatus.Ready => "ready",
        _ => "error",
    };

    private static async Task<IResult> RequestBuild(HttpContext ctx, TemplateService svc)
    {
        var body = await ApiRequest.ReadBodyAsync<TemplateBuildRequestBody>(ctx);
        var (template, build) = await svc.RequestBuildAsync(ctx.Caller(), body.Name ?? body.Alias, body.Tags, body.CpuCount, body.MemoryMB, ctx.RequestAborted);
        return TypedResults.Json(new TemplateRequestResponse(template.TemplateId, build.BuildId, template.Names, build.Tags, template.Names, template.Public),
            statusCode: StatusCodes.Status202Accepted);
    }

    private static async Task<IResult> Files(HttpContext ctx, TemplateService svc, IDataProtectionProvider protection, string templateID, string hash)
    {
        var caller = ctx.Caller();
        var present = await svc.FilesPresentAsync(caller, templateID, hash, ctx.RequestAborted);
        // Always a URL: the SDK uploads anyway when a step says forceUpload.
        var token = protection.CreateProtector(UploadPurpose).ToTimeLimitedDataProtector()
            .Protect($"{caller.TeamId}\n{templateID}\n{hash}", svc.Options.UploadUrlLifetime);
        var url = $"{BaseUrl(ctx)}/templates/{Uri.EscapeDataString(templateID)}/files/{hash}/upload?token={Uri.EscapeDataString(token)}";
        return TypedResults.Json(new TemplateFilesResponse(present, url, null), statusCode: StatusCodes.Status201Created);
    }

    /// <summary>
    /// The archive upload: the token names the team, template and hash it was issued for and
    /// expires; the body is streamed to disk under the size cap and checked before it is kept.
    /// </summary>
    private static async Task<IResult> Upload(HttpContext ctx, TemplateService svc, IDataProtectionProvider protection, string templateID, string hash)
    {
        string payload;
        try
        {
            payload = protection.CreateProtector(UploadPurpose).ToTimeLimitedDataProtector().Unprotect(ctx.Request.Query["token"].ToString());
        }
        catch (Exception e) when (e is System.Security.Cryptography.CryptographicException or FormatException)
        {
            return ApiErrors.Result(StatusCodes.Status403Forbidden, "the upload URL is invalid or expired: ask for a new one (GET /templates/{templateID}/files/{hash})");
        }
        var parts = payload.Split('\n');
        if (parts.Length != 3 || parts[1] != templateID || parts[2] != hash)
            return ApiErrors.Result(StatusCodes.Status403Forbidden, "the upload URL was issued for other files");
        try
        {
            await svc.UploadAsync(parts[0], hash, ctx.Request.Body, ctx.Request.ContentLength, ctx.RequestAborted);
        }
        catch (UploadTooLargeException e)
        {
            return ApiErrors.Result(StatusCodes.Status413PayloadTooLarge, e.Message);
        }
        return TypedResults.Ok();
    }

    private static async Task<IResult> StartBuild(HttpContext ctx, TemplateService svc, string templateID, string buildID)
    {
        using var body = await ApiRequest.ReadBodyAsync<JsonDocument>(ctx);
        await svc.StartBuildAsync(ctx.Caller(), templateID, buildID, body.RootElement, ctx.RequestAborted);
        return TypedResults.StatusCode(StatusCodes.Status202Accepted);
    }

    private static async Task<IResult> Status(HttpContext ctx, TemplateService svc, string templateID, string buildID)
    {
        var offset = Int(ctx, "logsOffset", 0);
        var limit = Int(ctx, "limit", 100);
        var level = ctx.Request.Query["level"].ToString() is { Length: > 0 } l ? l : null;
        var (build, logs) = await svc.GetStatusAsync(ctx.Caller(), templateID, buildID, offset, limit, level, ctx.RequestAborted);
        var reason = build.Status == TemplateBuildStatus.Error
            ? new BuildReasonDto(build.ReasonMessage ?? "the build failed", build.ReasonStep, null)
            : null;
        return TypedResults.Ok(new TemplateBuildInfoDto(templateID, buildID, StatusName(build.Status), logs.Select(BuildLogEntryDto.From).ToList(), [], reason));
    }

    private static async Task<IResult> Alias(HttpContext ctx, TemplateService svc, string alias)
    {
        var (id, isPublic) = await svc.FindAliasAsync(ctx.Caller(), alias, ctx.RequestAborted);
        return TypedResults.Ok(new TemplateAliasDto(id, isPublic));
    }

    private static async Task<IResult> AssignTags(HttpContext ctx, TemplateService svc)
    {
        var body = await ApiRequest.ReadBodyAsync<AssignTagsBody>(ctx);
        var (buildId, tags) = await svc.AssignTagsAsync(ctx.Caller(), body.Target, body.Tags, ctx.RequestAborted);
        return TypedResults.Json(new AssignedTagsDto(buildId, tags), statusCode: StatusCodes.Status201Created);
    }

    private static async Task<IResult> RemoveTags(HttpContext ctx, TemplateService svc)
    {
        var body = await ApiRequest.ReadBodyAsync<RemoveTagsBody>(ctx);
        await svc.RemoveTagsAsync(ctx.Caller(), body.Name, body.Tags, ctx.RequestAborted);
        return TypedResults.NoContent();
    }

    private static async Task<IResult> Tags(HttpContext ctx, TemplateService svc, string templateID)
    {
        var tags = await svc.GetTagsAsync(ctx.Caller(), templateID, ctx.RequestAborted);
        return TypedResults.Ok(tags.Select(t => new TemplateTagDto(t.Tag, t.BuildId, t.CreatedAt)).ToList());
    }

    /// <summary>
    /// DELETE /templates/{id}: a snapshot is a template to E2B's clients, named by ID or by
    /// <c>namespace/name:tag</c> (sent with its slash encoded), so snapshots are tried first.
    /// </summary>
    private static async Task<IResult> Delete(HttpContext ctx, TemplateService svc, string templateID)
    {
        var id = Uri.UnescapeDataString(templateID);
        if (await SnapshotsApi.TryDeleteSnapshotAsync(ctx, id)) return TypedResults.NoContent();
        await svc.DeleteAsync(ctx.Caller(), id, ctx.RequestAborted);
        return TypedResults.NoContent();
    }

    /// <summary>GET /templates (deprecated, what the CLI's <c>template list</c> calls): every template of the team.</summary>
    private static Task<IResult> List(HttpContext ctx, TemplateService svc) => ListAsync(ctx, svc, paged: false);

    /// <summary>GET /v2/templates: the same, a page at a time (<c>limit</c> 1..100, default 100; <c>X-Next-Token</c>).</summary>
    private static Task<IResult> ListPage(HttpContext ctx, TemplateService svc) => ListAsync(ctx, svc, paged: true);

    private static async Task<IResult> ListAsync(HttpContext ctx, TemplateService svc, bool paged)
    {
        var caller = ctx.Caller();
        if (ctx.Request.Query["teamID"].ToString() is { Length: > 0 } team && team != caller.TeamId)
            return ApiErrors.Result(StatusCodes.Status403Forbidden, $"You are not a member of team '{team}'");
        var (items, next) = paged
            ? await svc.ListAsync(caller, ApiRequest.QueryInt(ctx, "limit", 1, 100) ?? 100, ApiRequest.Query(ctx, "nextToken"), ctx.RequestAborted)
            : await svc.ListAsync(caller, null, null, ctx.RequestAborted);
        if (next is not null) ctx.Response.Headers["X-Next-Token"] = next;
        return TypedResults.Ok(items.Select(l => TemplateDto.From(l, EnvdVersion)).ToList());
    }

    /// <summary>GET /templates/{templateID}: the template with its builds, newest first, a page at a time.</summary>
    private static async Task<IResult> Get(HttpContext ctx, TemplateService svc, string templateID)
    {
        var (template, builds, next) = await svc.GetWithBuildsAsync(ctx.Caller(), templateID,
            ApiRequest.QueryInt(ctx, "limit", 1, 100) ?? 100, ApiRequest.Query(ctx, "nextToken"), ctx.RequestAborted);
        if (next is not null) ctx.Response.Headers["X-Next-Token"] = next;
        return TypedResults.Ok(new TemplateWithBuildsDto(template.TemplateId, template.Public, template.Names, template.Names,
            template.CreatedAt, template.UpdatedAt, template.LastSpawnedAt, template.SpawnCount,
            builds.Select(b => TemplateBuildDto.From(b, template, EnvdVersion)).ToList()));
    }

    private static async Task<IResult> Publish(HttpContext ctx, TemplateService svc, string templateID)
    {
        var body = await ApiRequest.ReadBodyAsync<PublishBody>(ctx);
        if (body.Public is not { } isPublic) throw DomainException.InvalidArgument("'public' (true or false) is required");
        var template = await svc.SetPublicAsync(ctx.Caller(), templateID, isPublic, ctx.RequestAborted);
        return TypedResults.Ok(new TemplateNamesDto(template.Names));
    }

    private static int Int(HttpContext ctx, string name, int fallback)
    {
        var raw = ctx.Request.Query[name].ToString();
        if (raw.Length == 0) return fallback;
        return int.TryParse(raw, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var v)
            ? v : throw DomainException.InvalidArgument($"'{name}' must be a non-negative integer");
    }

    /// <summary>The address this request came to, with the private path prefix when it came that way.</summary>
    private static string BaseUrl(HttpContext ctx)
    {
        var prefix = ctx.Features.Get<RouteDecision>() is RouteDecision.Local { Via: RouteVia.PrivatePath } ? "/kruise/api" : "";
        return $"{ctx.Request.Scheme}://{ctx.Request.Host}{prefix}";
    }
}
