using System.Buffers;
using System.IO.Pipelines;
using System.Text;
using Portal.Envd.Files;

namespace Portal.Tests.Envd.Files;

/// <summary>
/// The multipart parser on its own, fed through a real <see cref="Pipe"/> in every way a
/// socket could split the bytes.
/// </summary>
public sealed class MultipartPipeReaderTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private sealed record Part(string Disposition, byte[] Data);

    /// <summary>How a body is cut into writes: the sizes of successive pieces.</summary>
    public static TheoryData<string> Splits() => ["whole", "bytes", "random", "small-random", "pairs"];

    private static IEnumerable<int> Pieces(string split, int length, int seed)
    {
        var rng = new Random(seed);
        for (var at = 0; at < length;)
        {
            var n = split switch
            {
                "whole" => length,
                "bytes" => 1,
                "pairs" => 2,
                "small-random" => rng.Next(1, 9),
                _ => rng.Next(1, 5000),
            };
            n = Math.Min(n, length - at);
            yield return n;
            at += n;
        }
    }

    /// <summary>
    /// Writes <paramref name="body"/> into a pipe in pieces (each flushed on its own, so the reader
    /// sees segment boundaries there), and parses it all: every part's disposition and data.
    /// </summary>
    private static async Task<List<Part>> ParseAsync(byte[] body, string boundary, string split = "whole", int seed = 1, long hold = 0, List<long>? sizes = null)
    {
        // pauseWriterThreshold 0: the writer never waits, like Kestrel's content-length body
        // buffering up to its limit; the minimum segment size keeps pieces in separate segments
        var pipe = new Pipe(new PipeOptions(pauseWriterThreshold: 0, minimumSegmentSize: 16));
        var writer = Task.Run(async () =>
        {
            var at = 0;
            foreach (var n in Pieces(split, body.Length, seed))
            {
                await pipe.Writer.WriteAsync(body.AsMemory(at, n), Ct);
                at += n;
            }
            await pipe.Writer.CompleteAsync();
        }, Ct);
        var parts = new List<Part>();
        var reader = new MultipartPipeReader(pipe.Reader, boundary, hold);
        try
        {
            string? disposition;
            while ((disposition = await reader.ReadNextPartAsync(Ct)) is not null)
            {
                var data = new List<byte>();
                await reader.ReadBodyAsync(slice =>
                {
                    Assert.True(slice.Length > 0);
                    sizes?.Add(slice.Length);
                    data.AddRange(slice.ToArray());
                }, Ct);
                parts.Add(new Part(disposition, data.ToArray()));
            }
        }
        finally { reader.Release(); }
        await writer;
        return parts;
    }

    private static byte[] Body(string boundary, params (string Name, byte[] Data)[] parts) =>
        Body(boundary, "", "\r\n", parts);

    private static byte[] Body(string boundary, string preamble, string epilogue, params (string Name, byte[] Data)[] parts)
    {
        var ms = new MemoryStream();
        void W(string s) => ms.Write(Encoding.UTF8.GetBytes(s));
        W(preamble);
        foreach (var (name, data) in parts)
        {
            W($"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n");
            ms.Write(data);
            W("\r\n");
        }
        W($"--{boundary}--{epilogue}");
        return ms.ToArray();
    }

    private static byte[] Random(int length, int seed)
    {
        var data = new byte[length];
        new Random(seed).NextBytes(data);
        return data;
    }

    [Theory]
    [MemberData(nameof(Splits))]
    public async Task SeveralParts_AnySplit(string split)
    {
        const string boundary = "----formdata-undici-0123456789";
        var a = Random(20_000, 1);
        var b = Encoding.UTF8.GetBytes("text\r\nwith lines\r\n");
        var c = Array.Empty<byte>();
        var body = Body(boundary, ("/a.bin", a), ("/b.txt", b), ("/c", c));
        for (var seed = 0; seed < (split.Contains("random") ? 8 : 1); seed++)
        {
            var parts = await ParseAsync(body, boundary, split, seed);
            Assert.Equal(3, parts.Count);
            Assert.Equal("form-data; name=\"file\"; filename=\"/a.bin\"", parts[0].Disposition);
            Assert.Equal(a, parts[0].Data);
            Assert.Equal(b, parts[1].Data);
            Assert.Equal(c, parts[2].Data);
        }
    }

    [Theory]
    [MemberData(nameof(Splits))]
    public async Task BoundaryLikeBytes_InsideData_AreData(string split)
    {
        const string boundary = "xyzzy";
        // every prefix of the delimiter, the boundary without CRLF, CR/LF runs, and a
        // delimiter that only differs in its last byte
        var tricky = Encoding.UTF8.GetBytes(
            "\r\r\n\r\n-\r\n--\r\n--x\r\n--xy\r\n--xyz\r\n--xyzz\r\n--xyzzY--xyzzy\n--xyzzy\r--xyzzy\r\r\n\r\n-" +
            "\n\n\r\r--xyzz\r\n--xyzzx\r\n");
        var data = tricky.Concat(Random(9000, 7)).Concat(tricky).Concat("\r\n--xyzz"u8.ToArray()).ToArray();
        var body = Body(boundary, ("/t", data), ("/u", tricky));
        for (var seed = 0; seed < (split.Contains("random") ? 8 : 1); seed++)
        {
            var parts = await ParseAsync(body, boundary, split, seed);
            Assert.Equal(2, parts.Count);
            Assert.Equal(data, parts[0].Data);
            Assert.Equal(tricky, parts[1].Data);
        }
    }

    [Theory]
    [MemberData(nameof(Splits))]
    public async Task PreambleAndEpilogue_AreIgnored(string split)
    {
        const string boundary = "b";
        var body = Body(boundary, "This is a preamble -- b --\r\n\r\n", "\r\nepilogue, with --b in it\r\n", ("/p", "payload"u8.ToArray()));
        var parts = await ParseAsync(body, boundary, split);
        Assert.Equal("payload"u8.ToArray(), Assert.Single(parts).Data);
    }

    [Fact]
    public async Task FinalBoundary_WithoutCrlf_OrWithTransportPadding()
    {
        var bare = "--b\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nx\r\n--b--"u8.ToArray();
        Assert.Equal("x"u8.ToArray(), Assert.Single(await ParseAsync(bare, "b")).Data);
        var padded = "--b \t\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\ny\r\n--b-- \r\n"u8.ToArray();
        foreach (var split in new[] { "whole", "bytes" })
            Assert.Equal("y"u8.ToArray(), Assert.Single(await ParseAsync(padded, "b", split)).Data);
    }

    [Fact]
    public async Task HeadersAreCaseInsensitive_MissingDispositionIsEmpty()
    {
        var body = "--b\r\ncontent-disposition :  form-data; name=\"a\"  \r\nX-Other: 1\r\n\r\n1\r\n--b\r\nContent-Type: text/plain\r\n\r\n2\r\n--b--\r\n"u8.ToArray();
        var parts = await ParseAsync(body, "b", "bytes");
        Assert.Equal(new[] { "form-data; name=\"a\"", "" }, parts.Select(p => p.Disposition));
        Assert.Equal(new[] { "1", "2" }, parts.Select(p => Encoding.UTF8.GetString(p.Data)));
    }

    [Fact]
    public async Task OnlyAFinalBoundary_HasNoParts()
    {
        Assert.Empty(await ParseAsync("--b--\r\n"u8.ToArray(), "b"));
        Assert.Empty(await ParseAsync("--b--"u8.ToArray(), "b", "bytes"));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1000)]
    [InlineData(1 << 20)] // more than the whole body: everything at the part's end
    public async Task HoldingBackData_ChangesNothingButSliceSizes(long hold)
    {
        var data = Random(100_000, 3);
        var body = Body("bnd", ("/h", data));
        foreach (var split in new[] { "whole", "random", "small-random" })
        {
            var parts = await ParseAsync(body, "bnd", split, 5, hold);
            Assert.Equal(data, Assert.Single(parts).Data);
        }
    }

    [Theory]
    [InlineData("random")]
    [InlineData("small-random")]
    public async Task SlicesAreAtLeastTheHold_ButTheLast(string split)
    {
        var data = Random(300_000, 4);
        var sizes = new List<long>();
        var parts = await ParseAsync(Body("bnd", ("/h", data)), "bnd", split, 2, 64 * 1024, sizes);
        Assert.Equal(data, Assert.Single(parts).Data);
        Assert.All(sizes.SkipLast(1), n => Assert.True(n >= 64 * 1024, $"slice of {n} bytes"));
    }

    public static TheoryData<string, string> Malformed() => new()
    {
        { "no boundary at all", "just some bytes\r\n" },
        { "missing final boundary", "--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x\"\r\n\r\nunterminated" },
        { "ends after a part's delimiter", "--b\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nx\r\n--b" },
        { "ends after a boundary line", "--b\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nx\r\n--b\r\n" },
        { "ends inside headers", "--b\r\nContent-Disposition: form-data; name=\"file\"\r\n" },
        { "header without a colon", "--b\r\nContent-Disposition form-data\r\n\r\nx\r\n--b--" },
        { "header with an empty name", "--b\r\n: form-data\r\n\r\nx\r\n--b--" },
        { "oversized headers", "--b\r\nX-Big: " + new string('a', 70_000) + "\r\n\r\nx\r\n--b--" },
        { "oversized header line without CRLF", "--b\r\nX-Big: " + new string('a', 70_000) },
        { "too many headers", "--b\r\n" + string.Concat(Enumerable.Range(0, 17).Select(i => $"X-H{i}: v\r\n")) + "\r\nx\r\n--b--" },
        { "oversized boundary line", "--b" + new string(' ', 200) + "\r\n\r\nx\r\n--b--" },
        { "oversized preamble", new string('p', 70_000) + "--b\r\n\r\nx\r\n--b--" },
        { "oversized epilogue", "--b\r\n\r\nx\r\n--b--\r\n" + new string('e', 70_000) },
    };

    [Theory]
    [MemberData(nameof(Malformed))]
    public async Task MalformedBodies_Throw_InvalidData(string what, string body)
    {
        foreach (var split in new[] { "whole", "random" })
        {
            var e = await Assert.ThrowsAsync<InvalidDataException>(() => ParseAsync(Encoding.UTF8.GetBytes(body), "b", split));
            Assert.False(string.IsNullOrEmpty(e.Message), what);
        }
    }

    [Fact]
    public async Task LimitsAreInclusive()
    {
        // 16 headers and a 64 KB preamble and epilogue are still fine
        var headers = string.Concat(Enumerable.Range(0, 15).Select(i => $"X-H{i}: v\r\n"));
        var body = new string('p', MultipartPipeReader.HeadersLengthLimit) + $"--b\r\n{headers}Content-Disposition: form-data; name=\"file\"\r\n\r\nx\r\n--b--\r\n" + new string('e', MultipartPipeReader.HeadersLengthLimit);
        var part = Assert.Single(await ParseAsync(Encoding.UTF8.GetBytes(body), "b", "random"));
        Assert.Equal("form-data; name=\"file\"", part.Disposition);
    }

    [Fact]
    public async Task SkippedParts_AreDrained()
    {
        var body = Body("b", ("/skip", Random(50_000, 9)), ("/keep", "kept"u8.ToArray()));
        var pipe = new Pipe(new PipeOptions(pauseWriterThreshold: 0));
        await pipe.Writer.WriteAsync(body, Ct);
        await pipe.Writer.CompleteAsync();
        var reader = new MultipartPipeReader(pipe.Reader, "b");
        Assert.Contains("/skip", await reader.ReadNextPartAsync(Ct));
        Assert.Contains("/keep", await reader.ReadNextPartAsync(Ct)); // the first part's data is skipped
        var data = new List<byte>();
        await reader.ReadBodyAsync(s => data.AddRange(s.ToArray()), Ct);
        Assert.Equal("kept", Encoding.UTF8.GetString(data.ToArray()));
        Assert.Null(await reader.ReadNextPartAsync(Ct));
        reader.Release();
    }

    [Fact]
    public void IndexOf_FindsMatchesAcrossSegments()
    {
        var needle = "\r\n--boundary"u8.ToArray();
        var rng = new Random(11);
        for (var trial = 0; trial < 2000; trial++)
        {
            var hay = new byte[rng.Next(0, 60)];
            for (var i = 0; i < hay.Length; i++) hay[i] = "\r\n-boundary"u8[rng.Next(11)];
            if (rng.Next(2) == 0 && hay.Length >= needle.Length)
                needle.CopyTo(hay, rng.Next(hay.Length - needle.Length + 1));
            var seq = Segmented(hay, rng);
            var from = rng.Next(0, hay.Length + 1);
            var expected = hay.AsSpan(from).IndexOf(needle);
            Assert.Equal(expected < 0 ? -1 : from + expected, MultipartPipeReader.IndexOf(seq, needle, from));
        }
    }

    [Fact]
    public void IndexOf_Vectorised_MatchesTheRuntime()
    {
        var rng = new Random(12);
        for (var trial = 0; trial < 3000; trial++)
        {
            // few distinct bytes: many first/last-byte candidates that are not matches
            var alphabet = "\r\n-xb"u8.ToArray();
            var needle = new byte[rng.Next(2, 20)];
            for (var i = 0; i < needle.Length; i++) needle[i] = alphabet[rng.Next(alphabet.Length)];
            var hay = new byte[rng.Next(0, 300)];
            for (var i = 0; i < hay.Length; i++) hay[i] = alphabet[rng.Next(alphabet.Length)];
            if (rng.Next(2) == 0 && hay.Length >= needle.Length)
                needle.CopyTo(hay, rng.Next(hay.Length - needle.Length + 1));
            Assert.Equal(hay.AsSpan().IndexOf(needle), MultipartPipeReader.IndexOf(hay, needle));
        }
        var big = new byte[1 << 20];
        new Random(13).NextBytes(big);
        var delimiter = "\r\n------formdata-undici-012345678901"u8.ToArray();
        Assert.Equal(big.AsSpan().IndexOf(delimiter), MultipartPipeReader.IndexOf(big, delimiter));
        delimiter.CopyTo(big, 777_777);
        Assert.Equal(777_777, MultipartPipeReader.IndexOf(big, delimiter));
    }

    private static ReadOnlySequence<byte> Segmented(byte[] data, Random rng)
    {
        Segment? first = null, last = null;
        for (var at = 0; at < data.Length;)
        {
            var n = Math.Min(rng.Next(0, 6), data.Length - at);
            var s = new Segment(data.AsMemory(at, n));
            if (first is null) first = last = s; else last = last!.Append(s);
            at += n;
        }
        return first is null ? ReadOnlySequence<byte>.Empty : new ReadOnlySequence<byte>(first, 0, last!, last!.Memory.Length);
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory) => Memory = memory;

        public Segment Append(Segment next)
        {
            next.RunningIndex = RunningIndex + Memory.Length;
            Next = next;
            return next;
        }
    }
}
