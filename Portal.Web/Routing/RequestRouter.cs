using System.Globalization;
using System.Net;
using Portal.Core.Runtime;

namespace Portal.Web.Routing;

/// <summary>
/// The one routing decision for every request: native host (<c>api.D</c>, <c>P-S.D</c>),
/// private path (<c>/kruise/api/...</c>, <c>/kruise/S/P/...</c>), routing headers, or the
/// portal's own endpoints. Pure: it sees only the host, the raw path and two headers, so it
/// is tested as a table. Anything malformed is rejected here and never forwarded.
/// </summary>
public sealed class RequestRouter
{
    public const string SandboxIdHeader = "E2b-Sandbox-Id";
    public const string SandboxPortHeader = "E2b-Sandbox-Port";
    private const string PrivatePrefix = "/kruise/";
    private const int MaxSandboxIdLength = 64;

    private readonly string? _domain;      // lower case, may carry ":port"
    private readonly bool _domainHasPort;
    private readonly string? _dotDomain;   // "." + domain: the suffix of native hosts
    private readonly string? _bareDomain;  // the domain as plain hosts are compared (without its port unless hosts must carry it)
    private readonly HashSet<string> _extraHosts = new(StringComparer.Ordinal);          // with their port
    private readonly HashSet<string> _extraHostsAnyPort = new(StringComparer.Ordinal);   // any port

    /// <param name="domain"><c>E2B_DOMAIN</c>; null or empty = take the domain from each request's host.</param>
    /// <param name="extraHosts">
    /// <c>Portal:Routing:ExtraHosts</c>: more names that are the portal's own host (API, private paths,
    /// header routing), never parsed as native <c>P-S</c> hosts. With a port, the Host must carry it.
    /// </param>
    public RequestRouter(string? domain, IEnumerable<string>? extraHosts = null)
    {
        foreach (var h in extraHosts ?? [])
        {
            var value = h.Trim().TrimEnd('.').ToLowerInvariant();
            if (value.Length == 0) continue;
            (HostPort.Split(value).Port is null ? _extraHostsAnyPort : _extraHosts).Add(value);
        }
        _domain = string.IsNullOrWhiteSpace(domain) ? null : domain.Trim().TrimEnd('.').ToLowerInvariant();
        _domainHasPort = _domain is not null && HostPort.Split(_domain).Port is not null;
        if (_domain is not null)
        {
            _dotDomain = "." + _domain;
            _bareDomain = _domainHasPort ? _domain : HostPort.Split(_domain).Host;
        }
    }

    public string? ConfiguredDomain => _domain;

    /// <param name="host">The Host header (may carry a port).</param>
    /// <param name="rawPath">The request target as sent (path and query), before any decoding or normalisation.</param>
    public RouteDecision Decide(string? host, string rawPath, string? sandboxIdHeader, string? sandboxPortHeader)
    {
        if (string.IsNullOrEmpty(rawPath) || rawPath[0] != '/')
            return new RouteDecision.Reject(400, "request target must be an absolute path");
        if (!HasDotSegmentOrEncodedSlash(rawPath, allowEncodedSlash: false)) return DecideChecked(host, rawPath, sandboxIdHeader, sandboxPortHeader);
        // E2B's SDKs put a template's name (namespace/name) in one path segment as namespace%2Fname
        // (DELETE /templates/{id}, GET /templates/aliases/{alias}): allowed there, for the portal's
        // own API only; a path that would reach a sandbox never carries an encoded slash.
        if (IsTemplateNamePath(rawPath) && !HasDotSegmentOrEncodedSlash(rawPath, allowEncodedSlash: true)
            && DecideChecked(host, rawPath, sandboxIdHeader, sandboxPortHeader) is RouteDecision.Local local)
            return local;
        return new RouteDecision.Reject(400, "dot segments and encoded slashes are not allowed in paths");
    }

    private static bool IsTemplateNamePath(string rawPath) =>
        rawPath.StartsWith("/templates/", StringComparison.Ordinal) || rawPath.StartsWith(PrivatePrefix + "api/templates/", StringComparison.Ordinal);

