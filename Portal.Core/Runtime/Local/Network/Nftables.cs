using System.Runtime.InteropServices;

namespace Portal.Core.Runtime.Local.Network;

/// <summary>
/// The one seam to nftables: libnftables (Debian's nftables package), the library the nft command
/// itself is built on. Called in-process rather than by running nft because a rule change is on
/// the API's path (PUT /sandboxes/{id}/network): a process start costs milliseconds, a call does not.
/// Each <see cref="Run"/> is one nftables transaction: it applies whole or not at all.
/// </summary>
internal sealed class Nftables : IDisposable
{
    private const string Lib = "libnftables.so.1";
    [DllImport(Lib)] private static extern IntPtr nft_ctx_new(uint flags);
    [DllImport(Lib)] private static extern void nft_ctx_free(IntPtr ctx);
    [DllImport(Lib)] private static extern int nft_ctx_buffer_output(IntPtr ctx);
    [DllImport(Lib)] private static extern int nft_ctx_buffer_error(IntPtr ctx);
    [DllImport(Lib)] private static extern IntPtr nft_ctx_get_output_buffer(IntPtr ctx);
    [DllImport(Lib)] private static extern IntPtr nft_ctx_get_error_buffer(IntPtr ctx);
    [DllImport(Lib)] private static extern int nft_run_cmd_from_buffer(IntPtr ctx, [MarshalAs(UnmanagedType.LPUTF8Str)] string buf);

    private IntPtr _ctx;
    /// <summary>A context is not thread-safe; transactions are short, so one lock is enough.</summary>
    private readonly Lock _lock = new();

    public Nftables()
    {
        try { _ctx = nft_ctx_new(0); }
        catch (DllNotFoundException e) { throw new InvalidOperationException("libnftables.so.1 not found: install Debian's nftables package (scripts/install-deps.sh), or set Portal:LocalRuntime:Network:Enabled to false", e); }
        if (_ctx == IntPtr.Zero) throw new InvalidOperationException("nft_ctx_new failed");
        nft_ctx_buffer_output(_ctx);
        nft_ctx_buffer_error(_ctx);
    }

    /// <summary>Runs <paramref name="commands"/> (nft syntax, one transaction); returns nft's output or throws with its error.</summary>
    public string Run(string commands)
    {
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_ctx == IntPtr.Zero, this);
            var rc = nft_run_cmd_from_buffer(_ctx, commands);
            var output = Marshal.PtrToStringUTF8(nft_ctx_get_output_buffer(_ctx)) ?? "";
            var error = Marshal.PtrToStringUTF8(nft_ctx_get_error_buffer(_ctx)) ?? "";
            if (rc != 0) throw new InvalidOperationException($"nftables refused the change: {error.Trim()}");
            return output;
        }
    }

    /// <summary>Idempotent: a context freed twice corrupts the native heap.</summary>
    public void Dispose()
    {
        lock (_lock)
        {
            if (_ctx == IntPtr.Zero) return;
            nft_ctx_free(_ctx);
            _ctx = IntPtr.Zero;
        }
    }
}
