using System.Net;
using System.Text;
using Portal.Core.Runtime;

namespace Portal.Core.Sandboxes;

/// <summary>
/// A sandbox's network settings as E2B's API carries them (create body <c>network</c> and
/// <c>allow_internet_access</c>, PUT /sandboxes/{id}/network), stored and echoed exactly as sent.
/// </summary>
public sealed record SandboxNetworkSettings
{
    public IReadOnlyList<string>? AllowOut { get; init; }
    public IReadOnlyList<string>? DenyOut { get; init; }
    /// <summary>Null = true: anyone may reach the sandbox's ports through the proxy.</summary>
    public bool? AllowPublicTraffic { get; init; }
    public string? MaskRequestHost { get; init; }
    /// <summary>Issued when <see cref="AllowPublicTraffic"/> is false: required on every port but envd's.</summary>
    public string? TrafficAccessToken { get; init; }
    /// <summary><c>allow_internet_access</c> as last sent; null = never sent (allowed).</summary>
    public bool? AllowInternetAccess { get; init; }

    public static readonly SandboxNetworkSettings Default = new();

    /// <summary>The rules the runtime enforces.</summary>
    public SandboxEgress Egress => SandboxEgress.From(AllowOut, DenyOut, AllowInternetAccess ?? true);

    public const string AllTraffic = "0.0.0.0/0";

    /// <summary>
    /// E2B's checks of allowOut / denyOut (the messages are E2B's own). Throws
    /// <see cref="DomainException"/> (400) on the first problem.
    /// </summary>
    public static void ValidateEgress(IReadOnlyList<string>? allowOut, IReadOnlyList<string>? denyOut)
    {
        var hasDomain = false;
        foreach (var entry in allowOut ?? [])
        {
            if (entry is null) throw DomainException.InvalidArgument("invalid allowed address null");
            if (TryParseAddress(entry, out var address, out _))
            {
                if (IsUnspecified(address)) throw DomainException.InvalidArgument($"invalid allowed address {entry}");
            }
            else hasDomain = true;
        }
        foreach (var entry in denyOut ?? [])
        {
            if (entry is null || !TryParseAddress(entry, out var address, out var prefix) || (IsUnspecified(address) && !(prefix == 0 && entry == AllTraffic)))
                throw DomainException.InvalidArgument($"invalid denied CIDR {entry}");
        }
        if (hasDomain && !(denyOut ?? []).Contains(AllTraffic))
            throw DomainException.InvalidArgument("When specifying allowed domains in allow out, you must include 'ALL_TRAFFIC' in deny out to block all other traffic.");
    }

    /// <summary>E2B's checks of maskRequestHost: <c>host[:port]</c> (with the <c>${PORT}</c> placeholder), ASCII only.</summary>
    public static void ValidateMask(string? mask)
    {
        if (mask is null) return;
        var host = mask;
        var colon = mask.LastIndexOf(':');
        if (colon >= 0)
        {
            host = mask[..colon];
            var port = mask[(colon + 1)..];
            if (port != "${PORT}" && !int.TryParse(port, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out _))
                throw DomainException.InvalidArgument($"mask request host is not valid: {mask}");
        }
        if (host.Length == 0 || host.Any(char.IsWhiteSpace) || host.Contains('/'))
            throw DomainException.InvalidArgument($"mask request host is not valid: {mask}");
        if (!Ascii.IsValid(host)) throw DomainException.InvalidArgument($"mask request host '{host}' is not ASCII. Please use ASCII characters only.");
    }

    /// <summary>An entry that parses as an IP address or a CIDR (either family) is an address; anything else is a domain.</summary>
    private static bool TryParseAddress(string entry, out IPAddress address, out int prefix)
    {
        prefix = -1;
        var slash = entry.IndexOf('/');
        var part = slash < 0 ? entry : entry[..slash];
        if (!IPAddress.TryParse(part, out address!) || (address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork && part.Count(c => c == '.') != 3))
        {
            address = IPAddress.None;
            return false;
        }
        if (slash < 0) return true;
        var max = address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? 32 : 128;
        return int.TryParse(entry[(slash + 1)..], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out prefix) && prefix <= max;
    }

    private static bool IsUnspecified(IPAddress a) => a.Equals(IPAddress.Any) || a.Equals(IPAddress.IPv6Any);
}