    private RouteDecision DecideChecked(string? host, string rawPath, string? sandboxIdHeader, string? sandboxPortHeader)
    {

        var original = (host ?? "").Trim().TrimEnd('.');
        var hostValue = original.ToLowerInvariant();
        var (hostName, hostPort) = HostPort.Split(hostValue);
        if (hostName.Length == 0)
            return new RouteDecision.Reject(400, "missing Host header");

        string domain;
        if (IsExtraHost(hostValue, hostName))
        {
            // An extra name (e.g. the in-cluster service): the portal's own host, never a native P-S
            // host; responses name the host the client used, so it keeps using it.
            domain = hostValue;
        }
        else
        {
            // 1. Native hosts under the domain win over paths and headers.
            var native = MatchNative(original, hostValue, hostName, hostPort, rawPath);
            if (native is not null) return native;

            domain = _domain ?? hostValue;

            // Hosts under a different domain are misdirected (unless no domain is configured).
            if (_domain is not null && !IsPlainHost(hostValue, hostName))
                return new RouteDecision.Reject(421, $"host '{hostValue}' is not under the portal's domain '{_domain}' nor one of Portal:Routing:ExtraHosts");
        }

        // 2. Private protocol paths.
        if (rawPath.StartsWith(PrivatePrefix, StringComparison.Ordinal) || rawPath == "/kruise")
            return MatchPrivate(rawPath, domain);

        // 3. Routing headers.
        if (sandboxIdHeader is not null || sandboxPortHeader is not null)
        {
            if (string.IsNullOrEmpty(sandboxIdHeader))
                return new RouteDecision.Reject(400, $"{SandboxPortHeader} given without {SandboxIdHeader}");
            if (!IsValidSandboxId(sandboxIdHeader))
                return new RouteDecision.Reject(400, $"invalid {SandboxIdHeader} '{sandboxIdHeader}': lowercase letters and digits only");
            if (!TryParsePort(sandboxPortHeader, out var port))
                return new RouteDecision.Reject(400, $"invalid {SandboxPortHeader} '{sandboxPortHeader}': a port 1-65535 is required");
            return Guard(new RouteDecision.Sandbox(sandboxIdHeader, port, rawPath, RouteVia.Headers) { Domain = domain });
        }

        // 4. The portal itself.
        return new RouteDecision.Local(rawPath, RouteVia.Plain) { Domain = domain };
    }

    private RouteDecision? MatchNative(string originalHost, string hostValue, string hostName, string? hostPort, string rawPath)
    {
        string? label;
        string domain;
        if (_domain is not null)
        {
            // With a port in E2B_DOMAIN the whole host:port must match; without one, any port does.
            var comparable = _domainHasPort ? hostValue : hostName;
            var suffix = _dotDomain!;
            if (!comparable.EndsWith(suffix, StringComparison.Ordinal)) return null;
            label = comparable[..^suffix.Length];
            domain = _domain;
        }
        else
        {
            // No domain configured: only the two native shapes count, the rest is a plain host.
            var dot = hostName.IndexOf('.');
            if (dot <= 0 || IPAddress.TryParse(hostName, out _)) return null;
            label = hostName[..dot];
            if (label != "api" && !label.Contains('-')) return null;
            domain = hostName[(dot + 1)..] + (hostPort is null ? "" : ":" + hostPort);
        }

        if (label == "api")
            return new RouteDecision.Local(rawPath, RouteVia.NativeHost) { Domain = domain };
        if (label == "sandbox")
            return null; // E2B's shared sandbox host: routed by headers like a plain host.

        var dash = label.IndexOf('-');
        if (dash < 0 || label.Contains('.'))
            return new RouteDecision.Reject(400, $"host '{hostValue}' is not '<port>-<sandboxID>.{domain}'");
        var portText = label[..dash];
        var id = label[(dash + 1)..];
        if (!TryParsePort(portText, out var port))
            return new RouteDecision.Reject(400, $"host '{hostValue}': '{portText}' is not a port 1-65535");
        // DNS ignores case, but sandbox IDs are lower case: an upper-case ID is a client bug.
        var originalId = originalHost.Substring(dash + 1, id.Length);
        if (!IsValidSandboxId(originalId))
            return new RouteDecision.Reject(400, $"host '{originalHost}': '{originalId}' is not a sandbox ID (lowercase letters and digits)");
        return Guard(new RouteDecision.Sandbox(id, port, rawPath, RouteVia.NativeHost) { Domain = domain });
    }

