namespace Portal.Core.Runtime.Local.Network;

/// <summary>
/// Sandbox networking of the local runtime (<c>Portal:LocalRuntime:Network</c>): every sandbox gets
/// an address from <see cref="AddressPool"/> on a veth into its network namespace, NAT out through
/// <see cref="Uplink"/>, a DNS forwarder, and the E2B egress rules in nftables. See docs/networking.md.
/// </summary>
public sealed class LocalNetworkOptions
{
    /// <summary>False: sandboxes have loopback only (no veth, no nftables, no DNS).</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>
    /// The host interface sandbox traffic leaves by (NATed to its address). Empty: the interface of
    /// the host's IPv4 default route. <c>none</c>: sandboxes are wired and isolated but reach nothing outside.
    /// </summary>
    public string Uplink { get; set; } = "";

    /// <summary>
    /// IPv4 block the sandboxes' addresses come from: each sandbox takes a pair (host side and
    /// sandbox side of its veth), so a /16 holds 32,767 sandboxes. The first pair is the DNS address.
    /// </summary>
    public string AddressPool { get; set; } = "10.89.0.0/16";

    /// <summary>
    /// Private or reserved IPv4 ranges sandboxes may reach after all (an internal package mirror),
    /// e.g. <c>10.20.0.0/24</c>. Link-local (169.254.0.0/16) and loopback can never be opened.
    /// </summary>
    public List<string> OpenRanges { get; set; } = [];

    /// <summary>
    /// Where the sandboxes' DNS queries are forwarded to. Empty: the nameservers of the host's
    /// <c>/etc/resolv.conf</c> (the sandbox sees names as the host does).
    /// </summary>
    public List<string> DnsServers { get; set; } = [];

    /// <summary>
    /// The nftables table (family inet) this portal owns. Empty: <c>portal_</c> + a hash of the
    /// sandboxes directory, so two portals on one machine never share one.
    /// </summary>
    public string TableName { get; set; } = "";

    // Startup checks (Portal.Web registers them with messages naming the keys).

    public bool HasValidPool => Ipv4Cidr.TryParse(AddressPool, out var c) && AddressPool.Contains('/') && c.Value.Prefix is >= 8 and <= 29;

    /// <summary>Empty (the default route's interface), <c>none</c>, or an interface this host has.</summary>
    public bool HasValidUplink => Uplink is "" or "none" || (!Uplink.Contains('/') && Uplink != "." && Uplink != ".." && Directory.Exists($"/sys/class/net/{Uplink}"));

    /// <summary>IPv4 CIDRs outside loopback and link-local (those stay closed whatever is configured).</summary>
    public bool HasValidOpenRanges => OpenRanges.All(r => Ipv4Cidr.TryParse(r, out var c) && !Overlaps(c.Value, "127.0.0.0/8") && !Overlaps(c.Value, "169.254.0.0/16"));

    public bool HasValidDnsServers => DnsServers.All(s => Ipv4Cidr.TryParse(s, out var c) && c.Value.Prefix == 32 && !s.Contains('/'));

    public bool HasValidTableName => TableName.Length <= 64 && TableName.All(ch => char.IsAsciiLetterOrDigit(ch) || ch == '_');

    private static bool Overlaps(Ipv4Cidr a, string b)
    {
        Ipv4Cidr.TryParse(b, out var c);
        return a.Contains(c!.Value.Network) || c.Value.Contains(a.Network);
    }
}
