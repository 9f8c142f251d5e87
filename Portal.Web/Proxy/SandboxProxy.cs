using System.Net;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.Extensions.Options;
using Portal.Core.Runtime;
using Portal.Core.Sandboxes;
using Portal.Core.Threading;
using Portal.Web.Apis;
using Portal.Web.Options;
using Portal.Web.Routing;
using Microsoft.AspNetCore.Http.Features;
using Yarp.ReverseProxy.Forwarder;

namespace Portal.Web.Proxy;

/// <summary>
/// Sandbox traffic: a request that <see cref="RequestRouter"/> sends to a sandbox (native host
/// <c>P-S.D</c>, private path <c>/kruise/S/P/...</c>, or <c>E2b-Sandbox-Id</c> + <c>E2b-Sandbox-Port</c>
/// headers) goes to that port of that sandbox, streamed both ways (YARP's <see cref="IHttpForwarder"/>).
/// A signed <c>/files</c> URL without those headers is routed to the one live sandbox whose
/// access token produces its signature. Everything else falls through to the portal itself.
/// The proxy sees no API keys: envd's access token guards each sandbox.
/// </summary>
public sealed class SandboxProxy(
    IHttpForwarder forwarder,
    Http1Forwarder http1,
    SandboxConnections connections,
    SandboxService sandboxes,
    PortalTelemetry telemetry,
    IOptions<ProxyOptions> options,
    RequestRouter router,
    ILogger<SandboxProxy> log)
{
    public const string SandboxIdHeader = RequestRouter.SandboxIdHeader;
    public const string SandboxPortHeader = RequestRouter.SandboxPortHeader;

    // With inline socket completions this middleware runs on an epoll thread: the proxy path never
    // blocks, but the rest of the portal (the control plane, SQLite) continues on the thread pool.
    private readonly bool _offIoThreads = InlineIo.Enabled;

    private readonly ForwarderRequestConfig _config = new()
    {
        ActivityTimeout = options.Value.ActivityTimeout,
        Version = HttpVersion.Version11,
        VersionPolicy = HttpVersionPolicy.RequestVersionExact,
    };

    /// <summary>
    /// The one routing step for every request (see <see cref="RequestRouter"/>): sandbox traffic
    /// (native host, <c>/kruise/S/P</c>, routing headers) is forwarded with its prefix stripped,
    /// <c>/kruise/api/...</c> continues to the portal's endpoints as <c>/...</c>, anything
    /// malformed is answered here and forwarded nowhere.
    /// </summary>
    public async Task InvokeAsync(HttpContext ctx, RequestDelegate next)
    {
        var headers = ctx.Request.Headers;
        if (Refusal(ctx, headers) is { } refused)
        {
            telemetry.RecordProxyError("rejected");
            await ApiErrors.WriteAsync(ctx, refused.Status, refused.Message);
            return;
        }
        var raw = ctx.Features.Get<IHttpRequestFeature>()?.RawTarget;
        if (string.IsNullOrEmpty(raw)) raw = ctx.Request.Path.ToUriComponent() + ctx.Request.QueryString.ToUriComponent();
        var decision = router.Decide(
            First(headers.Host), raw,
            First(headers[SandboxIdHeader]), First(headers[SandboxPortHeader]));
        switch (decision)
        {
            case RouteDecision.Reject reject:
                telemetry.RecordProxyError("rejected");
                await ApiErrors.WriteAsync(ctx, reject.Status, reject.Message);
                return;

            case RouteDecision.Sandbox sandbox:
                await ForwardAsync(ctx, sandbox.SandboxId, sandbox.Port, sandbox.Via == RouteVia.Headers ? null : sandbox.Path, sandbox.Path);
                return;

            case RouteDecision.Local local:
                // The API reads it for the `domain` it answers with; proxied requests skip the
                // feature (an extra feature costs Kestrel a dictionary per request).
                ctx.Features.Set<RouteDecision>(decision);
                if (local.Via == RouteVia.PrivatePath) SetTarget(ctx, local.Path);
                if (ctx.Request.Path.Equals("/files", StringComparison.Ordinal))
                {
                    if (ctx.Request.Query.ContainsKey("signature"))
                        await ForwardSignedAsync(ctx);
                    else
                        await ApiErrors.WriteAsync(ctx, 404, "no sandbox named: /files needs the E2b-Sandbox-Id and E2b-Sandbox-Port headers, or a signed URL from uploadUrl()/downloadUrl()");
                    return;
                }
                if (_offIoThreads)
                {
                    Hosting.PoolResumingStream.Install(ctx);
                    await ThreadPoolContext.Run(static s => s.next(s.ctx), (next, ctx));
                }
                else
                {
                    await next(ctx);
                }
                return;
        }
    }

    // Control characters (HTAB aside): no header value of a well-formed request has them, and a
    // server behind the proxy may read them as the end of a line.
    private static readonly System.Buffers.SearchValues<char> ControlChars = System.Buffers.SearchValues.Create(
        "\0\u0001\u0002\u0003\u0004\u0005\u0006\u0007\u0008\n\u000B\u000C\r\u000E\u000F\u0010\u0011\u0012\u0013\u0014\u0015\u0016\u0017\u0018\u0019\u001A\u001B\u001C\u001D\u001E\u001F\u007F");

    /// <summary>
    /// What the portal refuses whatever the route (Kestrel lets these through): a tunnel request,
    /// routing headers sent twice (a front proxy may have read the other one), control bytes in
    /// a header value. The messages are <see cref="Http1RequestHead"/>'s, which refuses the same. <see cref="Http1RequestHead"/> hands all of them here.
    /// </summary>
    private static (int Status, string Message)? Refusal(HttpContext ctx, IHeaderDictionary headers)
    {
        if (HttpMethods.IsConnect(ctx.Request.Method) && ctx.Features.Get<IHttpExtendedConnectFeature>()?.IsExtendedConnect != true)
            return (405, Http1RequestHead.ConnectRefused);
        if (headers[SandboxIdHeader].Count > 1 || headers[SandboxPortHeader].Count > 1)
            return (400, Http1RequestHead.RoutingTwice);
        foreach (var (name, values) in headers)
            foreach (var value in values)
                if (value is not null && value.AsSpan().ContainsAny(ControlChars))
                    return (400, Http1RequestHead.ControlCharacter);
        return null;
    }

    private static string? First(Microsoft.Extensions.Primitives.StringValues values) => values.Count == 0 ? null : values[0];

    /// <summary>Rewrites the request to <paramref name="target"/> (a raw path with optional query).</summary>
    private static void SetTarget(HttpContext ctx, string target)
    {
        var q = target.IndexOf('?');
        var path = q < 0 ? target : target[..q];
        ctx.Request.Path = PathString.FromUriComponent(path.Length == 0 ? "/" : path);
        ctx.Request.QueryString = q < 0 ? QueryString.Empty : new QueryString(target[q..]);
    }

    private async Task ForwardSignedAsync(HttpContext ctx)
    {
        var q = ctx.Request.Query;
        var operation = HttpMethods.IsGet(ctx.Request.Method) || HttpMethods.IsHead(ctx.Request.Method) ? "read"
            : HttpMethods.IsPost(ctx.Request.Method) ? "write" : null;
        var path = q["path"].FirstOrDefault();
        var signature = q["signature"].FirstOrDefault();
        if (operation is null || string.IsNullOrEmpty(path) || string.IsNullOrEmpty(signature))
        {
            await ApiErrors.WriteAsync(ctx, 400, "a signed /files URL needs GET or POST with 'path' and 'signature' query parameters");
            return;
        }
        var user = q["username"].FirstOrDefault() ?? "";
        var expiration = q["signature_expiration"].FirstOrDefault();

        // Compute the expected signature per live sandbox's token; only an exact match routes.
        SandboxRecord? match = null;
        foreach (var rec in sandboxes.Live)
        {
            if (rec.EnvdAccessToken is { } token && FileUrlSignature.Matches(signature, path, operation, user, token, expiration))
            {
                match = rec;
                break;
            }
        }
        if (match is null)
        {
            telemetry.RecordProxyError("signature_unmatched");
            await ApiErrors.WriteAsync(ctx, 401, "invalid signature: it was not made with the access token of any running sandbox (or send E2b-Sandbox-Id and E2b-Sandbox-Port headers)");
            return;
        }
        await ForwardAsync(ctx, match.SandboxId, SandboxPorts.Envd, null, ctx.Request.Path.ToUriComponent() + ctx.Request.QueryString.ToUriComponent());
    }

    /// <summary>
    /// Plain request/response exchanges take <see cref="Http1Forwarder"/>; upgrades (WebSocket)
    /// take YARP, with the request rewritten to <paramref name="rewrite"/> when the way in had a
    /// prefix or a host to strip. <paramref name="target"/> is the raw path and query to send.
    /// </summary>
    [System.Runtime.CompilerServices.AsyncMethodBuilder(typeof(System.Runtime.CompilerServices.PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask ForwardAsync(HttpContext ctx, string sandboxId, int port, string? rewrite, string target)
    {
        telemetry.RecordProxied();
        // Not running as far as this replica knows: it may have just been resumed or created
        // through another (its note not here yet); only this miss asks the store, never a hit.
        if (sandboxes.FindLive(sandboxId) is not { Status: SandboxStatus.Running })
            await sandboxes.RefreshFromStoreAsync(sandboxId, ctx.RequestAborted);
        if (sandboxes.FindLive(sandboxId) is not { Status: SandboxStatus.Running } rec)
        {
            telemetry.RecordProxyError("sandbox_not_found");
            await WriteNotFoundAsync(ctx, sandboxId);
            return;
        }
        if (TrafficAccess.Refusal(rec, port, ctx.Request) is { } refusal)
        {
            if (TrafficAccess.IsBrowser(ctx.Request))
            {
                ctx.Response.StatusCode = 403;
                ctx.Response.ContentType = "text/html; charset=utf-8";
                await ctx.Response.WriteAsync(TrafficAccess.Page(sandboxId, refusal));
            }
            else await WriteJsonAsync(ctx, 403, new ProxyError(refusal, sandboxId, null, 403));
            return;
        }
        if (TrafficAccess.MaskedHost(rec, port) is { } masked) ctx.Request.Headers.Host = masked;

        Exception? exception;
        var error = ForwarderError.None;
        if (Http1Forwarder.Handles(ctx))
        {
            exception = await http1.ForwardAsync(ctx, sandboxId, port, target);
            if (exception is null) return;
            if (ctx.RequestAborted.IsCancellationRequested) return; // the client went away
            error = ForwarderError.Request;
        }
        else
        {
            if (rewrite is not null) SetTarget(ctx, rewrite);
            using var registration = connections.Track(sandboxId, ctx);
            error = await forwarder.SendAsync(ctx, SandboxConnections.DestinationPrefix(sandboxId, port), connections.Invoker, _config, HttpTransformer.Default);
            if (error == ForwarderError.None) return;
            exception = ctx.Features.Get<IForwarderErrorFeature>()?.Exception;
            if (error is ForwarderError.RequestCanceled or ForwarderError.RequestBodyCanceled or ForwarderError.UpgradeRequestCanceled)
                return; // the client went away
        }
        var closed = Find<SandboxPortClosedException>(exception);
        var notFound = Find<SandboxNotFoundException>(exception);
        var gone = notFound is not null || sandboxes.FindLive(sandboxId) is not { Status: SandboxStatus.Running };
        telemetry.RecordProxyError(closed is not null ? "port_closed" : gone ? "sandbox_not_found" : error.ToString());
        if (ctx.Response.HasStarted)
        {
            ctx.Abort();
            return;
        }
        ctx.Response.Clear();
        if (closed is not null)
            await WriteJsonAsync(ctx, 502, new ProxyError("The sandbox is running but port is not open", sandboxId, port, 502));
        else if (gone)
            await WriteNotFoundAsync(ctx, sandboxId);
        else
        {
            log.LogWarning(exception, "Proxying to {SandboxId}:{Port} failed: {Error}", sandboxId, port, error);
            await WriteJsonAsync(ctx, 502, new ProxyError($"could not reach port {port} of the sandbox: {exception?.GetBaseException().Message ?? error.ToString()}", sandboxId, port, 502));
        }
    }

    private static Task WriteNotFoundAsync(HttpContext ctx, string sandboxId) =>
        WriteJsonAsync(ctx, 502, new ProxyError("The sandbox was not found", sandboxId, null, 502));

    private static Task WriteJsonAsync(HttpContext ctx, int status, ProxyError body)
    {
        ctx.Response.StatusCode = status;
        ctx.Response.ContentType = "application/json";
        return ctx.Response.WriteAsync(JsonSerializer.Serialize(body, ProxyErrorJson));
    }

    /// <summary>The JSON body of a proxy error (for <see cref="Http1ConnectionProxy"/>, which writes raw responses).</summary>
    internal static byte[] ErrorJson(string message, string sandboxId, int? port) =>
        JsonSerializer.SerializeToUtf8Bytes(new ProxyError(message, sandboxId, port, 502), ProxyErrorJson);

    private static readonly JsonSerializerOptions ProxyErrorJson = new() { DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull };

    private sealed record ProxyError(
        [property: JsonPropertyName("message")] string Message,
        [property: JsonPropertyName("sandboxId")] string SandboxId,
        [property: JsonPropertyName("port")] int? Port,
        [property: JsonPropertyName("code")] int Code);

    private static T? Find<T>(Exception? e) where T : Exception
    {
        for (var x = e; x is not null; x = x.InnerException)
        {
            if (x is T t) return t;
            if (x is AggregateException agg)
                foreach (var inner in agg.InnerExceptions)
                    if (Find<T>(inner) is { } found) return found;
        }
        return null;
    }
}
