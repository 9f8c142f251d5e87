using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Text;
using Microsoft.Extensions.Logging;

namespace Portal.Core.Runtime.Local.Network;

/// <summary>
/// Wires sandboxes to the outside and enforces their egress rules, with the kernel's parts only:
/// a veth pair per sandbox (a /32 on each end, routed point to point, so every packet a sandbox
/// sends crosses the host's IP stack), one nftables table this portal owns, NAT (masquerade) out
/// through the uplink. The table's chains are fixed; a sandbox adds elements to its sets (its
/// interface, its address, its allow/deny CIDRs keyed by its address), never rules, so the ruleset
/// does not grow with the number of sandboxes. DNS and the domain rules (HTTP Host, TLS SNI) are
/// answered in this process (<see cref="DnsForwarder"/>, <see cref="DomainEgressProxy"/>): nftables
/// redirects to them. See docs/networking.md.
/// </summary>
public sealed class SandboxNetwork : IDisposable
{
    /// <summary>Never reachable from a sandbox whatever its rules say (E2B's list plus multicast and
    /// reserved space); <see cref="LocalNetworkOptions.OpenRanges"/> may reopen parts of it.</summary>
    internal static readonly string[] AlwaysBlocked =
        ["0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12", "192.168.0.0/16", "224.0.0.0/3"];

    /// <summary>E2B's guests resolve through 8.8.8.8, so its rules decide about DNS as about that address: we do the same with our forwarder.</summary>
    private static readonly uint DnsRuleAddress = Ipv4Cidr.ToUInt(IPAddress.Parse("8.8.8.8"));

    private readonly LocalNetworkOptions _options;
    private readonly ILogger _log;
    private readonly Nftables _nft = new();
    private readonly Ipv4Cidr _pool;
    private readonly string _table;
    private readonly string? _uplink;
    private readonly List<Ipv4Cidr> _opened;
    private readonly Lock _slotsLock = new();
    private readonly HashSet<uint> _slotsInUse = [];
    private uint _nextSlot = 1;
    /// <summary>Rules in force per sandbox address (what to delete on the next change).</summary>
    private readonly ConcurrentDictionary<uint, SandboxEgress> _egress = new();
    private readonly DnsForwarder _dns;
    private readonly DomainEgressProxy _proxy;

    public SandboxNetwork(LocalNetworkOptions options, string sandboxesDirectory, ILogger log)
    {
        _options = options;
        _log = log;
        _pool = ParsePool(options.AddressPool);
        _table = string.IsNullOrEmpty(options.TableName) ? "portal_" + Hash(sandboxesDirectory) : options.TableName;
        _uplink = ResolveUplink(options.Uplink);
        _opened = options.OpenRanges.Select(r => Ipv4Cidr.TryParse(r, out var c) ? c.Value : throw new ArgumentException($"Portal:LocalRuntime:Network:OpenRanges: '{r}' is not an IPv4 address or CIDR")).ToList();
        var dnsServers = options.DnsServers.Count > 0 ? options.DnsServers : HostNameservers();
        _dns = new DnsForwarder(dnsServers.Select(IPAddress.Parse).ToList(), IsSandboxAddress, Allows, log);
        _proxy = new DomainEgressProxy(this, log);
        EnableUplinkForwarding(sandboxesDirectory);
        _nft.Run(TableDefinition());
    }

    /// <summary>The address every sandbox's resolv.conf names: slot 0's sandbox side, never given to a sandbox.</summary>
    public IPAddress DnsAddress => Ipv4Cidr.ToAddress(_pool.Network + 1);
    public string TableName => _table;
    internal string? Uplink => _uplink;
    private bool _uplinkGuard;

    /// <summary>The resolv.conf every sandbox gets (bind-mounted read-only over its /etc/resolv.conf).</summary>
    public string ResolvConf => $"nameserver {DnsAddress}\noptions edns0 trust-ad\n";

