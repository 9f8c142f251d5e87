using System.Buffers;
using System.Buffers.Text;
using System.IO.Pipelines;
using System.Runtime.CompilerServices;
using System.Text;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http.Features;

namespace Portal.Web.Proxy;

/// <summary>
/// Forwards one request/response exchange to a sandbox port over a keep-alive HTTP/1.1 connection
/// that serves the request's client connection only (<see cref="UpstreamPool"/> says why),
/// the way a C reverse proxy would: the request head (and a small body) goes out in one write, the
/// response head is parsed from one read buffer, and the body is passed on as it arrives, framed by
/// <c>Content-Length</c>, chunked encoding or the end of the stream. No <c>HttpRequestMessage</c>,
/// no <c>Uri</c>, no header collections of its own. Upgrades (WebSocket) are not handled here:
/// <see cref="SandboxProxy"/> sends them through YARP.
/// </summary>
/// <remarks>
/// Request headers pass through except the hop-by-hop ones; the original <c>Host</c> is kept (as
/// E2B's own proxy does, so a web server in the sandbox sees the name the client used) and
/// <c>X-Forwarded-For</c>/<c>-Proto</c>/<c>-Host</c> are set. Pooled connections the sandbox closed
/// while idle are skipped (<see cref="UpstreamPool"/> polls them); one that fails as it is reused,
/// with nothing of the response arrived and the request body still in hand, is retried once on a
/// new connection if the request cannot have reached the sandbox or is idempotent.
/// </remarks>
public sealed class Http1Forwarder(UpstreamPool pool)
{
    /// <summary>Request bodies up to this size are read first and sent with the head in one write.</summary>
    private const int SmallBody = 16 * 1024;
    private const int CopyChunk = 64 * 1024;

    /// <summary>Whether <see cref="ForwardAsync"/> can carry this request (everything but upgrades).</summary>
    public static bool Handles(HttpContext ctx) =>
        ctx.Features.Get<IHttpUpgradeFeature>()?.IsUpgradableRequest != true
        && ctx.Features.Get<IHttpExtendedConnectFeature>()?.IsExtendedConnect != true;

    /// <summary>
    /// Forwards the request to <paramref name="target"/> (raw path and query) on port
    /// <paramref name="port"/> of sandbox <paramref name="sandboxId"/>. Returns null when the
    /// exchange completed, or what failed; the caller answers (or aborts) then.
    /// </summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public async ValueTask<Exception?> ForwardAsync(HttpContext ctx, string sandboxId, int port, string target)
    {
        var request = ctx.Request;
        var hasBody = ctx.Features.Get<IHttpRequestBodyDetectionFeature>()?.CanHaveBody ?? request.ContentLength > 0;
        var length = request.ContentLength;
        var chunked = hasBody && length is null;
        var inline = !hasBody || length <= SmallBody;

        var head = BuildHead(ctx, sandboxId, port, target, chunked, inline ? (int)(length ?? 0) : 0, out var headLength);
        UpstreamConnection? connection = null;
        Task? bodyPump = null;
        CancellationTokenRegistration cut = default;
        try
        {
            if (hasBody && inline)
            {
                if (!await ReadSmallBodyAsync(request.BodyReader, head, headLength, (int)length!.Value)) return null; // client went away
                headLength += (int)length.Value;
            }

            // A client that goes away ends the exchange by closing the upstream connection.
            var aborted = ctx.RequestAborted;
            // Kept for this client connection only (UpstreamPool says why).
            var owner = pool.OwnerOf(ctx.Features.Get<IConnectionItemsFeature>()?.Items,
                ctx.Features.Get<IConnectionLifetimeFeature>()?.ConnectionClosed ?? default);
            connection = await pool.RentAsync(owner, sandboxId, port, aborted);
            cut = CloseOnAbort(aborted, connection);
            ResponseHead response;
            while (true)
            {
                var sent = false;
                try
                {
                    await connection.WriteAsync(head.AsMemory(0, headLength));
                    sent = true;
                    if (!inline) bodyPump = PumpBodyAsync(request.BodyReader, connection, chunked, length);
                    response = await ReadHeadAsync(connection, request.Method);
                    break;
                }
                catch (Exception) when (UpstreamPool.MayRetry(connection, sent, UpstreamPool.IsIdempotent(request.Method), held: inline, aborted))
                {
                    cut.Dispose();
                    pool.Close(connection);
                    connection = await pool.OpenAsync(connection.Owner, sandboxId, port, aborted);
                    cut = CloseOnAbort(aborted, connection);
                }
            }

            var reusable = await CopyResponseAsync(ctx, connection, response);
            // Answered before the whole body was sent: the connection is mid-request, not reusable.
            if (bodyPump is { IsCompletedSuccessfully: false }) reusable = false;
            // A body the server may have left unread would be read as the next request.
            if (hasBody && length != 0 && UpstreamPool.BodyMayBeIgnored(request.Method)) reusable = false;
            cut.Dispose();
            var done = connection;
            connection = null;
            pool.Return(done, reusable); // closed unless reusable, which also ends a pump still running
            if (bodyPump is not null)
            {
                if (!bodyPump.IsCompleted) request.BodyReader.CancelPendingRead(); // it may be waiting for a stalled client
                try { await bodyPump; } catch { /* the response is complete; the rest of the body is not wanted */ }
            }
            return null;
        }
        catch (Exception e)
        {
            cut.Dispose();
            if (connection is not null) pool.Close(connection);
            if (bodyPump is not null) _ = bodyPump.ContinueWith(static t => _ = t.Exception, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously);
            return e;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(head);
        }
    }

