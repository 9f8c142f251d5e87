using System.Security.Cryptography;
using System.Text;
using Portal.Core.Runtime;
using Portal.Core.Sandboxes;

namespace Portal.Web.Proxy;

/// <summary>
/// E2B's ingress settings, applied by every way into a sandbox's ports: with
/// <c>allowPublicTraffic:false</c> a request to any port but envd's needs the sandbox's
/// <c>e2b-traffic-access-token</c> (403 otherwise); <c>maskRequestHost</c> replaces the Host the
/// sandbox's server sees. Requests this applies to leave the raw fast path
/// (<see cref="Http1ConnectionProxy"/>) for <see cref="SandboxProxy"/>, so there is one check.
/// </summary>
internal static class TrafficAccess
{
    public const string TokenHeader = "e2b-traffic-access-token";

    public static bool Applies(SandboxRecord rec, int port) =>
        port != SandboxPorts.Envd && (rec.Network.TrafficAccessToken is not null || rec.Network.MaskRequestHost is not null);

    /// <summary>Null when the request may pass; else the message of the 403.</summary>
    public static string? Refusal(SandboxRecord rec, int port, HttpRequest request)
    {
        if (port == SandboxPorts.Envd || rec.Network.TrafficAccessToken is not { } token) return null;
        var sent = request.Headers[TokenHeader].ToString();
        if (sent.Length == 0) return $"Sandbox is secured with traffic access token. Token header '{TokenHeader}' is missing";
        return CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(sent), Encoding.UTF8.GetBytes(token))
            ? null
            : $"Sandbox is secured with traffic access token. Provided token in header '{TokenHeader}' is invalid";
    }

    /// <summary>
    /// Whether this request may resume a paused autoResume sandbox: only one that would pass when it
    /// runs. Other ports: the traffic token when the sandbox has one (else they are public). envd's
    /// port: its access token (<c>X-Access-Token</c>), which envd itself checks on a running
    /// sandbox; a sandbox made without one (v1 <c>secure:false</c>) is open there anyway.
    /// </summary>
    public static bool MayWake(SandboxRecord rec, int port, HttpRequest request)
    {
        if (port != SandboxPorts.Envd) return Refusal(rec, port, request) is null;
        if (rec.EnvdAccessToken is not { } token) return true;
        var sent = request.Headers[EnvdTokenHeader].ToString();
        return sent.Length > 0 && CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(sent), Encoding.UTF8.GetBytes(token));
    }

    public const string EnvdTokenHeader = "X-Access-Token";

    private static readonly System.Text.RegularExpressions.Regex Browser =
        new("mozilla|chrome|safari|firefox|edge|opera|msie", System.Text.RegularExpressions.RegexOptions.IgnoreCase | System.Text.RegularExpressions.RegexOptions.Compiled);

    /// <summary>Browsers get the refusal as a page (as E2B's proxy does), programs as JSON.</summary>
    public static bool IsBrowser(HttpRequest request) => Browser.IsMatch(request.Headers.UserAgent.ToString());

    public static string Page(string sandboxId, string message) =>
        $"<!doctype html><html><head><meta charset=\"utf-8\"><title>Sandbox is secured</title></head><body><h1>403: sandbox is secured</h1><p>{System.Net.WebUtility.HtmlEncode(message)}</p><p>Sandbox: <code>{System.Net.WebUtility.HtmlEncode(sandboxId)}</code></p></body></html>";

    /// <summary>The Host to send upstream: the mask with its port placeholder filled, or null to keep the client's.</summary>
    public static string? MaskedHost(SandboxRecord rec, int port) =>
        port == SandboxPorts.Envd ? null : rec.Network.MaskRequestHost?.Replace("${PORT}", port.ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal);
}
