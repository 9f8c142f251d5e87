using System.Globalization;
using System.Text.Json;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Primitives;
using Portal.Core;
using Portal.Core.Auth;
using Portal.Web.Options;

namespace Portal.Web.Apis;

/// <summary>
/// Reading control-plane requests with exact, E2B-shaped 4xx answers: bodies are read by hand
/// (size limit, content type, JSON errors with the offending path) rather than by model
/// binding. Unknown JSON fields are ignored (as E2B's own API does); property names match
/// case-insensitively; duplicate properties, wrong types and trailing garbage are rejected.
/// </summary>
public static class ApiRequest
{
    public static readonly JsonSerializerOptions BodyJson = new()
    {
        PropertyNameCaseInsensitive = true,
        AllowDuplicateProperties = false,
        ReadCommentHandling = JsonCommentHandling.Disallow,
        AllowTrailingCommas = false,
        UnmappedMemberHandling = System.Text.Json.Serialization.JsonUnmappedMemberHandling.Skip,
    };

    /// <summary>The JSON body as <typeparamref name="T"/>; an empty body gives <paramref name="empty"/> (null = body required).</summary>
    public static async Task<T> ReadBodyAsync<T>(HttpContext ctx, Func<T>? empty = null) where T : class
    {
        var limit = ctx.RequestServices.GetRequiredService<IOptions<PortalOptions>>().Value.MaxApiBodyBytes;
        var req = ctx.Request;
        if (req.ContentLength > limit) throw TooLarge(limit);
        var type = req.ContentType;
        if (!string.IsNullOrEmpty(type) && !type.StartsWith("application/json", StringComparison.OrdinalIgnoreCase)
            && !type.StartsWith("text/plain", StringComparison.OrdinalIgnoreCase))
            throw new BadHttpRequestException($"unsupported content type '{type}': send application/json", StatusCodes.Status415UnsupportedMediaType);

        using var buffer = new MemoryStream();
        var chunk = new byte[16 * 1024];
        int n;
        while ((n = await req.Body.ReadAsync(chunk, ctx.RequestAborted)) > 0)
        {
            if (buffer.Length + n > limit) throw TooLarge(limit);
            buffer.Write(chunk, 0, n);
        }
        if (buffer.Length == 0 || IsWhitespace(buffer))
            return empty is not null ? empty() : throw DomainException.InvalidArgument("request body is required (JSON object)");

        T? value;
        try
        {
            value = JsonSerializer.Deserialize<T>(buffer.GetBuffer().AsSpan(0, (int)buffer.Length), BodyJson);
        }
        catch (JsonException e)
        {
            var where = string.IsNullOrEmpty(e.Path) || e.Path == "$" ? "" : $" at '{e.Path}'";
            throw DomainException.InvalidArgument($"invalid JSON body{where}: {Describe(e)}");
        }
        return value ?? (empty is not null ? empty() : throw DomainException.InvalidArgument("request body must be a JSON object, not null"));
    }

    private static string Describe(JsonException e)
    {
        var msg = e.Message;
        // System.Text.Json appends "Path: ... | LineNumber ..." which we already report.
        var cut = msg.IndexOf(" Path:", StringComparison.Ordinal);
        return cut > 0 ? msg[..cut] : msg;
    }

    private static bool IsWhitespace(MemoryStream s)
    {
        foreach (var b in s.GetBuffer().AsSpan(0, (int)s.Length))
            if (b is not ((byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n')) return false;
        return true;
    }

    private static BadHttpRequestException TooLarge(long limit) => new($"request body is larger than {limit} bytes", StatusCodes.Status413PayloadTooLarge);

    // ---- query parameters ----

    public static string? Query(HttpContext ctx, string name)
    {
        var v = ctx.Request.Query[name];
        if (StringValues.IsNullOrEmpty(v)) return null;
        if (v.Count > 1) throw DomainException.InvalidArgument($"query parameter '{name}' given more than once");
        return v[0];
    }

    public static int? QueryInt(HttpContext ctx, string name, int min, int max)
    {
        var s = Query(ctx, name);
        if (s is null) return null;
        if (!int.TryParse(s, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var v) || v < min || v > max)
            throw DomainException.InvalidArgument($"query parameter '{name}' must be an integer between {min} and {max} (got '{s}')");
        return v;
    }

    public static long? QueryLong(HttpContext ctx, string name, long min = long.MinValue, long max = long.MaxValue)
    {
        var s = Query(ctx, name);
        if (s is null) return null;
        if (!long.TryParse(s, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var v) || v < min || v > max)
            throw DomainException.InvalidArgument($"query parameter '{name}' must be an integer (got '{s}')");
        return v;
    }

    public static DateTimeOffset? QueryTime(HttpContext ctx, string name)
    {
        var s = Query(ctx, name);
        if (s is null) return null;
        if (!DateTimeOffset.TryParse(s, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var t))
            throw DomainException.InvalidArgument($"query parameter '{name}' must be an RFC 3339 time, e.g. 2025-01-31T12:00:00Z (got '{s}')");
        return t;
    }

    public static DateTimeOffset? UnixSeconds(HttpContext ctx, string name)
    {
        var v = QueryLong(ctx, name, 0, 253402300799);
        return v is { } s ? DateTimeOffset.FromUnixTimeSeconds(s) : null;
    }
}
