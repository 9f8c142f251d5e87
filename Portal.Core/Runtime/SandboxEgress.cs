using Portal.Core.Runtime.Local.Network;

namespace Portal.Core.Runtime;

/// <summary>
/// A sandbox's outbound rules as E2B defines them, already validated and with
/// <c>allow_internet_access:false</c> folded in (a deny of <c>0.0.0.0/0</c>). Per new TCP connection:
/// an allowed domain (HTTP Host on port 80, TLS SNI on 443) or allowed CIDR lets it through, else a
/// denied CIDR blocks it, else it goes through. Other ports and UDP/ICMP see the CIDRs only.
/// </summary>
public sealed record SandboxEgress
{
    public IReadOnlyList<Ipv4Cidr> AllowCidrs { get; init; } = [];
    /// <summary>Lower-case exact names, <c>*.name</c> (any subdomain, not the name itself) or <c>*</c>.</summary>
    public IReadOnlyList<string> AllowDomains { get; init; } = [];
    public IReadOnlyList<Ipv4Cidr> DenyCidrs { get; init; } = [];

    public static readonly SandboxEgress Open = new();

    public bool IsOpen => AllowCidrs.Count == 0 && AllowDomains.Count == 0 && DenyCidrs.Count == 0;

    /// <summary>Builds the rules from E2B's lists (entries that parse as IPv4/CIDR are addresses, the rest domains).</summary>
    public static SandboxEgress From(IEnumerable<string>? allowOut, IEnumerable<string>? denyOut, bool allowInternetAccess = true)
    {
        var allowCidrs = new List<Ipv4Cidr>();
        var domains = new List<string>();
        foreach (var entry in allowOut ?? [])
        {
            if (Ipv4Cidr.TryParse(entry, out var c)) allowCidrs.Add(c.Value);
            else domains.Add(entry.Trim().TrimEnd('.').ToLowerInvariant());
        }
        var deny = new List<Ipv4Cidr>();
        foreach (var entry in denyOut ?? [])
            if (Ipv4Cidr.TryParse(entry, out var c)) deny.Add(c.Value);
        if (!allowInternetAccess) deny = [new Ipv4Cidr(0, 0)];
        return new SandboxEgress { AllowCidrs = Outermost(allowCidrs), AllowDomains = domains.Distinct().ToList(), DenyCidrs = Outermost(deny) };
    }

    /// <summary>
    /// The list without entries another entry already covers (["0.0.0.0/0", "8.8.8.8"] is
    /// ["0.0.0.0/0"]): the same decision, and nftables interval sets refuse overlapping elements.
    /// </summary>
    private static List<Ipv4Cidr> Outermost(List<Ipv4Cidr> cidrs) =>
        cidrs.Distinct().Where(c => !cidrs.Any(o => o.Prefix < c.Prefix && o.Contains(c.Network))).ToList();

    /// <summary>The rules as E2B's two lists again (what <see cref="From"/> reads back).</summary>
    public (List<string> AllowOut, List<string> DenyOut) ToLists() =>
        ([.. AllowCidrs.Select(c => c.ToString()), .. AllowDomains], DenyCidrs.Select(c => c.ToString()).ToList());

    /// <summary>Whether <paramref name="host"/> (a Host header's name or an SNI) is an allowed domain.</summary>
    public bool AllowsDomain(string? host)
    {
        if (string.IsNullOrEmpty(host)) return false;
        host = host.TrimEnd('.').ToLowerInvariant();
        foreach (var d in AllowDomains)
        {
            if (d == "*" || d == host) return true;
            if (d.StartsWith("*.", StringComparison.Ordinal) && host.EndsWith(d[1..], StringComparison.Ordinal) && host.Length > d.Length - 1) return true;
        }
        return false;
    }

    /// <summary>The CIDR part of the decision (step 1 for addresses, then step 2, then the default allow).</summary>
    public bool AllowsAddress(uint address) =>
        AllowCidrs.Any(c => c.Contains(address)) || !DenyCidrs.Any(c => c.Contains(address));
}