    internal static Ipv4Cidr ParsePool(string pool)
    {
        if (!Ipv4Cidr.TryParse(pool, out var c) || !pool.Contains('/') || c.Value.Prefix is < 8 or > 29)
            throw new ArgumentException($"Portal:LocalRuntime:Network:AddressPool must be an IPv4 CIDR from /8 to /29 (got '{pool}')");
        return c.Value;
    }

    /// <summary>The uplink interface: as configured, or the host's IPv4 default route's; null for "none".</summary>
    internal static string? ResolveUplink(string configured)
    {
        if (configured == "none") return null;
        if (!string.IsNullOrEmpty(configured))
            return Directory.Exists($"/sys/class/net/{configured}") && !configured.Contains('/')
                ? configured
                : throw new ArgumentException($"Portal:LocalRuntime:Network:Uplink names '{configured}', but this host has no such interface");
        foreach (var line in File.ReadLines("/proc/net/route").Skip(1))
        {
            var f = line.Split('\t', StringSplitOptions.TrimEntries);
            if (f.Length > 7 && f[1] == "00000000" && f[7] == "00000000") return f[0];
        }
        throw new ArgumentException("Portal:LocalRuntime:Network:Uplink is empty and this host has no IPv4 default route: name the uplink interface, or 'none'");
    }

