using System.Runtime.InteropServices;
using Portal.Envd.Native;

namespace Portal.Envd.Process;

public enum OutputKind { Stdout, Stderr, Pty }

/// <summary>
/// Reads a child's output fds (stdout+stderr pipes, or a PTY master) on one dedicated thread
/// with poll(2), in chunks of at most 32 KiB (what envd sends per data event).
/// It ends at EOF on every fd — or, once the child has exited, after the fds go quiet:
/// a background grandchild may keep a pipe or the terminal open forever, and the end event
/// must not wait for it (E2B's envd stops reading at exit, too).
/// </summary>
public static class OutputPump
{
    public const int ChunkSize = 32 * 1024;
    private const int PollMs = 200;
    /// <summary>After exit: stop once no output arrived for this long...</summary>
    private const int DrainIdleMs = 50;
    /// <summary>...or this long after exit at the latest (not counting time spent waiting for clients).</summary>
    private const int DrainCapMs = 1000;

    /// <param name="exited">True once the child has been reaped.</param>
    /// <param name="publish">Receives each chunk (a fresh array it may keep).</param>
    public static unsafe void Run(IReadOnlyList<(int Fd, OutputKind Kind)> sources, Func<bool> exited, Action<OutputKind, byte[]> publish)
    {
        var open = sources.ToList();
        var buffer = new byte[ChunkSize];
        long exitSeenAt = -1;
        var idleHangups = 0;
        var pollFds = stackalloc Libc.PollFd[Math.Max(1, sources.Count)];

        while (open.Count > 0)
        {
            if (exitSeenAt < 0 && exited()) exitSeenAt = Environment.TickCount64;
            if (exitSeenAt >= 0 && Environment.TickCount64 - exitSeenAt > DrainCapMs) break;

            for (var i = 0; i < open.Count; i++)
                pollFds[i] = new Libc.PollFd { Fd = open[i].Fd, Events = Libc.POLLIN };
            var ready = Libc.poll(pollFds, (nuint)open.Count, exitSeenAt >= 0 ? DrainIdleMs : PollMs);
            if (ready < 0)
            {
                if (Marshal.GetLastPInvokeError() == Libc.EINTR) continue;
                break;
            }
            if (ready == 0)
            {
                if (exitSeenAt >= 0) break; // exited and quiet: the rest belongs to stray grandchildren
                continue;
            }

            for (var i = open.Count - 1; i >= 0; i--)
            {
                if (pollFds[i].Revents == 0) continue;
                var (fd, kind) = open[i];
                if ((pollFds[i].Revents & Libc.POLLNVAL) != 0) { open.RemoveAt(i); continue; }
                nint n;
                fixed (byte* p = buffer) n = Libc.read(fd, p, ChunkSize);
                if (n > 0)
                {
                    idleHangups = 0;
                    var before = Environment.TickCount64;
                    publish(kind, buffer.AsSpan(0, (int)n).ToArray());
                    // Time blocked on a slow client does not count against the drain cap:
                    // what the child wrote before exiting must all get out.
                    if (exitSeenAt >= 0) exitSeenAt += Environment.TickCount64 - before;
                    continue;
                }
                var errno = n < 0 ? Marshal.GetLastPInvokeError() : 0;
                if (n < 0 && errno is Libc.EINTR or Libc.EAGAIN) continue;
                if (kind == OutputKind.Pty && errno == Libc.EIO && exitSeenAt < 0 && !exited())
                {
                    // No slave fd open right now (the child is just exiting, or detached from
                    // its terminal and runs on): EIO is not the end until the child is gone.
                    // Back off, since poll keeps reporting the hang-up.
                    Thread.Sleep(Math.Min(10 * ++idleHangups, 200));
                    continue;
                }
                open.RemoveAt(i); // EOF (a PTY master reports EIO once every slave fd is closed)
            }
        }
    }
}
