using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Portal.Envd.Users;

namespace Portal.Envd.Connect;

/// <summary>
/// Maps Connect procedures (<c>POST /pkg.Service/Method</c>, JSON codec) onto handlers.
/// Unary calls take <c>application/json</c>; server-streaming calls take one
/// <c>application/connect+json</c> envelope and answer with enveloped messages.
/// Stream errors are always HTTP 200 plus an end-stream error, as the SDKs require.
/// </summary>
public sealed class ConnectRouter(IEndpointRouteBuilder endpoints, UserResolver users, ILogger logger)
{
    /// <summary>Largest request message accepted (stdin chunks, file paths): 16 MiB.</summary>
    public const int MaxMessageBytes = 16 * 1024 * 1024;

    private static readonly TimeSpan DefaultKeepalive = TimeSpan.FromSeconds(90);
    private readonly HashSet<string> _services = [];

    public void Unary<TReq, TRes>(string procedure, JsonTypeInfo<TReq> request, JsonTypeInfo<TRes> response,
        Func<TReq, CallContext, Task<TRes>> handler)
    {
        Register(procedure);
        endpoints.MapPost("/" + procedure, async http =>
        {
            try
            {
                RequireContentType(http, streaming: false);
                var timeout = ParseTimeout(http);
                using var deadline = Deadline(timeout);
                using var cts = CancellationTokenSource.CreateLinkedTokenSource(http.RequestAborted, deadline.Token);
                var body = await ReadBodyAsync(http.Request, cts.Token);
                var message = ProtoJson.Deserialize(body, request);
                var result = await handler(message, new CallContext(http, users, timeout, cts.Token));
                var bytes = JsonSerializer.SerializeToUtf8Bytes(result, response);
                http.Response.StatusCode = 200;
                http.Response.ContentType = "application/json";
                http.Response.ContentLength = bytes.Length;
                await http.Response.Body.WriteAsync(bytes, http.RequestAborted);
            }
            catch (ConnectException e)
            {
                await ConnectErrorWriter.WriteUnaryErrorAsync(http.Response, e.Code, e.Message);
            }
            catch (OperationCanceledException) when (http.RequestAborted.IsCancellationRequested)
            {
                // client went away; nothing to answer
            }
            catch (OperationCanceledException)
            {
                await ConnectErrorWriter.WriteUnaryErrorAsync(http.Response, ConnectCode.DeadlineExceeded, "deadline exceeded");
            }
            catch (Exception e)
            {
                logger.LogError(e, "unary {Procedure} failed", procedure);
                await ConnectErrorWriter.WriteUnaryErrorAsync(http.Response, ConnectCode.Internal, e.Message);
            }
        });
    }

    public void ServerStreaming<TReq, TRes>(string procedure, JsonTypeInfo<TReq> request, JsonTypeInfo<TRes> response,
        TRes keepalive, Func<TReq, CallContext, ServerStream<TRes>, Task> handler)
    {
        Register(procedure);
        endpoints.MapPost("/" + procedure, async http =>
        {
            try
            {
                RequireContentType(http, streaming: true);
            }
            catch (ConnectException e)
            {
                await ConnectErrorWriter.WriteUnaryErrorAsync(http.Response, e.Code, e.Message);
                return;
            }

            http.Response.StatusCode = 200;
            http.Response.ContentType = "application/connect+json";
            await using var stream = new ServerStream<TRes>(http.Response, response, keepalive, KeepaliveInterval(http));
            ConnectException? failure = null;
            try
            {
                var timeout = ParseTimeout(http);
                using var deadline = Deadline(timeout);
                using var cts = CancellationTokenSource.CreateLinkedTokenSource(http.RequestAborted, deadline.Token);
                var (_, payload) = await Envelope.ReadAsync(http.Request.Body, MaxMessageBytes, cts.Token);
                var message = ProtoJson.Deserialize(payload, request);
                await handler(message, new CallContext(http, users, timeout, cts.Token), stream);
            }
            catch (ConnectException e)
            {
                failure = e;
            }
            catch (OperationCanceledException) when (http.RequestAborted.IsCancellationRequested)
            {
                return; // client went away: no one to send an end frame to
            }
            catch (OperationCanceledException)
            {
                failure = new ConnectException(ConnectCode.DeadlineExceeded, "deadline exceeded");
            }
            catch (IOException) when (http.RequestAborted.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                logger.LogError(e, "stream {Procedure} failed", procedure);
                failure = ConnectException.Internal(e.Message);
            }
            try
            {
                await stream.CompleteAsync(failure);
            }
            catch (Exception) when (http.RequestAborted.IsCancellationRequested)
            {
            }
        });
    }

