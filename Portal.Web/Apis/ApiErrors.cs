using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.WebUtilities;
using Portal.Core;

namespace Portal.Web.Apis;

/// <summary>E2B's error body for every non-2xx answer: <c>{"code": status, "message": "..."}</c>.</summary>
public sealed record ErrorBody(
    [property: JsonPropertyName("code")] int Code,
    [property: JsonPropertyName("message")] string Message);

public static class ApiErrors
{
    public static IResult Result(int status, string message) => TypedResults.Json(new ErrorBody(status, message), statusCode: status);

    public static Task WriteAsync(HttpContext ctx, int status, string message)
    {
        ctx.Response.StatusCode = status;
        ctx.Response.ContentType = "application/json";
        return ctx.Response.WriteAsync(JsonSerializer.Serialize(new ErrorBody(status, message)));
    }

    /// <summary>The HTTP status that says <paramref name="kind"/> on the E2B API.</summary>
    public static int StatusOf(DomainErrorKind kind) => kind switch
    {
        DomainErrorKind.InvalidArgument => StatusCodes.Status400BadRequest,
        DomainErrorKind.Unauthenticated => StatusCodes.Status401Unauthorized,
        DomainErrorKind.PermissionDenied => StatusCodes.Status403Forbidden,
        DomainErrorKind.NotFound => StatusCodes.Status404NotFound,
        DomainErrorKind.Conflict => StatusCodes.Status409Conflict,
        DomainErrorKind.ResourceExhausted => StatusCodes.Status429TooManyRequests,
        DomainErrorKind.Unavailable => StatusCodes.Status503ServiceUnavailable,
        DomainErrorKind.DeadlineExceeded => StatusCodes.Status504GatewayTimeout,
        _ => StatusCodes.Status500InternalServerError,
    };

    /// <summary>
    /// Turns anything thrown by a handler into the E2B error shape: domain refusals keep their
    /// status, framework request errors (bad JSON, too large) theirs, the rest is a 500.
    /// </summary>
    public static IApplicationBuilder UseApiErrors(this IApplicationBuilder app)
    {
        app.Use(async (ctx, next) =>
        {
            try
            {
                await next(ctx);
            }
            catch (Exception e) when (!ctx.Response.HasStarted && !ctx.RequestAborted.IsCancellationRequested)
            {
                var (status, message) = e switch
                {
                    DomainException d => (StatusOf(d.Kind), d.Message),
                    Portal.Core.Persistence.StaleSandboxWriteException stale => (StatusCodes.Status409Conflict, stale.Message + ": try again"),
                    BadHttpRequestException b => (b.StatusCode, b.Message),
                    _ => (500, "internal error"),
                };
                if (status >= 500)
                    ctx.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger("Portal.Web.Api")
                        .LogError(e, "Unhandled error on {Method} {Path}", ctx.Request.Method, ctx.Request.Path);
                ctx.Response.Clear();
                await WriteAsync(ctx, status, message);
            }
        });

        // Empty non-2xx answers (no route, wrong method...) get a body in the same shape.
        app.UseStatusCodePages(async sc =>
        {
            var ctx = sc.HttpContext;
            var status = ctx.Response.StatusCode;
            var message = status switch
            {
                404 => $"no such route: {ctx.Request.Method} {ctx.Request.Path}",
                405 => $"method {ctx.Request.Method} is not allowed on {ctx.Request.Path}",
                _ => ReasonPhrases.GetReasonPhrase(status) is { Length: > 0 } r ? r : "error",
            };
            ctx.Response.ContentType = "application/json";
            await ctx.Response.WriteAsync(JsonSerializer.Serialize(new ErrorBody(status, message)));
        });
        return app;
    }
}
