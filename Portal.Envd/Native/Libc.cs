using System.Runtime.InteropServices;

namespace Portal.Envd.Native;

/// <summary>The few libc calls envd needs that .NET does not expose.</summary>
internal static partial class Libc
{
    [LibraryImport("libc", SetLastError = true)]
    internal static partial long syscall(long number, long a1, long a2, long a3);

    [LibraryImport("libc", SetLastError = true)]
    internal static unsafe partial long syscall(long number, long a1, uint* a2, long a3);

    [LibraryImport("libc")]
    internal static partial uint geteuid();

    [LibraryImport("libc", SetLastError = true)]
    internal static partial int kill(int pid, int sig);

    [LibraryImport("libc", SetLastError = true)]
    internal static partial int setsid();

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int open(string path, int flags, int mode);

    [LibraryImport("libc", SetLastError = true)]
    internal static partial int close(int fd);

    [LibraryImport("libc", SetLastError = true)]
    internal static partial int dup2(int oldfd, int newfd);

    [LibraryImport("libc", SetLastError = true)]
    internal static partial int ioctl(int fd, ulong request, nint arg);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int execvp(string file, string?[] argv);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int chown(string path, uint owner, uint group);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int lchown(string path, uint owner, uint group);

        // --- pseudo-terminals (Process/Pty.cs) ---

    [LibraryImport("libc", SetLastError = true)]
    internal static partial int posix_openpt(int flags);

    [LibraryImport("libc", SetLastError = true)]
    internal static partial int grantpt(int fd);

    [LibraryImport("libc", SetLastError = true)]
    internal static partial int unlockpt(int fd);

    /// <summary>Returns 0 or an error number (not via errno).</summary>
    [LibraryImport("libc")]
    internal static unsafe partial int ptsname_r(int fd, byte* buf, nuint buflen);

    // --- raw fd I/O for the output pump and the PTY master ---

    [LibraryImport("libc", SetLastError = true)]
    internal static unsafe partial int poll(PollFd* fds, nuint nfds, int timeout);

    [LibraryImport("libc", SetLastError = true)]
    internal static unsafe partial nint read(int fd, byte* buf, nuint count);

    [LibraryImport("libc", SetLastError = true)]
    internal static unsafe partial nint write(int fd, byte* buf, nuint count);

    // --- process state the PTY/exec helper resets before execvp ---

    [LibraryImport("libc", SetLastError = true)]
    internal static partial int close_range(uint first, uint last, int flags);

    /// <summary>close_range flag: mark close-on-exec instead of closing now.</summary>
    internal const int CLOSE_RANGE_CLOEXEC = 4;

    [LibraryImport("libc", SetLastError = true)]
    internal static unsafe partial int sigaction(int signum, byte* act, byte* oldact);

    [LibraryImport("libc")]
    internal static partial nint signal(int signum, nint handler);

    [LibraryImport("libc")]
    internal static unsafe partial int pthread_sigmask(int how, byte* set, byte* oldset);

    [StructLayout(LayoutKind.Sequential)]
    internal struct PollFd
    {
        public int Fd;
        public short Events;
        public short Revents;
    }

    [StructLayout(LayoutKind.Sequential)]
    internal struct WinSize
    {
        public ushort Rows;
        public ushort Cols;
        public ushort XPixel;
        public ushort YPixel;
    }

    internal const int O_RDONLY = 0x0;
    internal const short POLLIN = 0x1;
    internal const short POLLERR = 0x8;
    internal const short POLLHUP = 0x10;
    internal const short POLLNVAL = 0x20;
    internal const int EINTR = 4;
    internal const int EIO = 5;
    internal const int EAGAIN = 11;
    internal const int ENOENT = 2;
    internal const int SIGKILL = 9;
    internal const int SIGTERM = 15;
    internal const int SIGSTOP = 19;
    internal const int SIG_SETMASK = 2;
    internal const nint SIG_DFL = 0;
    internal const nint SIG_IGN = 1;
    /// <summary>Big enough for glibc's <c>struct sigaction</c> (152 bytes on x86-64 and arm64).</summary>
    internal const int SigactionSize = 256;
    /// <summary>glibc's <c>sigset_t</c> is 1024 bits.</summary>
    internal const int SigsetSize = 128;

    internal const int O_RDWR = 0x2;
    internal const int O_NOCTTY = 0x100;
    internal const int O_CLOEXEC = 0x80000;
    internal const ulong TIOCSCTTY = 0x540E;
    internal const ulong TIOCSWINSZ = 0x5414;
    internal const ulong TIOCGPTN = 0x80045430;
    internal const ulong TIOCSPTLCK = 0x40045431;
}
