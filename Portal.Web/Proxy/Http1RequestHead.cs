using System.Buffers.Text;
using System.Text;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace Portal.Web.Proxy;

/// <summary>
/// A strict parse of one HTTP/1.1 request head for <see cref="Http1ConnectionProxy"/>. It accepts
/// only a plain subset (origin-form target, <c>HTTP/1.1</c>, token header names, ASCII values, at
/// most one <c>Host</c>/<c>Content-Length</c>/routing header, no chunked body, no upgrade, no
/// <c>Expect</c>, within Kestrel's configured size limits). Anything else goes to Kestrel untouched,
/// which answers it exactly as it would without the fast path: <see cref="ParseResult.NotMine"/>
/// for what may be valid HTTP outside the subset, <see cref="ParseResult.Invalid"/> for what the
/// portal refuses (Kestrel itself, or <see cref="SandboxProxy"/>'s checks). So the fast path can
/// never accept a request Kestrel's path would have refused; a differential test feeds the same
/// heads to both and holds them to it.
/// </summary>
public sealed class Http1RequestHead
{
    /// <summary><see cref="Invalid"/>: a head the portal refuses (Kestrel's path answers it with a 4xx).</summary>
    public enum ParseResult { NeedMore, Parsed, NotMine, Invalid }

    /// <summary>Kestrel's default limits (<see cref="KestrelServerLimits"/>).</summary>
    public Http1RequestHead() : this(new KestrelServerLimits()) { }

    /// <summary>With the limits Kestrel is configured with, so the fast path never takes a head Kestrel would refuse as too large.</summary>
    public Http1RequestHead(KestrelServerLimits limits)
    {
        MaxRequestLine = limits.MaxRequestLineSize;
        MaxHeadersTotal = limits.MaxRequestHeadersTotalSize;
        MaxHeaders = limits.MaxRequestHeaderCount;
    }

    /// <summary>Kestrel's <c>MaxRequestLineSize</c> (CRLF included here, which only makes it stricter).</summary>
    public int MaxRequestLine { get; }
    /// <summary>Kestrel's <c>MaxRequestHeadersTotalSize</c> (the header lines and the final empty line).</summary>
    public int MaxHeadersTotal { get; }
    /// <summary>Kestrel's <c>MaxRequestHeaderCount</c>.</summary>
    public int MaxHeaders { get; }
    /// <summary>The largest head the fast path takes.</summary>
    public int MaxHead => MaxRequestLine + MaxHeadersTotal;

    /// <summary>Length of the head including its final empty line.</summary>
    public int Length;
    public int MethodLength;
    public int TargetStart, TargetLength;
    /// <summary>Where the header lines start (after the request line).</summary>
    public int HeadersStart;
    public long ContentLength;
    public bool Close;
    public bool Idempotent;
    public bool IsHead;

    // Byte ranges of the values the router needs (−1 when absent).
    public int HostStart = -1, HostLength;
    public int SandboxIdStart = -1, SandboxIdLength;
    public int SandboxPortStart = -1, SandboxPortLength;
    public int ForwardedForStart = -1, ForwardedForLength;

