using System.Buffers.Text;
using System.Runtime.CompilerServices;
using System.Text;

namespace Portal.Web.Proxy;

internal enum FramingKind { None, Length, Chunked, ToEnd }

/// <summary>How a final response's body is framed, and whether the sandbox ends the connection after it.</summary>
internal readonly record struct ResponseFraming(int Status, FramingKind Kind, long Length, bool UpstreamClose);

/// <summary>
/// The one reader of a sandbox's response head, for both paths (<see cref="Http1ConnectionProxy"/>
/// relays its lines as bytes, <see cref="Http1Forwarder"/> into Kestrel's response): skips 1xx,
/// refuses a 101 nobody asked for, a malformed status line or header line, a bad
/// <c>Content-Length</c> and any transfer coding but chunked, and works out the body's framing.
/// </summary>
internal static class Http1ResponseHead
{
    /// <summary>
    /// Reads up to the final response head: on return it starts at <c>c.Start</c> and is
    /// <c>Length</c> bytes long (final empty line included), still unconsumed.
    /// </summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public static async ValueTask<(int Length, ResponseFraming Framing)> ReadAsync(UpstreamConnection c, bool isHead)
    {
        while (true)
        {
            int end;
            while ((end = c.Buffer.AsSpan(c.Start, c.Buffered).IndexOf("\r\n\r\n"u8)) < 0)
                if (await c.FillAsync() == 0)
                    throw new IOException(c.Buffered == 0 ? "the sandbox closed the connection without a response" : "the sandbox closed the connection inside a response head");
            var framing = Parse(c.Buffer.AsSpan(c.Start, end + 4), isHead);
            if (framing.Status >= 200) return (end + 4, framing);
            if (framing.Status == 101) throw new InvalidDataException("the sandbox switched protocols on a request that did not ask to");
            c.Start += end + 4; // 100 Continue, 103 Early Hints: the final response follows
        }
    }

    /// <summary>Status and framing of a whole head (status line to final empty line), every line checked.</summary>
    public static ResponseFraming Parse(ReadOnlySpan<byte> head, bool isHead)
    {
        var line = StatusLine(head);
        if (line.Length < 12 || !line.StartsWith("HTTP/1."u8) || line[7] is not ((byte)'0' or (byte)'1') || line[8] != (byte)' '
            || !Utf8Parser.TryParse(line.Slice(9, 3), out int status, out var used) || used != 3 || status < 100 || status > 999)
            throw new InvalidDataException("the sandbox sent a malformed HTTP status line");
        var http10 = line[7] == (byte)'0';
        long contentLength = -1;
        bool chunked = false, close = http10, keepAlive = false;
        foreach (var (name, value, _) in Lines(head))
        {
            if (Ascii.EqualsIgnoreCase(name, "Content-Length"u8))
            {
                if (value.IsEmpty || value.ContainsAnyExceptInRange((byte)'0', (byte)'9') || !Utf8Parser.TryParse(value, out long n, out var consumed)
                    || consumed != value.Length || (contentLength >= 0 && contentLength != n))
                    throw new InvalidDataException("the sandbox sent an invalid Content-Length");
                contentLength = n;
            }
            else if (Ascii.EqualsIgnoreCase(name, "Transfer-Encoding"u8))
            {
                if (!Ascii.EqualsIgnoreCase(value, "chunked"u8) || chunked) throw new InvalidDataException("the sandbox sent a transfer coding other than chunked");
                chunked = true;
            }
            else if (Ascii.EqualsIgnoreCase(name, "Connection"u8))
            {
                foreach (var range in value.Split((byte)','))
                {
                    var token = value[range].Trim(" \t"u8);
                    if (Ascii.EqualsIgnoreCase(token, "close"u8)) close = true;
                    else if (Ascii.EqualsIgnoreCase(token, "keep-alive"u8)) keepAlive = true;
                }
            }
        }
        if (http10 && keepAlive) close = false;
        var kind = status < 200 || isHead || status is 204 or 304 ? FramingKind.None
            : chunked ? FramingKind.Chunked
            : contentLength >= 0 ? FramingKind.Length
            : FramingKind.ToEnd;
        return new ResponseFraming(status, kind, chunked ? -1 : contentLength, close);
    }

    /// <summary>The status line, without its CRLF.</summary>
    public static ReadOnlySpan<byte> StatusLine(ReadOnlySpan<byte> head) => head[..head.IndexOf("\r\n"u8)];

    /// <summary>The header lines of a whole head (checked as they are enumerated).</summary>
    public static HeaderLines Lines(ReadOnlySpan<byte> head)
    {
        var lineEnd = head.IndexOf("\r\n"u8);
        return new HeaderLines(head[(lineEnd + 2)..^2]);
    }

    /// <summary>Header lines (without the status line and final CRLF): name, trimmed value, whole line.</summary>
    internal ref struct HeaderLines(ReadOnlySpan<byte> rest)
    {
        private ReadOnlySpan<byte> _rest = rest;
        public HeaderLine Current { get; private set; }
        public readonly HeaderLines GetEnumerator() => this;

        public bool MoveNext()
        {
            if (_rest.IsEmpty) return false;
            var end = _rest.IndexOf("\r\n"u8);
            if (end < 0) end = _rest.Length;
            var line = _rest[..end];
            _rest = end + 2 <= _rest.Length ? _rest[(end + 2)..] : default;
            var colon = line.IndexOf((byte)':');
            if (colon <= 0 || line[0] is (byte)' ' or (byte)'\t' || line[colon - 1] is (byte)' ' or (byte)'\t'
                || line.IndexOfAny((byte)'\r', (byte)'\n', (byte)0) >= 0)
                throw new InvalidDataException("the sandbox sent a malformed response header");
            Current = new HeaderLine(line[..colon], line[(colon + 1)..].Trim(" \t"u8), line);
            return true;
        }
    }

    internal readonly ref struct HeaderLine(ReadOnlySpan<byte> name, ReadOnlySpan<byte> value, ReadOnlySpan<byte> raw)
    {
        private readonly ReadOnlySpan<byte> _name = name, _value = value, _raw = raw;

        public void Deconstruct(out ReadOnlySpan<byte> name, out ReadOnlySpan<byte> value, out ReadOnlySpan<byte> raw)
        {
            name = _name;
            value = _value;
            raw = _raw;
        }
    }
}
