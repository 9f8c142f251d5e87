using Portal.Core.Envd;
using Microsoft.Net.Http.Headers;
using Portal.Core.Runtime;
using Portal.Core.Sandboxes;
using Portal.Web.Apis;
using Portal.Web.Auth;

namespace Portal.Web.Dashboard.Envd;

/// <summary>
/// <c>GET /dashboard/sandboxes/{id}/files?path=</c>: a file of a running sandbox as a download,
/// for the dashboard's file browser (a circuit cannot hand the browser a file; a plain link can).
/// The signed-in caller must see the sandbox (another team's is "not found"); envd's refusals keep
/// their status and message, in the API's error shape.
/// </summary>
public static class FileDownloadEndpoint
{
    public static string PathFor(string sandboxId, string file) =>
        $"dashboard/sandboxes/{Uri.EscapeDataString(sandboxId)}/files?path={Uri.EscapeDataString(file)}";

    public static void MapFileDownload(this IEndpointRouteBuilder app) =>
        app.MapGet(DashboardPaths.Root + "/sandboxes/{sandboxID}/files", DownloadAsync).RequireAuthorization(PortalAuthentication.CallerPolicy);

    private static async Task<IResult> DownloadAsync(HttpContext ctx, SandboxService sandboxes, ISandboxRuntime runtime, string sandboxID, string? path)
    {
        if (string.IsNullOrEmpty(path)) return ApiErrors.Result(400, "'path' is required: the file's absolute path in the sandbox");
        var sandbox = await sandboxes.GetAsync(ctx.Caller(), sandboxID, ctx.RequestAborted);
        if (sandbox.Status != SandboxStatus.Running) return ApiErrors.Result(409, $"sandbox '{sandboxID}' is {sandbox.Status.ToString().ToLowerInvariant()}: files download while it runs");
        using var envd = EnvdClient.For(runtime, sandbox);
        HttpResponseMessage res;
        try { res = await envd.DownloadAsync(path, ctx.RequestAborted); }
        catch (EnvdFileException e) { return ApiErrors.Result(e.Status, e.Message); }
        catch (Exception e) when (e is IOException or HttpRequestException or SandboxRuntimeException)
        {
            return ApiErrors.Result(502, "could not reach the sandbox: " + e.Message);
        }
        using (res)
        {
            ctx.Response.ContentType = res.Content.Headers.ContentType?.ToString() ?? "application/octet-stream";
            if (res.Content.Headers.ContentLength is { } length) ctx.Response.ContentLength = length;
            var disposition = new ContentDispositionHeaderValue("attachment");
            disposition.SetHttpFileName(Path.GetFileName(path));
            ctx.Response.Headers.ContentDisposition = disposition.ToString();
            ctx.Response.Headers.XContentTypeOptions = "nosniff";
            await res.Content.CopyToAsync(ctx.Response.Body, ctx.RequestAborted);
            return Results.Empty;
        }
    }
}
