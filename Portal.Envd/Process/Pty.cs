using System.Runtime.InteropServices;
using System.Text;
using Portal.Envd.Native;

namespace Portal.Envd.Process;

/// <summary>
/// The master side of a pseudo-terminal. envd keeps only the master (close-on-exec, so no
/// other child inherits it); the slave is opened by path inside <see cref="PtyExec"/>, which
/// makes it the child's controlling terminal. Reads happen on the output pump's thread;
/// writes, resizes and close are serialised by the caller (<see cref="ManagedProcess"/>).
/// </summary>
public sealed class Pty : IDisposable
{
    private int _master;

    private Pty(int master, string slavePath)
    {
        _master = master;
        SlavePath = slavePath;
    }

    public string SlavePath { get; }

    /// <summary>The master fd, or -1 once closed.</summary>
    public int Master => Volatile.Read(ref _master);

    /// <summary>Allocates a terminal whose slave belongs to <paramref name="uid"/>.</summary>
    public static unsafe Pty Open(ushort cols, ushort rows, uint uid, uint gid)
    {
        var fd = Libc.posix_openpt(Libc.O_RDWR | Libc.O_NOCTTY | Libc.O_CLOEXEC);
        if (fd < 0) throw new IOException($"posix_openpt: {Marshal.GetLastPInvokeErrorMessage()}");
        try
        {
            if (Libc.grantpt(fd) != 0) throw new IOException($"grantpt: {Marshal.GetLastPInvokeErrorMessage()}");
            if (Libc.unlockpt(fd) != 0) throw new IOException($"unlockpt: {Marshal.GetLastPInvokeErrorMessage()}");
            var buf = stackalloc byte[128];
            var rc = Libc.ptsname_r(fd, buf, 128);
            if (rc != 0) throw new IOException($"ptsname_r: {Marshal.GetPInvokeErrorMessage(rc)}");
            var path = Encoding.UTF8.GetString(buf, IndexOfNul(buf));
            // The child opens the slave after dropping to the user's uid.
            if (Libc.chown(path, uid, gid) != 0) throw new IOException($"chown {path}: {Marshal.GetLastPInvokeErrorMessage()}");
            var pty = new Pty(fd, path);
            pty.Resize(cols, rows);
            return pty;
        }
        catch
        {
            Libc.close(fd);
            throw;
        }
    }

    /// <summary>Sets the window size; the kernel sends SIGWINCH to the foreground job.</summary>
    public unsafe void Resize(ushort cols, ushort rows)
    {
        var size = new Libc.WinSize { Cols = cols, Rows = rows };
        if (Libc.ioctl(Master, Libc.TIOCSWINSZ, (nint)(&size)) != 0)
            throw new IOException($"TIOCSWINSZ: {Marshal.GetLastPInvokeErrorMessage()}");
    }

    /// <summary>Writes all of <paramref name="data"/> (blocks while the terminal's input queue is full).</summary>
    public unsafe void Write(ReadOnlySpan<byte> data)
    {
        fixed (byte* p = data)
        {
            var done = 0;
            while (done < data.Length)
            {
                var n = Libc.write(Master, p + done, (nuint)(data.Length - done));
                if (n < 0)
                {
                    var errno = Marshal.GetLastPInvokeError();
                    if (errno == Libc.EINTR) continue;
                    throw new IOException($"write to terminal: {Marshal.GetPInvokeErrorMessage(errno)}");
                }
                done += (int)n;
            }
        }
    }

    public void Dispose()
    {
        var fd = Interlocked.Exchange(ref _master, -1);
        if (fd >= 0) Libc.close(fd);
    }

    private static unsafe int IndexOfNul(byte* buf)
    {
        var i = 0;
        while (i < 128 && buf[i] != 0) i++;
        return i;
    }
}
