using System.Buffers;
using System.Globalization;
using System.IO.Pipelines;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.WebUtilities;

namespace Portal.Web.Apis;

/// <summary>
/// Gives the answers Kestrel writes on its own — a request it refuses before any middleware
/// runs (414 target too long, 431 headers too large, 400 malformed head such as <c>%00</c> in the
/// path, 408 headers too slow) — the E2B error body every other answer has.
/// </summary>
/// <remarks>
/// Kestrel offers no hook for these answers (they are written by its HTTP layer with
/// <c>Content-Length: 0</c>), so this is a connection middleware in front of that layer. It knows
/// which bytes are Kestrel's own by counting requests: <see cref="Track"/> (the first HTTP
/// middleware) marks a request from its start until Kestrel reports it completed, and anything
/// written on the connection while no request is marked is such an answer. Those bytes are held
/// until Kestrel flushes them; a 4xx/5xx HTTP/1.1 head with an empty body is then rewritten with
/// the JSON body, anything else passes unchanged. While a request runs, writes pass straight through.
/// On https endpoints it must follow TLS: Kestrel adds its TLS layer after every middleware of an
/// endpoint unless one is there already, so the host builder adds TLS first (PortalTls.HttpsPorts).
/// </remarks>
public static class KestrelRejections
{
    /// <summary>The connection middleware (registered for every endpoint, inside the proxy's fast path).</summary>
    public static ConnectionDelegate Middleware(ConnectionDelegate next) => async connection =>
    {
        var requests = new RequestCount();
        connection.Features.Set(requests);
        var original = connection.Transport;
        connection.Transport = new Duplex(original.Input, new RewritingWriter(original.Output, requests));
        try
        {
            await next(connection);
        }
        finally
        {
            connection.Transport = original;
        }
    };

    /// <summary>The HTTP middleware half: a request is in the application until Kestrel completes its response.</summary>
    public static void Track(Microsoft.AspNetCore.Http.HttpContext ctx)
    {
        if (ctx.Features.Get<RequestCount>() is not { } requests) return;
        Interlocked.Increment(ref requests.Active);
        ctx.Response.OnCompleted(static state =>
        {
            Interlocked.Decrement(ref ((RequestCount)state).Active);
            return Task.CompletedTask;
        }, requests);
    }

    /// <summary>The E2B body for a status Kestrel refused a request with.</summary>
    internal static string Message(int status) => status switch
    {
        400 => "malformed request: the request line or a header is not valid HTTP/1.1",
        408 => "the request headers did not arrive within Kestrel:Limits:RequestHeadersTimeout",
        413 => "request body too large",
        414 => "the request target is longer than Kestrel:Limits:MaxRequestLineSize allows",
        431 => "the request headers exceed Kestrel:Limits:MaxRequestHeadersTotalSize or MaxRequestHeaderCount",
        505 => "HTTP version not supported: use HTTP/1.1 or HTTP/2",
        _ => ReasonPhrases.GetReasonPhrase(status) is { Length: > 0 } r ? r : "error",
    };

    /// <summary>
    /// Rewrites a Kestrel answer (<c>HTTP/1.1 NNN ...</c>, NNN ≥ 400, <c>Content-Length: 0</c>, nothing after
    /// the head) to carry the JSON body; null when <paramref name="written"/> is anything else.
    /// </summary>
    internal static byte[]? Rewrite(ReadOnlySpan<byte> written)
    {
        if (written.Length < 16 || !written.StartsWith("HTTP/1.1 "u8)) return null;
        if (!int.TryParse(written.Slice(9, 3), NumberStyles.None, CultureInfo.InvariantCulture, out var status) || status < 400) return null;
        var end = written.IndexOf("\r\n\r\n"u8);
        if (end < 0 || end + 4 != written.Length) return null;
        var head = written[..(end + 2)]; // through the last header's CRLF
        var cl = head.IndexOf("\r\nContent-Length: 0\r\n"u8);
        if (cl < 0) return null;
        var body = JsonSerializer.SerializeToUtf8Bytes(new ErrorBody(status, Message(status)));
        var replacement = Encoding.ASCII.GetBytes($"\r\nContent-Type: application/json\r\nContent-Length: {body.Length}\r\n");
        var before = head[..cl];
        var after = head[(cl + "\r\nContent-Length: 0\r\n".Length)..];
        var result = new byte[before.Length + replacement.Length + after.Length + 2 + body.Length];
        var span = result.AsSpan();
        before.CopyTo(span); span = span[before.Length..];
        replacement.CopyTo(span); span = span[replacement.Length..];
        after.CopyTo(span); span = span[after.Length..];
        "\r\n"u8.CopyTo(span); span = span[2..];
        body.CopyTo(span);
        return result;
    }

    internal sealed class RequestCount
    {
        public int Active;
    }

    private sealed class Duplex(PipeReader input, PipeWriter output) : IDuplexPipe
    {
        public PipeReader Input { get; } = input;
        public PipeWriter Output { get; } = output;
    }

    /// <summary>Passes writes through while a request runs; holds and maybe rewrites what Kestrel writes between requests.</summary>
    private sealed class RewritingWriter(PipeWriter inner, RequestCount requests) : PipeWriter
    {
        private ArrayBufferWriter<byte>? _held;
        private bool _handedHeld; // the last GetMemory/GetSpan came from _held
        // Set once the connection's first bytes out are not an HTTP/1 head: TLS (the middleware
        // sees the encrypted side) or HTTP/2. Everything then passes straight through.
        private bool _notHttp1;
        private bool _sawFirst;

        private bool Holding => !_notHttp1 && Volatile.Read(ref requests.Active) == 0;

        public override Memory<byte> GetMemory(int sizeHint = 0)
        {
            _handedHeld = Holding || _held is { WrittenCount: > 0 };
            return _handedHeld ? (_held ??= new ArrayBufferWriter<byte>(256)).GetMemory(sizeHint) : inner.GetMemory(sizeHint);
        }

        public override Span<byte> GetSpan(int sizeHint = 0) => GetMemory(sizeHint).Span;

        public override void Advance(int bytes)
        {
            if (_handedHeld) _held!.Advance(bytes);
            else inner.Advance(bytes);
        }

        public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default)
        {
            Release();
            return inner.FlushAsync(cancellationToken);
        }

        public override void CancelPendingFlush() => inner.CancelPendingFlush();

        public override void Complete(Exception? exception = null)
        {
            Release();
            inner.Complete(exception);
        }

        public override async ValueTask CompleteAsync(Exception? exception = null)
        {
            Release();
            await inner.CompleteAsync(exception);
        }

        public override bool CanGetUnflushedBytes => inner.CanGetUnflushedBytes;
        public override long UnflushedBytes => inner.UnflushedBytes + (_held?.WrittenCount ?? 0);

        /// <summary>Writes what was held, rewritten when it is one of Kestrel's own refusals.</summary>
        private void Release()
        {
            if (_held is not { WrittenCount: > 0 } held) return;
            if (!_sawFirst)
            {
                _sawFirst = true;
                _notHttp1 = !held.WrittenSpan.StartsWith("HTTP/1."u8);
            }
            var bytes = (_notHttp1 ? null : Rewrite(held.WrittenSpan)) ?? held.WrittenSpan.ToArray();
            held.ResetWrittenCount();
            inner.Write(bytes);
        }
    }
}
