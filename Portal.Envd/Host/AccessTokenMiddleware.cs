using System.Security.Cryptography;
using System.Text;

namespace Portal.Envd;

/// <summary>
/// Once a token is set, every route needs <c>X-Access-Token</c>, except <c>GET /health</c>, <c>GET /_portal/ready</c>,
/// <c>/files</c> (which also accepts a URL signature and checks for itself) and <c>/init</c>
/// (which checks for itself).
/// </summary>
public sealed class AccessTokenMiddleware(RequestDelegate next, EnvdState state)
{
    public const string Header = "X-Access-Token";

    public Task InvokeAsync(HttpContext http)
    {
        var token = state.AccessToken;
        if (token is null || IsExempt(http.Request) || Matches(http.Request.Headers[Header].ToString(), token))
            return next(http);
        return Reject(http);
    }

    public static bool Matches(string? presented, string expected) =>
        !string.IsNullOrEmpty(presented) &&
        CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(presented), Encoding.UTF8.GetBytes(expected));

    private static bool IsExempt(HttpRequest r) =>
        (r.Path == "/health" && HttpMethods.IsGet(r.Method)) ||
        (r.Path == "/_portal/ready" && HttpMethods.IsGet(r.Method)) ||
        r.Path == "/files" ||
        r.Path == "/init";

    private static async Task Reject(HttpContext http)
    {
        http.Response.StatusCode = 401;
        http.Response.ContentType = "application/json";
        // Connect clients parse a string code; plain HTTP clients an int one.
        var isConnect = http.Request.Path.Value?.Count(c => c == '/') == 2 && http.Request.Path.Value.Contains('.');
        var body = isConnect
            ? """{"code":"unauthenticated","message":"unauthorized access, please provide a valid access token"}"""
            : """{"code":401,"message":"unauthorized access, please provide a valid access token"}""";
        await http.Response.WriteAsync(body);
    }
}
