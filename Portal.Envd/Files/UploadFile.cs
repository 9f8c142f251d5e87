using System.Buffers;
using Microsoft.Win32.SafeHandles;

namespace Portal.Envd.Files;

/// <summary>
/// The file an upload is written to, sequentially from offset 0. Writes are synchronous on the
/// calling thread: on Linux an "asynchronous" file write is the same <c>pwrite</c> on a
/// thread-pool thread plus a hop, and page-cache writes rarely block. A body slice that spans
/// several of Kestrel's 4 KB blocks goes out as one <c>pwritev</c>.
/// </summary>
internal sealed class UploadFile(SafeFileHandle handle)
{
    private readonly List<ReadOnlyMemory<byte>> _segments = [];

    public SafeFileHandle Handle { get; } = handle;
    public long Length { get; private set; }

    public void Write(ReadOnlySequence<byte> data)
    {
        if (data.IsEmpty) return;
        if (data.IsSingleSegment)
            RandomAccess.Write(Handle, data.FirstSpan, Length);
        else
        {
            foreach (var segment in data)
                if (!segment.IsEmpty) _segments.Add(segment);
            try { RandomAccess.Write(Handle, _segments, Length); }
            finally { _segments.Clear(); }
        }
        Length += data.Length;
    }
}
