using System.Buffers;
using System.IO.Pipelines;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Text;

namespace Portal.Envd.Files;

/// <summary>
/// Reads a multipart/form-data body straight from a <see cref="PipeReader"/> (Kestrel's request
/// body): the boundary is searched in the pipe's own buffers and part data is handed to the
/// caller as slices of those buffers, so a file's bytes are copied once, by the kernel, into
/// the file. <see cref="Microsoft.AspNetCore.WebUtilities.MultipartReader"/> copied every byte
/// twice more (into its look-ahead buffer, then into the caller's) and found the boundary by
/// stopping at every CR of the data.
/// <para>
/// The grammar and limits are those of <c>MultipartReader</c> as envd used it: anything before
/// the first <c>--boundary</c> is a preamble (at most <see cref="HeadersLengthLimit"/> bytes); a
/// part ends at the first <c>CRLF--boundary</c>; the rest of a boundary line (at most 100
/// bytes, up to CRLF or the end of the body) is trimmed and is <c>--</c> on the final boundary;
/// part headers are <c>name: value</c> lines up to an empty line, at most
/// <see cref="HeadersCountLimit"/> of them and <see cref="HeadersLengthLimit"/> bytes; the
/// epilogue after the final boundary is read and ignored (at most
/// <see cref="HeadersLengthLimit"/> bytes). Malformed bodies throw
/// <see cref="InvalidDataException"/>.
/// </para>
/// </summary>
internal sealed class MultipartPipeReader
{
    public const int HeadersLengthLimit = 64 * 1024;
    public const int HeadersCountLimit = 16;
    private const int BoundaryLineLimit = 100;

    private readonly PipeReader _reader;
    /// <summary><c>CRLF--boundary</c>: what ends a part. The first boundary is this without the CRLF.</summary>
    private readonly byte[] _delimiter;
    private readonly long _holdUntil;

    private ReadOnlySequence<byte> _buffer;
    private bool _reading;   // a ReadAsync result is held (AdvanceTo not yet called)
    private bool _completed; // the writer side is done: _buffer is all there will be
    private State _state = State.Preamble;

    private enum State { Preamble, Headers, Body, Done }

    /// <param name="holdUntil">
    /// Part data is handed over in slices of at least this many bytes (except at the end of a
    /// part): fewer, larger file writes. The pipe must be able to buffer this much unconsumed
    /// data, or reading stalls (Kestrel's HTTP/1.1 content-length body buffers up to
    /// <c>MaxRequestBufferSize</c>; its chunked body only one read, so use 0 there).
    /// </param>
    public MultipartPipeReader(PipeReader reader, string boundary, long holdUntil = 0)
    {
        _reader = reader;
        _delimiter = Encoding.UTF8.GetBytes("\r\n--" + boundary);
        _holdUntil = holdUntil;
    }

    /// <summary>
    /// Moves to the next part (skipping whatever is left of the current one) and returns its
    /// Content-Disposition header ("" when it has none), or null after the final boundary.
    /// </summary>
    public async ValueTask<string?> ReadNextPartAsync(CancellationToken ct)
    {
        if (_state == State.Body) await ReadBodyAsync(null, ct);
        if (_state == State.Preamble)
        {
            await SkipToFirstBoundaryAsync(ct);
            _state = State.Headers;
        }
        if (_state == State.Done) return null;
        if (await ReadBoundaryLineAsync(ct))
        {
            await DrainEpilogueAsync(ct);
            _state = State.Done;
            return null;
        }
        var disposition = await ReadHeadersAsync(ct);
        _state = State.Body;
        return disposition;
    }

    /// <summary>
    /// Hands the current part's data to <paramref name="sink"/> (null: skips it) in order, as
    /// slices of the pipe's buffers that are valid only during the call, and stops after the
    /// delimiter that ends the part.
    /// </summary>
    public async ValueTask ReadBodyAsync(Action<ReadOnlySequence<byte>>? sink, CancellationToken ct)
    {
        if (_state != State.Body) throw new InvalidOperationException("not in a part");
        var keep = _delimiter.Length - 1; // a delimiter may start in these last bytes
        long searched = 0;                // no delimiter starts before this offset of _buffer
        while (true)
        {
            var at = IndexOf(_buffer, _delimiter, searched);
            if (at >= 0)
            {
                if (at > 0) sink?.Invoke(_buffer.Slice(0, at));
                _buffer = _buffer.Slice(at + _delimiter.Length);
                _state = State.Headers;
                return;
            }
            if (_completed) throw new InvalidDataException("the body ended inside a part (no closing boundary)");
            searched = Math.Max(0, _buffer.Length - keep);
            if (searched > 0 && (sink is null || searched >= _holdUntil))
            {
                sink?.Invoke(_buffer.Slice(0, searched));
                _buffer = _buffer.Slice(searched);
                searched = 0;
            }
            await ReadMoreAsync(ct);
        }
    }

