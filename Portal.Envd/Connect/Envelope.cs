using System.Buffers.Binary;

namespace Portal.Envd.Connect;

/// <summary>
/// Connect streaming framing: 1 flag byte, 4-byte big-endian length, payload.
/// Flag 0x01 = compressed (we never send or accept it), 0x02 = end of stream.
/// </summary>
public static class Envelope
{
    public const byte FlagCompressed = 0x01;
    public const byte FlagEndStream = 0x02;
    public const int HeaderSize = 5;

    public static void WriteHeader(Span<byte> header, byte flags, int length)
    {
        header[0] = flags;
        BinaryPrimitives.WriteUInt32BigEndian(header[1..], (uint)length);
    }

    /// <summary>Reads exactly one envelope from a request body; errors are Connect errors.</summary>
    public static async Task<(byte Flags, byte[] Payload)> ReadAsync(Stream body, int maxMessageBytes, CancellationToken ct)
    {
        var header = new byte[HeaderSize];
        var got = await ReadFullyAsync(body, header, ct);
        if (got == 0)
            throw ConnectException.InvalidArgument("missing request envelope");
        if (got < HeaderSize)
            throw ConnectException.InvalidArgument("truncated envelope header");
        var flags = header[0];
        var length = BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(1));
        if ((flags & FlagCompressed) != 0)
            throw new ConnectException(ConnectCode.Internal, "compressed envelopes are not supported (no compression negotiated)");
        if (length > (uint)maxMessageBytes)
            throw new ConnectException(ConnectCode.ResourceExhausted, $"message size {length} exceeds limit {maxMessageBytes}");
        var payload = new byte[length];
        if (await ReadFullyAsync(body, payload, ct) < length)
            throw ConnectException.InvalidArgument("truncated envelope payload");
        return (flags, payload);
    }

    private static async Task<int> ReadFullyAsync(Stream s, byte[] buffer, CancellationToken ct)
    {
        var total = 0;
        while (total < buffer.Length)
        {
            var n = await s.ReadAsync(buffer.AsMemory(total), ct);
            if (n == 0) break;
            total += n;
        }
        return total;
    }
}
