using System.Buffers;
using System.Buffers.Text;
using System.IO.Pipelines;
using System.Runtime.CompilerServices;

namespace Portal.Web.Proxy;

/// <summary>
/// Copies a response body from a sandbox connection to the client's writer by its framing — for
/// <see cref="Http1Forwarder"/> (into Kestrel's response) and <see cref="Http1ConnectionProxy"/>
/// (into the connection). Each returns false when the client went away.
/// </summary>
internal static class UpstreamBody
{
    private const int CopyChunk = 64 * 1024;

    /// <summary>Exactly <paramref name="remaining"/> bytes (<c>Content-Length</c>).</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public static async ValueTask<bool> CopyLengthAsync(PipeWriter w, UpstreamConnection c, long remaining)
    {
        // A small body still on its way (the sandbox wrote head and body apart): wait for the rest
        // before sending anything, so the client gets head and body in one write.
        if (remaining > c.Buffered && remaining <= UpstreamConnection.BufferSize / 2)
            while (c.Buffered < remaining)
                if (await c.FillAsync() == 0) throw new IOException("the sandbox closed the connection before the end of the response body");
        var take = (int)Math.Min(c.Buffered, remaining);
        if (take > 0)
        {
            w.Write(c.Buffer.AsSpan(c.Start, take));
            c.Start += take;
            remaining -= take;
        }
        while (remaining > 0)
        {
            if (!await FlushAsync(w)) return false;
            // Straight into the writer's buffers: no copy for large bodies.
            var memory = w.GetMemory((int)Math.Min(remaining, CopyChunk));
            var n = await c.ReadAsync(memory[..(int)Math.Min(memory.Length, remaining)]);
            if (n == 0) throw new IOException("the sandbox closed the connection before the end of the response body");
            c.LastActivity = Environment.TickCount64;
            w.Advance(n);
            remaining -= n;
        }
        return true;
    }

    /// <summary>
    /// A chunked body up to its last chunk and trailers: decoded (the data only, for a writer that
    /// frames it itself) or, <paramref name="verbatim"/>, passed on as it came (sizes, extensions,
    /// trailers). Each chunk is flushed before waiting for the next (a stream's message must not wait).
    /// </summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public static async ValueTask<bool> CopyChunkedAsync(PipeWriter w, UpstreamConnection c, bool verbatim)
    {
        var pending = false;
        while (true)
        {
            int lineEnd;
            while ((lineEnd = c.Buffer.AsSpan(c.Start, c.Buffered).IndexOf("\r\n"u8)) < 0)
                if (!await RefillAsync(w, c, pending)) return false;
                else pending = false;
            var line = c.Buffer.AsSpan(c.Start, lineEnd);
            var semicolon = line.IndexOf((byte)';');
            var digits = (semicolon < 0 ? line : line[..semicolon]).Trim(" \t"u8);
            if (!Utf8Parser.TryParse(digits, out long size, out var used, 'x') || used != digits.Length || size < 0)
                throw new InvalidDataException("the sandbox sent a malformed chunk size");
            if (verbatim)
            {
                if (line.IndexOfAny((byte)'\n', (byte)0) >= 0) throw new InvalidDataException("the sandbox sent a malformed chunk size");
                w.Write(c.Buffer.AsSpan(c.Start, lineEnd + 2));
                pending = true;
            }
            c.Start += lineEnd + 2;

            if (size == 0)
            {
                // Trailers up to the empty line.
                while (true)
                {
                    while ((lineEnd = c.Buffer.AsSpan(c.Start, c.Buffered).IndexOf("\r\n"u8)) < 0)
                        if (!await RefillAsync(w, c, pending)) return false;
                        else pending = false;
                    if (verbatim)
                    {
                        if (c.Buffer.AsSpan(c.Start, lineEnd).IndexOfAny((byte)'\n', (byte)0) >= 0)
                            throw new InvalidDataException("the sandbox sent a malformed trailer");
                        w.Write(c.Buffer.AsSpan(c.Start, lineEnd + 2));
                    }
                    c.Start += lineEnd + 2;
                    if (lineEnd == 0) return true;
                }
            }

            while (size > 0)
            {
                if (c.Buffered == 0)
                {
                    if (!await RefillAsync(w, c, pending)) return false;
                    pending = false;
                }
                var take = (int)Math.Min(c.Buffered, size);
                w.Write(c.Buffer.AsSpan(c.Start, take));
                c.Start += take;
                size -= take;
                pending = true;
            }
            while (c.Buffered < 2)
                if (!await RefillAsync(w, c, pending)) return false;
                else pending = false;
            if (c.Buffer[c.Start] != (byte)'\r' || c.Buffer[c.Start + 1] != (byte)'\n')
                throw new InvalidDataException("the sandbox sent a chunk without its closing CRLF");
            if (verbatim) w.Write("\r\n"u8);
            c.Start += 2;
        }
    }

    /// <summary>Everything until the sandbox closes the connection.</summary>
    public static async ValueTask<bool> CopyToEndAsync(PipeWriter w, UpstreamConnection c)
    {
        while (true)
        {
            if (c.Buffered > 0)
            {
                w.Write(c.Buffer.AsSpan(c.Start, c.Buffered));
                c.Start = c.End;
            }
            if (!await FlushAsync(w)) return false;
            c.Start = c.End = 0;
            if (await c.FillAsync() == 0) return true;
        }
    }

    /// <summary>Sends what is written so far (a stream's message must not wait), then reads more.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private static async ValueTask<bool> RefillAsync(PipeWriter w, UpstreamConnection c, bool flush)
    {
        if (flush && !await FlushAsync(w)) return false;
        if (await c.FillAsync() == 0) throw new IOException("the sandbox closed the connection inside a chunked response");
        return true;
    }

    /// <summary>False when the client went away.</summary>
    public static async ValueTask<bool> FlushAsync(PipeWriter w)
    {
        var result = await w.FlushAsync();
        return !result.IsCanceled && !result.IsCompleted;
    }
}
