using System.Text;

namespace Portal.Web.Proxy;

/// <summary>
/// Headers that describe one connection rather than the message, so they never cross the proxy
/// in either direction: the one list for both paths (<see cref="Http1ConnectionProxy"/>,
/// <see cref="Http1Forwarder"/>), request and response alike. YARP's list is the reference (what
/// the portal's WebSocket path drops too): the connection's own headers, <c>Proxy-*</c> headers
/// meant for a proxy, and the HTTP/2 and ALPN negotiation headers. <c>TE</c> is dropped whatever
/// its value (YARP keeps <c>TE: trailers</c> for gRPC over HTTP/2; the hop to a sandbox is HTTP/1.1).
/// </summary>
public static class HopByHop
{
    public static bool Is(ReadOnlySpan<byte> name) => name.Length switch
    {
        2 => Ascii.EqualsIgnoreCase(name, "TE"u8),
        4 => Ascii.EqualsIgnoreCase(name, "ALPN"u8),
        5 => Ascii.EqualsIgnoreCase(name, "Close"u8),
        7 => Ascii.EqualsIgnoreCase(name, "Upgrade"u8) || Ascii.EqualsIgnoreCase(name, "Alt-Svc"u8),
        10 => Ascii.EqualsIgnoreCase(name, "Connection"u8) || Ascii.EqualsIgnoreCase(name, "Keep-Alive"u8),
        14 => Ascii.EqualsIgnoreCase(name, "HTTP2-Settings"u8) || Ascii.EqualsIgnoreCase(name, "Proxy-Features"u8),
        15 => Ascii.EqualsIgnoreCase(name, "Security-Scheme"u8),
        16 => Ascii.EqualsIgnoreCase(name, "Proxy-Connection"u8),
        17 => Ascii.EqualsIgnoreCase(name, "Transfer-Encoding"u8) || Ascii.EqualsIgnoreCase(name, "Proxy-Instruction"u8),
        18 => Ascii.EqualsIgnoreCase(name, "Proxy-Authenticate"u8),
        19 => Ascii.EqualsIgnoreCase(name, "Proxy-Authorization"u8),
        25 => Ascii.EqualsIgnoreCase(name, "Proxy-Authentication-Info"u8),
        _ => false,
    };

    public static bool Is(string name)
    {
        if (name.Length is not (2 or 4 or 5 or 7 or 10 or 14 or 15 or 16 or 17 or 18 or 19 or 25) || !Ascii.IsValid(name)) return false;
        Span<byte> bytes = stackalloc byte[name.Length];
        Encoding.ASCII.GetBytes(name, bytes);
        return Is(bytes);
    }
}