    private static CancellationTokenRegistration CloseOnAbort(CancellationToken aborted, UpstreamConnection connection) =>
        aborted.UnsafeRegister(static c => ((UpstreamConnection)c!).Dispose(), connection);

    // ---- request ----

    private static readonly byte[] Http11 = " HTTP/1.1\r\n"u8.ToArray();
    private static readonly byte[] LastChunk = "0\r\n\r\n"u8.ToArray();

    private static byte[] BuildHead(HttpContext ctx, string sandboxId, int port, string target, bool chunked, int bodySpace, out int length)
    {
        var request = ctx.Request;
        var buffer = ArrayPool<byte>.Shared.Rent(2048 + bodySpace);
        var w = new HeadWriter(buffer);
        w.Ascii(request.Method);
        w.Byte((byte)' ');
        w.Ascii(target);
        w.Bytes(Http11);

        string? host = null, forwardedFor = null;
        foreach (var (name, values) in request.Headers)
        {
            if (name.Length == 0 || name[0] == ':' || IsHopByHop(name)) continue;
            if (name.Equals("Host", StringComparison.OrdinalIgnoreCase)) { host = values.ToString(); continue; }
            if (name.Equals("X-Forwarded-For", StringComparison.OrdinalIgnoreCase)) { forwardedFor = values.ToString(); continue; }
            if (name.StartsWith("X-Forwarded-", StringComparison.OrdinalIgnoreCase)
                && (name.Equals("X-Forwarded-Proto", StringComparison.OrdinalIgnoreCase) || name.Equals("X-Forwarded-Host", StringComparison.OrdinalIgnoreCase))) continue;
            foreach (var value in values)
            {
                w.Ascii(name);
                w.Byte((byte)':');
                w.Byte((byte)' ');
                w.Latin1(value ?? "");
                w.Crlf();
            }
        }
        w.Ascii("Host: ");
        if (string.IsNullOrEmpty(host)) { w.Ascii(sandboxId); w.Byte((byte)':'); w.Int(port); }
        else w.Latin1(host);
        w.Crlf();
        if (ctx.Connection.RemoteIpAddress is { } ip)
        {
            w.Ascii("X-Forwarded-For: ");
            if (!string.IsNullOrEmpty(forwardedFor)) { w.Latin1(forwardedFor); w.Ascii(", "); }
            w.Ascii(ip.ToString());
            w.Crlf();
        }
        w.Ascii(request.IsHttps ? "X-Forwarded-Proto: https\r\n" : "X-Forwarded-Proto: http\r\n");
        if (!string.IsNullOrEmpty(host)) { w.Ascii("X-Forwarded-Host: "); w.Latin1(host); w.Crlf(); }
        if (chunked) w.Ascii("Transfer-Encoding: chunked\r\n");
        w.Crlf();
        w.Ensure(bodySpace);
        length = w.Length;
        return w.Buffer;
    }