    /// <summary>Parses the head at the start of <paramref name="data"/>.</summary>
    public ParseResult Parse(ReadOnlySpan<byte> data)
    {
        Reset();
        // Request line: METHOD SP origin-form SP HTTP/1.1 CRLF, checked byte by byte as it arrives
        // so a TLS handshake or an HTTP/2 preface is handed over at once, not waited on.
        var i = 0;
        while (i < data.Length && IsTChar(data[i])) i++;
        if (i == data.Length) return i > 32 ? ParseResult.NotMine : ParseResult.NeedMore;
        if (i == 0 || data[i] != (byte)' ') return ParseResult.NotMine;
        MethodLength = i;
        TargetStart = ++i;
        if (i < data.Length && data[i] != (byte)'/') return ParseResult.NotMine; // absolute-form, asterisk-form
        while (i < data.Length && data[i] is > 0x20 and < 0x7F) i++;
        if (i == data.Length) return i > MaxRequestLine ? ParseResult.NotMine : ParseResult.NeedMore;
        TargetLength = i - TargetStart;
        if (TargetLength == 0 || data[i] != (byte)' ') return ParseResult.NotMine;
        var version = data[(i + 1)..];
        var expected = "HTTP/1.1\r\n"u8;
        var n = Math.Min(version.Length, expected.Length);
        if (!version[..n].SequenceEqual(expected[..n])) return ParseResult.NotMine;
        if (n < expected.Length) return ParseResult.NeedMore;
        i += 1 + expected.Length;
        if (i > MaxRequestLine) return ParseResult.NotMine;
        HeadersStart = i;
        // Never sandbox traffic (tunnels are not forwarded; SandboxProxy answers 405).
        if (data[..MethodLength].SequenceEqual("CONNECT"u8)) return Refuse(405, ConnectRefused);
        var maxHead = HeadersStart + MaxHeadersTotal;

        var headers = 0;
        var chunkedOrOther = false;
        while (true)
        {
            var rest = data[i..];
            var lineEnd = rest.IndexOf((byte)'\n');
            if (lineEnd < 0) return i + rest.Length > maxHead ? ParseResult.NotMine : ParseResult.NeedMore;
            if (lineEnd == 0 || rest[lineEnd - 1] != (byte)'\r') return ParseResult.NotMine; // bare LF
            var line = rest[..(lineEnd - 1)];
            var next = i + lineEnd + 1;
            if (next > maxHead) return ParseResult.NotMine;
            if (line.IsEmpty)
            {
                Length = next;
                break;
            }
            if (++headers > MaxHeaders) return ParseResult.NotMine;

            var colon = 0;
            while (colon < line.Length && IsTChar(line[colon])) colon++;
            if (colon == 0 || colon == line.Length || line[colon] != (byte)':')
                // Refused: an empty name, whitespace before the colon, obs-fold, no colon, a byte
                // outside ASCII. Kestrel takes other printable separators in a name: its call.
                return colon < line.Length && line[colon] is > 0x20 and < 0x7F and not (byte)':' ? ParseResult.NotMine : Refuse(400, "malformed header line");
            var valueStart = colon + 1;
            var valueEnd = line.Length;
            for (var k = valueStart; k < valueEnd; k++)
            {
                if (line[k] is (< 0x20 and not (byte)'\t') or 0x7F) return Refuse(400, ControlCharacter);
                if (line[k] >= 0x80) return ParseResult.NotMine; // Kestrel decides what an encoding means
            }
            while (valueStart < valueEnd && line[valueStart] is (byte)' ' or (byte)'\t') valueStart++;
            while (valueEnd > valueStart && line[valueEnd - 1] is (byte)' ' or (byte)'\t') valueEnd--;
            var name = line[..colon];
            var value = line[valueStart..valueEnd];
            var at = i + valueStart;
            switch (Classify(name))
            {
                case Header.Host:
                    if (HostStart >= 0) return Refuse(400, "more than one Host header");
                    if (!IsHostValue(value)) return ParseResult.NotMine;
                    HostStart = at; HostLength = value.Length;
                    break;
                case Header.ContentLength:
                    // Digits only: a sign, a second value or a second header is refused, never guessed at.
                    if (ContentLength >= 0 || value.IsEmpty || value.ContainsAnyExceptInRange((byte)'0', (byte)'9')) return Refuse(400, "Content-Length must be one value of digits only");
                    if (!Utf8Parser.TryParse(value, out long length, out var used) || used != value.Length) return ParseResult.NotMine; // beyond a long
                    ContentLength = length;
                    break;
                case Header.SandboxId:
                    if (SandboxIdStart >= 0) return Refuse(400, RoutingTwice); // which one would a front proxy have read?
                    SandboxIdStart = at; SandboxIdLength = value.Length;
                    break;
                case Header.SandboxPort:
                    if (SandboxPortStart >= 0) return Refuse(400, RoutingTwice);
                    SandboxPortStart = at; SandboxPortLength = value.Length;
                    break;
                case Header.ForwardedFor:
                    if (ForwardedForStart >= 0) return ParseResult.NotMine;
                    ForwardedForStart = at; ForwardedForLength = value.Length;
                    break;
                case Header.Connection:
                    foreach (var range in value.Split((byte)','))
                    {
                        var token = value[range].Trim(" \t"u8);
                        if (Ascii.EqualsIgnoreCase(token, "close"u8)) Close = true;
                        else if (Ascii.EqualsIgnoreCase(token, "upgrade"u8)) return ParseResult.NotMine;
                    }
                    break;
                case Header.NotMine:
                    chunkedOrOther = true;
                    break;
            }
            i = next;
        }
        if (HostStart < 0) return Refuse(400, "no Host header"); // HTTP/1.1 requires one
        if (chunkedOrOther) return ParseResult.NotMine;
        if (ContentLength < 0) ContentLength = 0;
        Idempotent = UpstreamPool.IsIdempotent(data[..MethodLength]);
        IsHead = data[..MethodLength].SequenceEqual("HEAD"u8);
        return ParseResult.Parsed;
    }