    /// <summary>Returns the pipe's buffers it still holds (call once done, also after a failure).</summary>
    public void Release()
    {
        if (!_reading) return;
        _reading = false;
        _reader.AdvanceTo(_buffer.Start, _buffer.End);
    }

    private async ValueTask SkipToFirstBoundaryAsync(CancellationToken ct)
    {
        var first = _delimiter.AsMemory(2); // --boundary, anywhere (no CRLF before it)
        long skipped = 0, searched = 0;
        while (true)
        {
            var at = IndexOf(_buffer, first.Span, searched);
            if (at >= 0)
            {
                CheckPreamble(skipped + at);
                _buffer = _buffer.Slice(at + first.Length);
                return;
            }
            if (_completed) throw new InvalidDataException("the body has no boundary");
            var drop = Math.Max(0, _buffer.Length - (first.Length - 1));
            CheckPreamble(skipped + drop);
            skipped += drop;
            _buffer = _buffer.Slice(drop);
            searched = 0;
            await ReadMoreAsync(ct);
        }
    }

    private static void CheckPreamble(long length)
    {
        if (length > HeadersLengthLimit) throw new InvalidDataException($"the preamble exceeds {HeadersLengthLimit} bytes");
    }

    /// <summary>Reads the rest of a boundary line; true for the final boundary (<c>--</c>).</summary>
    private async ValueTask<bool> ReadBoundaryLineAsync(CancellationToken ct)
    {
        while (true)
        {
            var line = TryTakeLine(BoundaryLineLimit, out var found);
            if (found || _completed)
            {
                if (!found) { line = _buffer; _buffer = _buffer.Slice(_buffer.End); }
                if (line.Length > BoundaryLineLimit) throw new InvalidDataException($"a boundary line exceeds {BoundaryLineLimit} bytes");
                return Encoding.UTF8.GetString(line).Trim() == "--";
            }
            if (_buffer.Length > BoundaryLineLimit + 2) throw new InvalidDataException($"a boundary line exceeds {BoundaryLineLimit} bytes");
            await ReadMoreAsync(ct);
        }
    }

    private async ValueTask<string> ReadHeadersAsync(CancellationToken ct)
    {
        string? disposition = null;
        var count = 0;
        long length = 0;
        while (true)
        {
            var line = TryTakeLine(HeadersLengthLimit - length, out var found);
            if (!found)
            {
                if (_completed) throw new InvalidDataException("the body ended inside part headers");
                if (length + _buffer.Length > HeadersLengthLimit + 2) throw new InvalidDataException($"part headers exceed {HeadersLengthLimit} bytes");
                await ReadMoreAsync(ct);
                continue;
            }
            length += line.Length + 2;
            if (length > HeadersLengthLimit + 2) throw new InvalidDataException($"part headers exceed {HeadersLengthLimit} bytes");
            if (line.Length == 0) return disposition ?? "";
            if (++count > HeadersCountLimit) throw new InvalidDataException($"a part has more than {HeadersCountLimit} headers");
            var text = Encoding.UTF8.GetString(line);
            var colon = text.IndexOf(':');
            if (colon <= 0) throw new InvalidDataException($"invalid part header line: '{text}'");
            if (text.AsSpan(0, colon).Trim().Equals("Content-Disposition", StringComparison.OrdinalIgnoreCase))
            {
                var value = text[(colon + 1)..].Trim();
                disposition = disposition is null ? value : disposition + "," + value;
            }
        }
    }

    private async ValueTask DrainEpilogueAsync(CancellationToken ct)
    {
        long drained = 0;
        while (true)
        {
            drained += _buffer.Length;
            if (drained > HeadersLengthLimit) throw new InvalidDataException($"the epilogue exceeds {HeadersLengthLimit} bytes");
            _buffer = _buffer.Slice(_buffer.End);
            if (_completed) return;
            await ReadMoreAsync(ct);
        }
    }

    /// <summary>
    /// Takes the bytes up to the next CRLF (which is consumed, not returned) if it occurs within
    /// <paramref name="limit"/> + 2 bytes.
    /// </summary>
    private ReadOnlySequence<byte> TryTakeLine(long limit, out bool found)
    {
        var window = _buffer.Length > limit + 2 ? _buffer.Slice(0, limit + 2) : _buffer;
        var at = IndexOf(window, "\r\n"u8, 0);
        found = at >= 0;
        if (!found) return default;
        var line = _buffer.Slice(0, at);
        _buffer = _buffer.Slice(at + 2);
        return line;
    }

    /// <summary>
    /// Gets more data: everything in <see cref="_buffer"/> has been examined; what was sliced
    /// off its front is consumed.
    /// </summary>
    private async ValueTask ReadMoreAsync(CancellationToken ct)
    {
        if (_completed) throw new InvalidDataException("unexpected end of the multipart body");
        Release();
        var result = await _reader.ReadAsync(ct);
        _reading = true;
        _buffer = result.Buffer;
        _completed = result.IsCompleted;
        if (result.IsCanceled) throw new OperationCanceledException("the multipart body read was canceled");
    }

