using System.Runtime.InteropServices;
using System.Text;
using Portal.Envd.Connect;
using Portal.Envd.Native;

namespace Portal.Envd.Process;

/// <summary>
/// The master side of a pseudo-terminal. The child opens the slave by path (see
/// <see cref="PtyExec"/>) so that it becomes its controlling terminal; the master fd is
/// close-on-exec and never leaks into children.
/// </summary>
public sealed class PseudoTerminal : IDisposable
{
    private int _master;

    private PseudoTerminal(int master, string slavePath)
    {
        _master = master;
        SlavePath = slavePath;
    }

    public string SlavePath { get; }

    public static unsafe PseudoTerminal Open(uint cols, uint rows, uint ownerUid, uint ownerGid)
    {
        var fd = Libc.posix_openpt(Libc.O_RDWR | Libc.O_NOCTTY | Libc.O_CLOEXEC);
        if (fd < 0) throw ConnectException.Internal($"posix_openpt failed: errno {Marshal.GetLastPInvokeError()}");
        try
        {
            if (Libc.grantpt(fd) != 0 || Libc.unlockpt(fd) != 0)
                throw ConnectException.Internal($"grantpt/unlockpt failed: errno {Marshal.GetLastPInvokeError()}");
            var buf = stackalloc byte[128];
            if (Libc.ptsname_r(fd, buf, 128) != 0)
                throw ConnectException.Internal($"ptsname failed: errno {Marshal.GetLastPInvokeError()}");
            var path = Encoding.UTF8.GetString(buf, IndexOfNul(buf));
            // The run-as user must be able to open its own terminal.
            if (Libc.chown(path, ownerUid, ownerGid) != 0)
                throw ConnectException.Internal($"chown {path} failed: errno {Marshal.GetLastPInvokeError()}");
            var pty = new PseudoTerminal(fd, path);
            pty.Resize(cols, rows);
            return pty;
        }
        catch
        {
            Libc.close(fd);
            throw;
        }
    }

    private static unsafe int IndexOfNul(byte* buf)
    {
        var i = 0;
        while (i < 128 && buf[i] != 0) i++;
        return i;
    }

    public unsafe void Resize(uint cols, uint rows)
    {
        var size = new Libc.WinSize { Cols = (ushort)Math.Clamp(cols, 1, ushort.MaxValue), Rows = (ushort)Math.Clamp(rows, 1, ushort.MaxValue) };
        if (Libc.ioctl(_master, Libc.TIOCSWINSZ, &size) != 0)
            throw ConnectException.Internal($"resize failed: errno {Marshal.GetLastPInvokeError()}");
    }

    /// <summary>Blocking read; 0 when the terminal is gone (all slave fds closed).</summary>
    public unsafe int Read(Span<byte> buffer)
    {
        fixed (byte* p = buffer)
        {
            while (true)
            {
                var n = Libc.read(_master, p, buffer.Length);
                if (n >= 0) return (int)n;
                var errno = Marshal.GetLastPInvokeError();
                if (errno == Libc.EINTR) continue;
                return 0; // EIO: the child side hung up
            }
        }
    }

    public unsafe void Write(ReadOnlySpan<byte> data)
    {
        fixed (byte* p = data)
        {
            var offset = 0;
            while (offset < data.Length)
            {
                var n = Libc.write(_master, p + offset, data.Length - offset);
                if (n < 0)
                {
                    var errno = Marshal.GetLastPInvokeError();
                    if (errno is Libc.EINTR or Libc.EAGAIN) continue;
                    throw ConnectException.Internal($"write to terminal failed: errno {errno}");
                }
                offset += (int)n;
            }
        }
    }

    public void Dispose()
    {
        var fd = Interlocked.Exchange(ref _master, -1);
        if (fd >= 0) Libc.close(fd);
    }
}