    /// <summary>For <see cref="ParseResult.Invalid"/>: the status and message to answer with (as Kestrel's path would).</summary>
    public int RefusalStatus;
    public string? Refusal;

    internal const string RoutingTwice = "the E2b-Sandbox-Id and E2b-Sandbox-Port headers may each appear once";
    internal const string ConnectRefused = "CONNECT is not supported: the portal forwards requests to sandboxes, it does not open tunnels";
    internal const string ControlCharacter = "a header value carries a control character";

    private ParseResult Refuse(int status, string message)
    {
        RefusalStatus = status;
        Refusal = message;
        return ParseResult.Invalid;
    }

    private void Reset()
    {
        RefusalStatus = 0;
        Refusal = null;
        Length = MethodLength = TargetStart = TargetLength = HeadersStart = 0;
        ContentLength = -1;
        Close = Idempotent = IsHead = false;
        HostStart = SandboxIdStart = SandboxPortStart = ForwardedForStart = -1;
        HostLength = SandboxIdLength = SandboxPortLength = ForwardedForLength = 0;
    }

    public enum Header { Other, Host, ContentLength, SandboxId, SandboxPort, ForwardedFor, Connection, HopByHop, NotMine }

    /// <summary>What a request header means to the fast path; also used when writing the upstream head.</summary>
    /// <remarks><see cref="Header.HopByHop"/>: not forwarded (<see cref="Proxy.HopByHop"/>'s list, and the
    /// <c>X-Forwarded-Proto</c>/<c>-Host</c> the proxy writes itself, as Kestrel's path does).</remarks>
    public static Header Classify(ReadOnlySpan<byte> name)
    {
        var special = name.Length switch
        {
            4 => Ascii.EqualsIgnoreCase(name, "Host"u8) ? Header.Host : Header.Other,
            6 => Ascii.EqualsIgnoreCase(name, "Expect"u8) ? Header.NotMine : Header.Other, // Kestrel answers 100-continue
            7 => Ascii.EqualsIgnoreCase(name, "Upgrade"u8) ? Header.NotMine : Header.Other,
            10 => Ascii.EqualsIgnoreCase(name, "Connection"u8) ? Header.Connection : Header.Other,
            14 => Ascii.EqualsIgnoreCase(name, "Content-Length"u8) ? Header.ContentLength : Ascii.EqualsIgnoreCase(name, "E2b-Sandbox-Id"u8) ? Header.SandboxId : Header.Other,
            15 => Ascii.EqualsIgnoreCase(name, "X-Forwarded-For"u8) ? Header.ForwardedFor : Header.Other,
            16 => Ascii.EqualsIgnoreCase(name, "E2b-Sandbox-Port"u8) ? Header.SandboxPort
                : Ascii.EqualsIgnoreCase(name, "X-Forwarded-Host"u8) ? Header.HopByHop : Header.Other,
            17 => Ascii.EqualsIgnoreCase(name, "Transfer-Encoding"u8) ? Header.NotMine
                : Ascii.EqualsIgnoreCase(name, "X-Forwarded-Proto"u8) ? Header.HopByHop : Header.Other,
            _ => Header.Other,
        };
        return special == Header.Other && Proxy.HopByHop.Is(name) ? Header.HopByHop : special;
    }

    /// <summary>Kestrel's rule for a Host value: reg-name/IPv4/IPv6 literal characters and an optional port.</summary>
    private static bool IsHostValue(ReadOnlySpan<byte> value)
    {
        if (value.IsEmpty) return false;
        foreach (var b in value)
            if (!(b < 128 && HostChars[b])) return false;
        return true;
    }

    private static readonly bool[] HostChars = Build("-._~!$&'()*+,;=:%[]0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz");

    // RFC 9110 tchar: ! # $ % & ' * + - . ^ _ ` | ~ DIGIT ALPHA
    private static bool IsTChar(byte b) => b < 128 && TChars[b];

    private static readonly bool[] TChars = Build("!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz");

    private static bool[] Build(string chars)
    {
        var t = new bool[128];
        foreach (var c in chars) t[c] = true;
        return t;
    }
}