    /// <summary>Unknown methods of known services get Connect's <c>unimplemented</c> (HTTP 404).</summary>
    public void MapFallbacks()
    {
        foreach (var service in _services)
        {
            endpoints.Map("/" + service + "/{method}", async http =>
            {
                var method = http.Request.RouteValues["method"];
                if (!HttpMethods.IsPost(http.Request.Method))
                {
                    http.Response.Headers.Allow = "POST";
                    http.Response.StatusCode = 405;
                    http.Response.ContentType = "application/json";
                    await http.Response.Body.WriteAsync(ConnectErrorWriter.ErrorJson(ConnectCode.Unimplemented, $"method {http.Request.Method} not allowed; Connect procedures take POST"));
                    return;
                }
                http.Response.StatusCode = 404;
                http.Response.ContentType = "application/json";
                await http.Response.Body.WriteAsync(ConnectErrorWriter.ErrorJson(ConnectCode.Unimplemented, $"{service}/{method} is not implemented"));
            });
        }
    }

    private void Register(string procedure) => _services.Add(procedure[..procedure.IndexOf('/')]);

    private static void RequireContentType(HttpContext http, bool streaming)
    {
        var contentType = http.Request.ContentType ?? "";
        var media = contentType.Split(';', 2)[0].Trim().ToLowerInvariant();
        var expected = streaming ? "application/connect+json" : "application/json";
        if (media == expected) return;
        var hint = media switch
        {
            "application/proto" or "application/connect+proto" => "only the JSON codec is supported",
            "application/json" or "application/connect+json" => streaming ? "this is a server-streaming procedure; use application/connect+json" : "this is a unary procedure; use application/json",
            "" => "missing Content-Type",
            _ => $"unsupported Content-Type '{media}'",
        };
        throw new ConnectException(ConnectCode.Unimplemented, $"{hint} (expected {expected})");
    }

    private static TimeSpan? ParseTimeout(HttpContext http)
    {
        var raw = http.Request.Headers["Connect-Timeout-Ms"].ToString();
        if (string.IsNullOrEmpty(raw)) return null;
        if (raw.Length > 10 || !long.TryParse(raw, NumberStyles.None, CultureInfo.InvariantCulture, out var ms))
            throw ConnectException.InvalidArgument($"invalid Connect-Timeout-Ms header '{raw}'");
        return ms == 0 ? null : TimeSpan.FromMilliseconds(ms);
    }

    private static TimeSpan KeepaliveInterval(HttpContext http)
    {
        var raw = http.Request.Headers["Keepalive-Ping-Interval"].ToString();
        return int.TryParse(raw, NumberStyles.None, CultureInfo.InvariantCulture, out var s) && s > 0
            ? TimeSpan.FromSeconds(s)
            : DefaultKeepalive;
    }

    private static CancellationTokenSource Deadline(TimeSpan? timeout)
    {
        var cts = new CancellationTokenSource();
        if (timeout is { } t) cts.CancelAfter(t);
        return cts;
    }

    private static async Task<byte[]> ReadBodyAsync(HttpRequest request, CancellationToken ct)
    {
        if (request.ContentLength > MaxMessageBytes)
            throw new ConnectException(ConnectCode.ResourceExhausted, $"message size {request.ContentLength} exceeds limit {MaxMessageBytes}");
        using var ms = new MemoryStream();
        var buffer = new byte[16 * 1024];
        int n;
        while ((n = await request.Body.ReadAsync(buffer, ct)) > 0)
        {
            if (ms.Length + n > MaxMessageBytes)
                throw new ConnectException(ConnectCode.ResourceExhausted, $"message exceeds limit {MaxMessageBytes}");
            ms.Write(buffer, 0, n);
        }
        return ms.ToArray();
    }
}