    private static bool IsHopByHop(string name) =>
        HopByHop.Is(name) || name.Equals("Expect", StringComparison.OrdinalIgnoreCase); // Kestrel already answered 100-continue

    /// <summary>Appends exactly <paramref name="length"/> body bytes after the head; false when the client went away first.</summary>
    private static async ValueTask<bool> ReadSmallBodyAsync(PipeReader body, byte[] buffer, int offset, int length)
    {
        var read = 0;
        while (read < length)
        {
            var result = await body.ReadAsync();
            var data = result.Buffer;
            var take = (int)Math.Min(data.Length, length - read);
            data.Slice(0, take).CopyTo(buffer.AsSpan(offset + read));
            read += take;
            body.AdvanceTo(data.GetPosition(take));
            if (read < length && (result.IsCompleted || result.IsCanceled)) return false;
        }
        return true;
    }

    /// <summary>Sends a larger or unsized request body, 64 KB per write (Kestrel hands it over in 4 KB blocks).</summary>
    private static async Task PumpBodyAsync(PipeReader body, UpstreamConnection connection, bool chunked, long? length)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(CopyChunk + 16);
        try
        {
            long sent = 0;
            while (true)
            {
                var result = await body.ReadAsync();
                var data = result.Buffer;
                while (!data.IsEmpty)
                {
                    var take = (int)Math.Min(data.Length, CopyChunk);
                    var n = 0;
                    if (chunked)
                    {
                        Utf8Formatter.TryFormat(take, buffer, out n, new System.Buffers.StandardFormat('x'));
                        buffer[n++] = (byte)'\r';
                        buffer[n++] = (byte)'\n';
                    }
                    data.Slice(0, take).CopyTo(buffer.AsSpan(n));
                    n += take;
                    if (chunked) { buffer[n++] = (byte)'\r'; buffer[n++] = (byte)'\n'; }
                    await connection.WriteAsync(buffer.AsMemory(0, n));
                    connection.LastActivity = Environment.TickCount64;
                    sent += take;
                    data = data.Slice(take);
                }
                body.AdvanceTo(result.Buffer.End);
                if (result.IsCompleted || result.IsCanceled) break;
            }
            if (length is { } expected && sent != expected) throw new IOException($"the client sent {sent} of {expected} body bytes");
            if (chunked) await connection.WriteAsync(LastChunk);
        }
        catch
        {
            connection.Dispose(); // the sandbox must not take a truncated body for a whole one
            throw;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    // ---- response ----

    private readonly record struct ResponseHead(int Status, List<KeyValuePair<string, string>> Headers, long ContentLength, bool Chunked, bool Close, bool NoBody);

    /// <summary>The final response head (<see cref="Http1ResponseHead"/>, shared with the fast path), its headers less the hop-by-hop ones.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private static async ValueTask<ResponseHead> ReadHeadAsync(UpstreamConnection c, string method)
    {
        var (length, framing) = await Http1ResponseHead.ReadAsync(c, HttpMethods.IsHead(method));
        var headers = new List<KeyValuePair<string, string>>(8);
        foreach (var (name, value, _) in Http1ResponseHead.Lines(c.Buffer.AsSpan(c.Start, length)))
        {
            if (HopByHop.Is(name) || Ascii.EqualsIgnoreCase(name, "Content-Length"u8)
                || Ascii.EqualsIgnoreCase(name, "Date"u8)) // Kestrel writes its own
                continue;
            headers.Add(new(HeaderName(name), Encoding.Latin1.GetString(value)));
        }
        c.Start += length;
        var chunked = framing.Kind == FramingKind.Chunked;
        var noBody = framing.Kind == FramingKind.None;
        return new ResponseHead(framing.Status, headers, framing.Length, chunked, framing.UpstreamClose, noBody);
    }

    // The names envd and most servers send, without a string per response.
    private static readonly string[] KnownNames = ["Content-Type", "Server", "Cache-Control", "Content-Encoding", "Connect-Content-Encoding", "Vary", "Last-Modified", "ETag", "Location", "Set-Cookie"];

    private static string HeaderName(ReadOnlySpan<byte> name)
    {
        foreach (var known in KnownNames)
            if (known.Length == name.Length && Ascii.EqualsIgnoreCase(name, known)) return known;
        return Encoding.ASCII.GetString(name);
    }

    /// <summary>Sets status and headers, copies the body; true when the connection may carry another exchange.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private static async ValueTask<bool> CopyResponseAsync(HttpContext ctx, UpstreamConnection c, ResponseHead head)
    {
        var response = ctx.Response;
        response.StatusCode = head.Status;
        var headers = response.Headers;
        foreach (var (name, value) in head.Headers) headers.Append(name, value);
        if (head.ContentLength >= 0 && !(head.NoBody && head.Status is 204 or 304)) response.ContentLength = head.ContentLength;

        var writer = response.BodyWriter;
        if (head.NoBody) return !head.Close;
        bool reusable;
        if (head.Chunked) reusable = await UpstreamBody.CopyChunkedAsync(writer, c, verbatim: false);
        else if (head.ContentLength >= 0) reusable = await UpstreamBody.CopyLengthAsync(writer, c, head.ContentLength);
        else
        {
            await UpstreamBody.CopyToEndAsync(writer, c);
            reusable = false; // the end of the body was the end of the connection
        }
        // Kestrel flushes at the end of a response only when nothing was flushed before: the last
        // part of a body larger than one read would wait in its buffer for the next response.
        await writer.FlushAsync();
        return reusable && !head.Close;
    }

    /// <summary>Appends ASCII/Latin-1 text to a pooled buffer, growing it as needed.</summary>
    private struct HeadWriter(byte[] buffer)
    {
        public byte[] Buffer = buffer;
        public int Length;

        public void Ensure(int more)
        {
            if (Length + more <= Buffer.Length) return;
            var bigger = ArrayPool<byte>.Shared.Rent(Math.Max(Buffer.Length * 2, Length + more));
            Buffer.AsSpan(0, Length).CopyTo(bigger);
            ArrayPool<byte>.Shared.Return(Buffer);
            Buffer = bigger;
        }

        public void Byte(byte b) { Ensure(1); Buffer[Length++] = b; }
        public void Bytes(ReadOnlySpan<byte> bytes) { Ensure(bytes.Length); bytes.CopyTo(Buffer.AsSpan(Length)); Length += bytes.Length; }
        public void Crlf() { Ensure(2); Buffer[Length++] = (byte)'\r'; Buffer[Length++] = (byte)'\n'; }
        public void Ascii(string s) => Latin1(s);

        public void Latin1(string s)
        {
            Ensure(s.Length);
            // Header values are checked by Kestrel on the way in; CR/LF cannot reach here.
            Length += Encoding.Latin1.GetBytes(s, Buffer.AsSpan(Length));
        }

        public void Int(int value)
        {
            Ensure(11);
            Utf8Formatter.TryFormat(value, Buffer.AsSpan(Length), out var n);
            Length += n;
        }
    }
}
