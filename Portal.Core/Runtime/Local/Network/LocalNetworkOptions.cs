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
}
