using System.Buffers;
using System.Runtime.InteropServices;
using Microsoft.AspNetCore.Connections;

namespace Portal.Envd;

/// <summary>
/// Kestrel's buffers, in 64 KB blocks instead of its default 4 KB. The socket transport
/// receives into one block at a time, so a 100 MB upload took ~25,000 <c>recv</c> calls, each
/// waking the request's reader on another thread (plus as many zero-byte "wait for data"
/// reads); with 64 KB blocks it is ~1,600 of each, and a 64 KB download chunk fits a block.
/// Blocks are pinned arrays (the socket layer needs no pinning handle per operation). Idle
/// connections hold no block (Kestrel waits for data before renting one), at most
/// <see cref="Keep"/> free blocks are cached, and <see cref="Trim"/> (envd's idle trim) drops
/// them all.
/// </summary>
public sealed class BlockMemoryPool : MemoryPool<byte>, IMemoryPoolFactory<byte>
{
    public const int BlockSize = 64 * 1024;
    private const int Keep = 64;

    public static BlockMemoryPool Instance { get; } = new();

    private readonly Lock _lock = new();
    private readonly Stack<Block> _free = new();

    private BlockMemoryPool() { }

    public override int MaxBufferSize => BlockSize;

    /// <summary>Every Kestrel pool is this one (Kestrel disposes its pools on shutdown: that only trims).</summary>
    public MemoryPool<byte> Create(MemoryPoolOptions? options = null) => this;

    public override IMemoryOwner<byte> Rent(int minBufferSize = -1)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(minBufferSize, BlockSize);
        lock (_lock)
        {
            if (_free.TryPop(out var block)) return block;
        }
        return new Block(this);
    }

    /// <summary>Drops the cached free blocks (the next collection frees them).</summary>
    public void Trim()
    {
        lock (_lock) _free.Clear();
    }

    protected override void Dispose(bool disposing) => Trim();

    private void Return(Block block)
    {
        lock (_lock)
        {
            if (_free.Count < Keep) _free.Push(block);
        }
    }

    private sealed class Block(BlockMemoryPool pool) : IMemoryOwner<byte>
    {
        public Memory<byte> Memory { get; } = MemoryMarshal.CreateFromPinnedArray(GC.AllocateUninitializedArray<byte>(BlockSize, pinned: true), 0, BlockSize);

        public void Dispose() => pool.Return(this);
    }
}
