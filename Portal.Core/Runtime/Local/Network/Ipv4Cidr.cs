using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;
using System.Net;
using System.Net.Sockets;

namespace Portal.Core.Runtime.Local.Network;

/// <summary>An IPv4 network (address + prefix length), normalised to its first address.</summary>
public readonly record struct Ipv4Cidr(uint Network, int Prefix)
{
    public uint Mask => Prefix == 0 ? 0u : uint.MaxValue << (32 - Prefix);
    public uint Last => Network | ~Mask;
    public bool Contains(uint address) => (address & Mask) == Network;
    public bool Contains(IPAddress address) => address.AddressFamily == AddressFamily.InterNetwork && Contains(ToUInt(address));

    /// <summary>"a.b.c.d" (a /32) or "a.b.c.d/n"; host bits are cleared.</summary>
    public static bool TryParse(string? text, [NotNullWhen(true)] out Ipv4Cidr? cidr)
    {
        cidr = null;
        if (string.IsNullOrWhiteSpace(text)) return false;
        var slash = text.IndexOf('/');
        var addressPart = slash < 0 ? text : text[..slash];
        var prefix = 32;
        if (slash >= 0 && (!int.TryParse(text[(slash + 1)..], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out prefix) || prefix > 32)) return false;
        if (!IsDottedQuad(addressPart) || !IPAddress.TryParse(addressPart, out var ip) || ip.AddressFamily != AddressFamily.InterNetwork) return false;
        var n = ToUInt(ip);
        var c = new Ipv4Cidr(0, prefix);
        cidr = c with { Network = n & c.Mask };
        return true;
    }

    /// <summary>IPAddress.TryParse also takes "1", "1.2" and hex forms; an E2B rule is dotted decimal.</summary>
    private static bool IsDottedQuad(string s) => s.Count(ch => ch == '.') == 3 && s.All(ch => ch == '.' || char.IsAsciiDigit(ch));

    public static uint ToUInt(IPAddress ip) => BinaryPrimitives.ReadUInt32BigEndian(ip.GetAddressBytes());
    public static IPAddress ToAddress(uint n)
    {
        var b = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(b, n);
        return new IPAddress(b);
    }

    public override string ToString() => $"{ToAddress(Network)}/{Prefix}";
}