    private static List<string> HostNameservers()
    {
        var servers = File.Exists("/etc/resolv.conf")
            ? File.ReadLines("/etc/resolv.conf").Select(l => l.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries))
                .Where(f => f.Length >= 2 && f[0] == "nameserver" && IPAddress.TryParse(f[1], out var a) && a.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork)
                .Select(f => f[1]).ToList()
            : [];
        return servers.Count > 0 ? servers : throw new ArgumentException("Portal:LocalRuntime:Network:DnsServers is empty and /etc/resolv.conf names no IPv4 nameserver");
    }

    private static string Hash(string s) =>
        Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(Encoding.UTF8.GetBytes(Path.GetFullPath(s))))[..8];

    /// <summary>
    /// Replies to sandboxes come in on the uplink and are forwarded, which the kernel decides per
    /// incoming interface: forwarding is turned on for the uplink and the sandboxes' veths only, never
    /// host-wide. When this portal turned it on, the table forwards nothing else from the uplink.
    /// </summary>
    private void EnableUplinkForwarding(string sandboxesDirectory)
    {
        if (_uplink is null) return;
        var knob = $"/proc/sys/net/ipv4/conf/{_uplink}/forwarding";
        // A marker remembers across restarts that the knob was ours to turn on.
        var marker = Path.Combine(sandboxesDirectory, $".forwarding-{_uplink}");
        if (File.Exists(marker)) _uplinkGuard = true;
        if (File.ReadAllText(knob).Trim() == "1") return;
        File.WriteAllText(marker, "");
        _uplinkGuard = true;
        File.WriteAllText(knob, "1");
    }

    private string TableDefinition()
    {
        var uplink = _uplink is null ? null : Quote(_uplink);
        var sb = new StringBuilder();
        // "add; delete; add" replaces a table left by an earlier run in the same transaction.
        sb.Append(CultureInfo.InvariantCulture, $"add table inet {_table}\ndelete table inet {_table}\n");
        sb.Append(CultureInfo.InvariantCulture, $$"""
            table inet {{_table}} {
              set ifs { type ifname; }
              set srcs { type ifname . ipv4_addr; }
              set blocked { type ipv4_addr; flags interval; auto-merge; elements = { {{string.Join(", ", AlwaysBlocked)}} } }
              set opened { type ipv4_addr; flags interval; auto-merge; {{(_opened.Count > 0 ? $"elements = {{ {string.Join(", ", _opened)} }}" : "")}} }
              set allow { type ipv4_addr . ipv4_addr; flags interval; }
              set deny { type ipv4_addr . ipv4_addr; flags interval; }
              set proxied { type ipv4_addr; }
              set nodns { type ipv4_addr; }
              chain guard {
                type filter hook prerouting priority raw; policy accept;
                iifname @ifs meta nfproto ipv6 drop
                iifname @ifs iifname . ip saddr != @srcs drop
              }
              chain divert {
                type nat hook prerouting priority dstnat; policy accept;
                iifname @ifs ip daddr {{DnsAddress}} ip saddr != @nodns udp dport 53 redirect to :{{_dns.Port}}
                iifname @ifs ip saddr @proxied tcp dport { 80, 443 } redirect to :{{_proxy.Port}}
              }
              chain input {
                type filter hook input priority filter; policy accept;
                iifname @ifs jump from_sandbox
                udp dport {{_dns.Port}} drop
                tcp dport {{_proxy.Port}} drop
              }
              chain from_sandbox {
                ct state established,related accept
                ct status dnat udp dport {{_dns.Port}} accept
                ct status dnat tcp dport {{_proxy.Port}} accept
                jump refuse
              }
              chain forward {
                type filter hook forward priority filter; policy accept;
                iifname @ifs jump egress
                oifname @ifs jump ingress
                {{(_uplinkGuard ? $"iifname {uplink} drop" : "")}}
              }
              chain egress {
                ct state established,related accept
                {{(uplink is null ? "jump refuse" : $"oifname != {uplink} jump refuse")}}
                ip daddr @blocked ip daddr != @opened jump refuse
                ip saddr . ip daddr @allow accept
                ip saddr . ip daddr @deny jump refuse
                accept
              }
              chain ingress {
                ct state established,related accept
                drop
              }
              chain refuse {
                meta l4proto tcp reject with tcp reset
                reject with icmpx type admin-prohibited
              }
              chain nat_out {
                type nat hook postrouting priority srcnat; policy accept;
                {{(uplink is null ? "" : $"oifname {uplink} ip saddr {_pool} masquerade")}}
              }
            }

            """);
        return sb.ToString();
    }

    private static string Quote(string iface) => "\"" + iface + "\"";

    private static string InterfaceName(uint sandboxAddress) => "spx" + sandboxAddress.ToString("x8", CultureInfo.InvariantCulture);

    /// <summary>
    /// Gives the sandbox whose PID 1 is <paramref name="initPid"/> a veth and an address. A slot
    /// another portal on this machine holds shows as an interface or route that already exists:
    /// that slot is skipped (the kernel is the lock between portals).
    /// </summary>
    public async Task<SandboxLink> WireAsync(int initPid, CancellationToken ct)
    {
        for (var attempt = 0; attempt < 64; attempt++)
        {
            var slot = TakeSlot();
            var gw = _pool.Network + 2 * slot;
            var link = new SandboxLink(InterfaceName(gw + 1), Ipv4Cidr.ToAddress(gw + 1).ToString(), Ipv4Cidr.ToAddress(gw).ToString());
            var (code, error) = await HostCommands.RunAsync("ip", ["link", "add", link.Interface, "type", "veth", "peer", "name", "eth0", "netns", initPid.ToString(CultureInfo.InvariantCulture)], ct: ct);
            if (code != 0)
            {
                if (!error.Contains("File exists", StringComparison.Ordinal)) { ReleaseSlot(slot); throw new InvalidOperationException($"creating the veth of a sandbox failed: {error}"); }
                continue; // someone else's: keep the slot marked, try the next
            }
            try
            {
                HostCommands.SetInterfaceSysctl("ipv6", link.Interface, "disable_ipv6", "1");
                HostCommands.SetInterfaceSysctl("ipv4", link.Interface, "forwarding", "1");
                (code, error) = await HostCommands.RunAsync("ip", ["-batch", "-"],
                    $"addr add {link.Gateway}/32 dev {link.Interface}\nlink set {link.Interface} up\nroute add {link.Address}/32 dev {link.Interface} src {link.Gateway}\n", ct);
                if (code != 0)
                {
                    await HostCommands.RunAsync("ip", ["link", "del", link.Interface], ct: CancellationToken.None);
                    if (error.Contains("File exists", StringComparison.Ordinal)) continue;
                    ReleaseSlot(slot);
                    throw new InvalidOperationException($"addressing the veth of a sandbox failed: {error}");
                }
                await HostCommands.CheckAsync("nsenter", ["-t", initPid.ToString(CultureInfo.InvariantCulture), "-n", "ip", "-batch", "-"],
                    $"addr add {link.Address}/32 dev eth0\nlink set eth0 up\nroute add {link.Gateway} dev eth0 scope link\nroute add default via {link.Gateway} dev eth0 onlink\n", ct);
                _nft.Run($"add element inet {_table} ifs {{ {link.Interface} }}\nadd element inet {_table} srcs {{ {link.Interface} . {link.Address} }}\n");
                _egress[gw + 1] = SandboxEgress.Open;
                return link;
            }
            catch
            {
                await UnwireAsync(link);
                throw;
            }
        }
        throw new RuntimeCapacityException("no free sandbox address: Portal:LocalRuntime:Network:AddressPool is used up (or held by another portal)");
    }

    /// <summary>Takes a sandbox wired by an earlier run of the portal back (its table was rebuilt empty).</summary>
    public void Adopt(SandboxLink link, SandboxEgress egress)
    {
        var address = Ipv4Cidr.ToUInt(IPAddress.Parse(link.Address));
        lock (_slotsLock) _slotsInUse.Add((address - _pool.Network) / 2);
        _nft.Run($"add element inet {_table} ifs {{ {link.Interface} }}\nadd element inet {_table} srcs {{ {link.Interface} . {link.Address} }}\n");
        _egress[address] = SandboxEgress.Open;
        SetEgress(link, egress);
    }

    /// <summary>
    /// Replaces the sandbox's rules in one nftables transaction. Connections already open keep
    /// going (the chains accept established flows first); new ones meet the new rules.
    /// </summary>
    public void SetEgress(SandboxLink link, SandboxEgress egress)
    {
        var address = Ipv4Cidr.ToUInt(IPAddress.Parse(link.Address));
        var old = _egress.GetValueOrDefault(address) ?? SandboxEgress.Open;
        var sb = new StringBuilder();
        Elements(sb, "delete", link.Address, old);
        Elements(sb, "add", link.Address, egress);
        if (sb.Length > 0) _nft.Run(sb.ToString());
        _egress[address] = egress;
    }

    private void Elements(StringBuilder sb, string verb, string address, SandboxEgress e)
    {
        if (e.AllowCidrs.Count > 0) sb.Append(CultureInfo.InvariantCulture, $"{verb} element inet {_table} allow {{ {string.Join(", ", e.AllowCidrs.Select(c => $"{address} . {c}"))} }}\n");
        if (e.DenyCidrs.Count > 0) sb.Append(CultureInfo.InvariantCulture, $"{verb} element inet {_table} deny {{ {string.Join(", ", e.DenyCidrs.Select(c => $"{address} . {c}"))} }}\n");
        if (e.AllowDomains.Count > 0) sb.Append(CultureInfo.InvariantCulture, $"{verb} element inet {_table} proxied {{ {address} }}\n");
        if (e.AllowDomains.Count == 0 && !e.AllowsAddress(DnsRuleAddress)) sb.Append(CultureInfo.InvariantCulture, $"{verb} element inet {_table} nodns {{ {address} }}\n");
    }

    /// <summary>Removes the sandbox's elements and its veth (the kernel drops its addresses and route with it). Idempotent.</summary>
    public async Task UnwireAsync(SandboxLink link)
    {
        var address = Ipv4Cidr.ToUInt(IPAddress.Parse(link.Address));
        if (_egress.TryRemove(address, out var rules))
        {
            var sb = new StringBuilder();
            Elements(sb, "delete", link.Address, rules);
            sb.Append(CultureInfo.InvariantCulture, $"delete element inet {_table} srcs {{ {link.Interface} . {link.Address} }}\ndelete element inet {_table} ifs {{ {link.Interface} }}\n");
            try { _nft.Run(sb.ToString()); }
            catch (InvalidOperationException e) { _log.LogWarning("removing the nftables elements of {Interface}: {Error}", link.Interface, e.Message); }
        }
        var (code, error) = await HostCommands.RunAsync("ip", ["link", "del", link.Interface]);
        if (code != 0 && !error.Contains("Cannot find device", StringComparison.Ordinal))
            _log.LogWarning("removing veth {Interface}: {Error}", link.Interface, error);
        lock (_slotsLock) _slotsInUse.Remove((address - _pool.Network) / 2);
    }

    private uint TakeSlot()
    {
        var slots = (uint)(1L << (32 - _pool.Prefix)) / 2;
        lock (_slotsLock)
        {
            for (uint i = 0; i < slots; i++)
            {
                var slot = _nextSlot;
                _nextSlot = _nextSlot + 1 >= slots ? 1 : _nextSlot + 1;
                if (_slotsInUse.Add(slot)) return slot;
            }
        }
        throw new RuntimeCapacityException("no free sandbox address: Portal:LocalRuntime:Network:AddressPool is used up");
    }

    private void ReleaseSlot(uint slot)
    {
        lock (_slotsLock) _slotsInUse.Remove(slot);
    }

    internal bool IsSandboxAddress(IPAddress a) => a.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork && _egress.ContainsKey(Ipv4Cidr.ToUInt(a));

    /// <summary>The rules of the sandbox with this address, or null for no sandbox of ours.</summary>
    internal SandboxEgress? EgressOf(IPAddress source) =>
        source.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork && _egress.TryGetValue(Ipv4Cidr.ToUInt(source), out var e) ? e : null;

    /// <summary>DNS goes out as E2B's 8.8.8.8 would: when the rules allow that address, or any domain.</summary>
    private bool Allows(IPAddress source) => EgressOf(source) is { } e && (e.AllowDomains.Count > 0 || e.AllowsAddress(DnsRuleAddress));

    /// <summary>Never dialled for a sandbox: the always-blocked ranges (unless opened) and the host's own addresses.</summary>
    internal bool IsForbiddenDestination(IPAddress dst)
    {
        if (dst.AddressFamily != System.Net.Sockets.AddressFamily.InterNetwork) return true;
        var n = Ipv4Cidr.ToUInt(dst);
        if (_pool.Contains(n)) return true;
        var blocked = AlwaysBlocked.Any(b => Ipv4Cidr.TryParse(b, out var c) && c.Value.Contains(n));
        if (blocked && !_opened.Any(o => o.Contains(n))) return true;
        return System.Net.NetworkInformation.NetworkInterface.GetAllNetworkInterfaces()
            .SelectMany(i => i.GetIPProperties().UnicastAddresses).Any(u => u.Address.Equals(dst));
    }

    internal Task<IReadOnlyList<IPAddress>> ResolveAsync(string name, IPAddress gateway, CancellationToken ct) => _dns.ResolveAsync(name, gateway, ct);

    /// <summary>The elements of this portal's table, as nft lists them (tests: nothing left behind).</summary>
    public string ListTable() => _nft.Run($"list table inet {_table}");

    /// <summary>
    /// Stops DNS and the domain proxy. The table stays: sandboxes outlive the portal, and the next
    /// start replaces it. <see cref="RemoveTable"/> removes it (tests, and a portal that drains).
    /// </summary>
    public void Dispose()
    {
        _dns.Dispose();
        _proxy.Dispose();
        _nft.Dispose();
    }

    public void RemoveTable()
    {
        try { _nft.Run($"delete table inet {_table}"); }
        catch (Exception e) when (e is InvalidOperationException or ObjectDisposedException) { _log.LogWarning("removing nftables table {Table}: {Error}", _table, e.Message); }
    }
}
