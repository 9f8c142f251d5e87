using System.Buffers.Text;
using System.Net.Sockets;
using System.Text;

namespace Portal.Bench;

/// <summary>
/// One keep-alive HTTP/1.1 connection of the load generator, in the manner of wrk: the request is
/// a prepared byte array sent in one write, the response is parsed in place (status, then the body
/// by its Content-Length or chunked framing) and nothing else is allocated per request. A full
/// HTTP client (SocketsHttpHandler) costs the shared machine more CPU per request than the proxies
/// being compared, and its thread pool spins while it waits; both blur the proxies' own cost.
/// Strict on purpose: anything it does not expect (a response it cannot frame, bytes left after a
/// response, a peer that closes) throws, so a miscount can never pass as a measurement.
/// </summary>
internal sealed class LoadConnection : IDisposable
{
    private readonly Socket _socket;
    private readonly byte[] _buffer = new byte[64 * 1024];
    private int _start, _end;

    private LoadConnection(Socket socket) => _socket = socket;

    public static async Task<LoadConnection> OpenAsync(Func<CancellationToken, ValueTask<Socket>> connect) =>
        new(await connect(CancellationToken.None));

    /// <summary>Sends <paramref name="request"/> and reads the whole response; returns its status and body length.</summary>
    public async ValueTask<(int Status, int BodyLength)> ExchangeAsync(ReadOnlyMemory<byte> request)
    {
        if (_start != _end) throw new InvalidOperationException("bytes left over after the previous response");
        _start = _end = 0;
        while (!request.IsEmpty)
        {
            var sent = await _socket.SendAsync(request, SocketFlags.None);
            request = request[sent..];
        }

        int headEnd;
        while ((headEnd = _buffer.AsSpan(_start, _end - _start).IndexOf("\r\n\r\n"u8)) < 0) await FillAsync();
        var head = _buffer.AsSpan(_start, headEnd + 4);
        if (head.Length < 12 || !head.StartsWith("HTTP/1.1 "u8) || !Utf8Parser.TryParse(head.Slice(9, 3), out int status, out _))
            throw new InvalidDataException("not an HTTP/1.1 response: " + Encoding.ASCII.GetString(head[..Math.Min(head.Length, 200)]));
        var (length, chunked) = Framing(head);
        _start += head.Length;

        if (status is 204 or 304 || (status >= 100 && status < 200)) return (status, 0);
        if (chunked) return (status, await ReadChunkedAsync());
        if (length < 0) throw new InvalidDataException($"HTTP {status} without Content-Length or chunked framing");
        while (_end - _start < length) await FillAsync();
        _start += length;
        return (status, length);
    }

    private static (int Length, bool Chunked) Framing(ReadOnlySpan<byte> head)
    {
        int length = -1;
        var chunked = false;
        foreach (var range in head.Split("\r\n"u8))
        {
            var line = head[range];
            var colon = line.IndexOf((byte)':');
            if (colon <= 0) continue;
            var name = line[..colon];
            var value = line[(colon + 1)..].Trim((byte)' ');
            if (Ascii.EqualsIgnoreCase(name, "Content-Length"u8))
            {
                if (!Utf8Parser.TryParse(value, out length, out var used) || used != value.Length) throw new InvalidDataException("bad Content-Length");
            }
            else if (Ascii.EqualsIgnoreCase(name, "Transfer-Encoding"u8)) chunked = Ascii.EqualsIgnoreCase(value, "chunked"u8);
        }
        return (length, chunked);
    }

    private async ValueTask<int> ReadChunkedAsync()
    {
        var total = 0;
        while (true)
        {
            int lineEnd;
            while ((lineEnd = _buffer.AsSpan(_start, _end - _start).IndexOf("\r\n"u8)) < 0) await FillAsync();
            var line = _buffer.AsSpan(_start, lineEnd);
            var semicolon = line.IndexOf((byte)';');
            if (semicolon >= 0) line = line[..semicolon];
            if (!Utf8Parser.TryParse(line.Trim((byte)' '), out int size, out _, 'x')) throw new InvalidDataException("bad chunk size");
            _start += lineEnd + 2;
            if (size == 0)
            {
                // Trailer section: header lines up to an empty line.
                while (true)
                {
                    while ((lineEnd = _buffer.AsSpan(_start, _end - _start).IndexOf("\r\n"u8)) < 0) await FillAsync();
                    _start += lineEnd + 2;
                    if (lineEnd == 0) return total;
                }
            }
            while (_end - _start < size + 2) await FillAsync();
            _start += size + 2;
            total += size;
        }
    }

    private async ValueTask FillAsync()
    {
        if (_start > 0 && _start == _end) _start = _end = 0;
        if (_end == _buffer.Length)
        {
            if (_start == 0) throw new InvalidDataException("response larger than the load generator's buffer");
            Buffer.BlockCopy(_buffer, _start, _buffer, 0, _end - _start);
            _end -= _start;
            _start = 0;
        }
        var n = await _socket.ReceiveAsync(_buffer.AsMemory(_end), SocketFlags.None);
        if (n == 0) throw new InvalidDataException("the server closed the connection");
        _end += n;
    }

    public void Dispose() => _socket.Dispose();
}