    private static RouteDecision MatchPrivate(string rawPath, string domain)
    {
        // /kruise/api[/rest] or /kruise/<id>/<port>[/rest]
        var rest = rawPath.Length > PrivatePrefix.Length ? rawPath[PrivatePrefix.Length..] : "";
        var queryless = rest;
        var first = NextSegment(ref queryless);
        if (first == "api")
            return new RouteDecision.Local(queryless.Length == 0 ? "/" : queryless, RouteVia.PrivatePath) { Domain = domain };
        if (!IsValidSandboxId(first))
            return new RouteDecision.Reject(400, $"'/kruise/{first}/...' does not name a sandbox: use /kruise/api/... or /kruise/<sandboxID>/<port>/...");
        if (queryless.StartsWith('/')) queryless = queryless[1..];
        var portText = NextSegment(ref queryless);
        if (!TryParsePort(portText, out var port))
            return new RouteDecision.Reject(400, $"'/kruise/{first}/{portText}': '{portText}' is not a port 1-65535");
        return Guard(new RouteDecision.Sandbox(first, port, queryless.Length == 0 ? "/" : queryless, RouteVia.PrivatePath) { Domain = domain });
    }

    /// <summary>
    /// envd's <c>/init</c> sets a sandbox's access token, environment and default user, and
    /// <c>/_portal/...</c> is the runtime's tunnel: only the runtime may call them, over its own
    /// connection to envd, never a client through any way in. Compared the way envd's router will
    /// see the path (percent-decoded, case-insensitive, empty segments and a trailing slash
    /// ignored), so no spelling of it gets through.
    /// </summary>
    private static RouteDecision Guard(RouteDecision.Sandbox decision)
    {
        if (decision.Port != SandboxPorts.Envd) return decision;
        var path = decision.Path.AsSpan();
        var q = path.IndexOf('?');
        if (q >= 0) path = path[..q];
        var decoded = path.Contains('%') ? Uri.UnescapeDataString(path.ToString()).AsSpan() : path;
        // The first non-empty segment, and whether any other follows it.
        decoded = decoded.TrimStart('/');
        var slash = decoded.IndexOf('/');
        var first = (slash < 0 ? decoded : decoded[..slash]).Trim();
        var more = slash >= 0 && !decoded[slash..].TrimStart('/').IsEmpty;
        if ((!more && first.Equals("init", StringComparison.OrdinalIgnoreCase))
            || first.Equals("_portal", StringComparison.OrdinalIgnoreCase))
            return new RouteDecision.Reject(403, $"'/{first}' is reserved for the sandbox runtime and cannot be called through the portal");
        return decision;
    }

    /// <summary>Takes the next path segment off <paramref name="rest"/>; leaves <paramref name="rest"/> starting with '/' (or empty).</summary>
    private static string NextSegment(ref string rest)
    {
        var end = rest.IndexOfAny(['/', '?']);
        string segment;
        if (end < 0) { segment = rest; rest = ""; }
        else
        {
            segment = rest[..end];
            rest = rest[end..];
            if (rest.StartsWith('?')) rest = "/" + rest;
        }
        return segment;
    }

    private bool IsPlainHost(string hostValue, string hostName)
    {
        if (hostName == "localhost" || IPAddress.TryParse(hostName.Trim('[', ']'), out _)) return true;
        var comparable = _domainHasPort ? hostValue : hostName;
        var bareDomain = _bareDomain!;
        return comparable == bareDomain || (comparable.StartsWith("sandbox.", StringComparison.Ordinal) && comparable.AsSpan(8).SequenceEqual(bareDomain));
    }

