using System.Net;
using System.Net.Sockets;

namespace Portal.Core.Webhooks;

/// <summary>
/// Keeps webhooks off the portal's own network: a receiver's address may not be loopback,
/// link-local (cloud metadata at 169.254.169.254 included), private (RFC 1918, fc00::/7), CGNAT
/// (100.64.0.0/10), unspecified or multicast, unless <c>Portal:Webhooks:AllowPrivateTargets</c>.
/// Checked when a URL is saved and again on every connect, against the address actually dialled
/// (a name may resolve differently later: DNS rebinding).
/// </summary>
public static class WebhookTargetGuard
{
    /// <summary>Why <paramref name="address"/> is refused, or null when it is a public address.</summary>
    public static string? Refusal(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6) address = address.MapToIPv4();
        if (IPAddress.IsLoopback(address)) return "loopback";
        if (address.AddressFamily == AddressFamily.InterNetwork)
        {
            var b = address.GetAddressBytes();
            return b switch
            {
                [0, _, _, _] => "unspecified (0.0.0.0/8)",
                [10, _, _, _] => "private (10.0.0.0/8)",
                [172, >= 16 and <= 31, _, _] => "private (172.16.0.0/12)",
                [192, 168, _, _] => "private (192.168.0.0/16)",
                [100, >= 64 and <= 127, _, _] => "CGNAT shared address space (100.64.0.0/10)",
                [169, 254, _, _] => "link-local (169.254.0.0/16, cloud metadata included)",
                [>= 224 and <= 239, _, _, _] => "multicast",
                [255, 255, 255, 255] => "broadcast",
                [>= 240, _, _, _] => "reserved (240.0.0.0/4)",
                _ => null,
            };
        }
        if (address.AddressFamily == AddressFamily.InterNetworkV6)
        {
            if (address.Equals(IPAddress.IPv6Any)) return "unspecified (::)";
            if (address.IsIPv6LinkLocal) return "link-local (fe80::/10)";
            if (address.IsIPv6SiteLocal) return "site-local (fec0::/10)";
            if (address.IsIPv6Multicast) return "multicast";
            var b = address.GetAddressBytes();
            if ((b[0] & 0xFE) == 0xFC) return "private (fc00::/7)";
            // IPv4-compatible (::a.b.c.d) and NAT64 (64:ff9b::/96) forms reach the IPv4 address they embed.
            if (b.AsSpan(0, 12).IndexOfAnyExcept((byte)0) < 0) return Refusal(new IPAddress(b.AsSpan(12)));
            if (b is [0x00, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0, ..]) return Refusal(new IPAddress(b.AsSpan(12)));
            return null;
        }
        return "not an IP address";
    }

    /// <summary>
    /// Checks a webhook URL as saved: absolute http(s), no credentials, and (unless private
    /// targets are allowed) a host that resolves, only to public addresses. Returns the refusal, or null.
    /// </summary>
    public static async Task<string?> CheckUrlAsync(string url, bool allowPrivateTargets, CancellationToken ct)
    {
        if (url.Length > 2048) return "'url' must be at most 2048 characters";
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https") || string.IsNullOrEmpty(uri.Host))
            return $"'url' must be an absolute http:// or https:// URL (got '{url}')";
        if (!string.IsNullOrEmpty(uri.UserInfo)) return "'url' must not carry credentials (user:password@): put the check in the signature secret";
        if (allowPrivateTargets) return null;
        var host = uri.IdnHost.Trim('[', ']');
        IPAddress[] addresses;
        if (IPAddress.TryParse(host, out var literal)) addresses = [literal];
        else
        {
            try { addresses = await Dns.GetHostAddressesAsync(host, ct); }
            catch (SocketException e) { return $"'url': host '{host}' does not resolve ({e.SocketErrorCode})"; }
            if (addresses.Length == 0) return $"'url': host '{host}' does not resolve";
        }
        foreach (var a in addresses)
            if (Refusal(a) is { } why)
                return $"'url': host '{host}' resolves to {a}, a {why} address; webhooks may only reach public addresses (Portal:Webhooks:AllowPrivateTargets allows others)";
        return null;
    }

    /// <summary>
    /// The dispatcher's connect: resolves the host and dials only addresses the rule allows, so a
    /// name that resolved to a public address when saved cannot be pointed inward later.
    /// </summary>
    public static async ValueTask<Stream> ConnectAsync(DnsEndPoint endpoint, bool allowPrivateTargets, CancellationToken ct)
    {
        var host = endpoint.Host.Trim('[', ']');
        var addresses = IPAddress.TryParse(host, out var literal) ? [literal] : await Dns.GetHostAddressesAsync(host, ct);
        if (!allowPrivateTargets)
        {
            var refused = addresses.Select(a => (Address: a, Why: Refusal(a))).Where(x => x.Why is not null).ToList();
            if (refused.Count > 0)
                throw new WebhookTargetRefusedException(
                    $"target refused: '{host}' resolves to {refused[0].Address}, a {refused[0].Why} address (Portal:Webhooks:AllowPrivateTargets is off)");
        }
        if (addresses.Length == 0) throw new WebhookTargetRefusedException($"'{host}' does not resolve");
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(addresses, endpoint.Port, ct);
            return new NetworkStream(socket, ownsSocket: true);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }
}

/// <summary>A delivery's target resolves to an address webhooks may not reach.</summary>
public sealed class WebhookTargetRefusedException(string message) : Exception(message);