    /// <summary>
    /// The offset of the first <paramref name="needle"/> in <paramref name="buffer"/> at or after
    /// <paramref name="from"/>, or -1. Each segment is searched with the vectorised
    /// <see cref="MemoryExtensions.IndexOf{T}(ReadOnlySpan{T}, ReadOnlySpan{T})"/>; matches that
    /// straddle segments are checked at each segment's end.
    /// </summary>
    internal static long IndexOf(in ReadOnlySequence<byte> buffer, ReadOnlySpan<byte> needle, long from)
    {
        if (buffer.IsSingleSegment)
        {
            var span = buffer.FirstSpan;
            if (from >= span.Length) return -1;
            var i = IndexOf(span[(int)from..], needle);
            return i < 0 ? -1 : from + i;
        }
        long start = 0, length = buffer.Length;
        var position = buffer.Start;
        while (buffer.TryGet(ref position, out var memory))
        {
            var span = memory.Span;
            var end = start + span.Length;
            if (end > from)
            {
                var local = (int)Math.Max(0, from - start);
                var i = IndexOf(span[local..], needle);
                if (i >= 0) return start + local + i;
                // a match starting in this segment's last needle.Length - 1 bytes runs on into the next
                var tail = Math.Max(local, span.Length - (needle.Length - 1));
                while (end < length && tail < span.Length)
                {
                    var j = span[tail..].IndexOf(needle[0]);
                    if (j < 0) break;
                    tail += j;
                    var head = span[tail..];
                    if (needle.StartsWith(head) && StartsWith(buffer.Slice(position), needle[head.Length..]))
                        return start + tail;
                    tail++;
                }
            }
            start = end;
        }
        return -1;
    }

    /// <summary>
    /// <see cref="MemoryExtensions.IndexOf{T}(ReadOnlySpan{T}, ReadOnlySpan{T})"/> for a needle of
    /// 2+ bytes: 16 positions per step tested on the needle's first and last byte, candidates
    /// then verified. The runtime's search works the same way, but in envd's size-optimised
    /// native build its loop keeps its vectors and index on the stack (its rare calls clobber
    /// every vector register), which made it ~10% of envd's CPU on an upload; here the scan is
    /// a separate leaf function without calls.
    /// </summary>
    internal static int IndexOf(ReadOnlySpan<byte> span, ReadOnlySpan<byte> needle)
    {
        var n = needle.Length;
        var last = span.Length - n - (Vector128<byte>.Count - 1); // the last step whose loads stay in the span
        if (!Vector128.IsHardwareAccelerated || n < 2 || last < 0) return span.IndexOf(needle);
        ref var origin = ref MemoryMarshal.GetReference(span);
        var middle = needle[1..^1];
        nuint i = 0;
        while (true)
        {
            i = Scan(ref origin, i, (nuint)last, needle[0], needle[n - 1], (nuint)(n - 1), out var bits);
            if (bits == 0) break;
            do
            {
                var at = (int)i + BitOperations.TrailingZeroCount(bits);
                if (span.Slice(at + 1, n - 2).SequenceEqual(middle)) return at;
                bits &= bits - 1;
            } while (bits != 0);
            i += (nuint)Vector128<byte>.Count;
        }
        var rest = span[(int)i..].IndexOf(needle);
        return rest < 0 ? -1 : (int)i + rest;
    }

    /// <summary>
    /// From step <paramref name="i"/> on, the first step (at most <paramref name="last"/>) with
    /// positions whose first and last byte match: their bit mask in <paramref name="bits"/>.
    /// None: 0, and the step after the last one.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static nuint Scan(ref byte origin, nuint i, nuint last, byte first, byte final, nuint finalOffset, out uint bits)
    {
        var firstBytes = Vector128.Create(first);
        var finalBytes = Vector128.Create(final);
        for (; i <= last; i += (nuint)Vector128<byte>.Count)
        {
            var hits = Vector128.Equals(Vector128.LoadUnsafe(ref origin, i), firstBytes)
                & Vector128.Equals(Vector128.LoadUnsafe(ref origin, i + finalOffset), finalBytes);
            if (hits != Vector128<byte>.Zero)
            {
                bits = hits.ExtractMostSignificantBits();
                return i;
            }
        }
        bits = 0;
        return i;
    }

    private static bool StartsWith(in ReadOnlySequence<byte> buffer, ReadOnlySpan<byte> prefix)
    {
        if (buffer.Length < prefix.Length) return false;
        foreach (var memory in buffer)
        {
            var span = memory.Span;
            var n = Math.Min(span.Length, prefix.Length);
            if (!span[..n].SequenceEqual(prefix[..n])) return false;
            prefix = prefix[n..];
            if (prefix.IsEmpty) return true;
        }
        return prefix.IsEmpty;
    }
}