    private bool IsExtraHost(string hostValue, string hostName) =>
        (_extraHostsAnyPort.Count > 0 && _extraHostsAnyPort.Contains(hostName)) ||
        (_extraHosts.Count > 0 && _extraHosts.Contains(hostValue));

    /// <summary>A host name (letters, digits, '-', '.', '_'), optionally with ':port': what ExtraHosts and E2B_DOMAIN accept.</summary>
    public static bool IsHostName(string? value)
    {
        if (string.IsNullOrWhiteSpace(value)) return false;
        var (host, port) = HostPort.Split(value.Trim().TrimEnd('.'));
        if (port is not null && !TryParsePort(port, out _)) return false;
        if (host.Length is 0 or > 253 || host.StartsWith('.') || host.Contains("..")) return false;
        foreach (var c in host)
            if (c is not ((>= 'a' and <= 'z') or (>= 'A' and <= 'Z') or (>= '0' and <= '9') or '-' or '.' or '_')) return false;
        return true;
    }

    /// <summary>Whether <paramref name="host"/> is <paramref name="domain"/> or a name under it (ports ignored).</summary>
    public static bool IsUnderDomain(string host, string domain)
    {
        var h = HostPort.Split(host.Trim().TrimEnd('.').ToLowerInvariant()).Host;
        var d = HostPort.Split(domain.Trim().TrimEnd('.').ToLowerInvariant()).Host;
        return h == d || h.EndsWith("." + d, StringComparison.Ordinal);
    }

    public static bool IsValidSandboxId(string? id)
    {
        if (string.IsNullOrEmpty(id) || id.Length > MaxSandboxIdLength) return false;
        foreach (var c in id)
            if (c is not ((>= 'a' and <= 'z') or (>= '0' and <= '9'))) return false;
        return true;
    }

    public static bool TryParsePort(string? text, out int port)
    {
        port = 0;
        if (string.IsNullOrEmpty(text) || text.Length > 5 || text[0] == '0') return false;
        foreach (var c in text) if (c is < '0' or > '9') return false;
        port = int.Parse(text, CultureInfo.InvariantCulture);
        return port is >= 1 and <= 65535;
    }

    private static bool HasDotSegmentOrEncodedSlash(string rawPath, bool allowEncodedSlash)
    {
        // Allocation-free: this runs on every request.
        var path = rawPath.AsSpan();
        var q = path.IndexOf('?');
        if (q >= 0) path = path[..q];
        if (path.Contains('\\') || (!allowEncodedSlash && path.Contains("%2f", StringComparison.OrdinalIgnoreCase)) || path.Contains("%5c", StringComparison.OrdinalIgnoreCase))
            return true;
        while (true)
        {
            var slash = path.IndexOf('/');
            var segment = slash < 0 ? path : path[..slash];
            if (IsDotSegment(segment)) return true;
            if (slash < 0) return false;
            path = path[(slash + 1)..];
        }
    }

    /// <summary>"." or "..", each dot possibly encoded as %2e.</summary>
    private static bool IsDotSegment(ReadOnlySpan<char> segment)
    {
        var dots = 0;
        while (segment.Length > 0)
        {
            if (segment[0] == '.') segment = segment[1..];
            else if (segment.Length >= 3 && segment[..3].Equals("%2e", StringComparison.OrdinalIgnoreCase)) segment = segment[3..];
            else return false;
            if (++dots > 2) return false;
        }
        return dots > 0;
    }
}

/// <summary>Splits "host[:port]" (and "[v6]:port").</summary>
internal static class HostPort
{
    public static (string Host, string? Port) Split(string value)
    {
        if (value.StartsWith('['))
        {
            var close = value.IndexOf(']');
            if (close < 0) return (value, null);
            var h = value[..(close + 1)];
            return value.Length > close + 2 && value[close + 1] == ':' ? (h, value[(close + 2)..]) : (h, null);
        }
        var colon = value.LastIndexOf(':');
        if (colon < 0 || value.IndexOf(':') != colon) return (value, null);
        return (value[..colon], value[(colon + 1)..]);
    }
}
