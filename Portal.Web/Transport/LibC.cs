using System.Net.Sockets;
using System.Runtime.InteropServices;

// One source, two assemblies: the portal compiles this transport here, and Portal.Envd (NativeAOT,
// no reference to Portal.Web) links the same files with PORTAL_ENVD defined, under its own
// namespace so a project referencing both sees two distinct types.
#if PORTAL_ENVD
namespace Portal.Envd.Transport;
#else
namespace Portal.Web.Transport;
#endif

/// <summary>The few Linux calls the epoll transport makes itself (everything else stays on <see cref="Socket"/>).</summary>
internal static unsafe partial class LibC
{
    public const int EpollCloexec = 0x80000;
    public const int EpollCtlAdd = 1, EpollCtlMod = 3;
    public const uint EpollIn = 0x001, EpollOut = 0x004, EpollErr = 0x008, EpollHup = 0x010, EpollRdHup = 0x2000, EpollEt = 1u << 31;
    public const int MsgNoSignal = 0x4000;
    public const int EIntr = 4, EAgain = 11;

    /// <summary><c>struct epoll_event</c> is packed on x86-64 (12 bytes) and naturally aligned elsewhere (16).</summary>
    public static readonly int EventSize = RuntimeInformation.ProcessArchitecture == Architecture.X64 ? 12 : 16;
    public static readonly int EventDataOffset = RuntimeInformation.ProcessArchitecture == Architecture.X64 ? 4 : 8;

    [LibraryImport("libc", EntryPoint = "epoll_create1", SetLastError = true)]
    public static partial int EpollCreate1(int flags);

    [LibraryImport("libc", EntryPoint = "epoll_ctl", SetLastError = true)]
    public static partial int EpollCtl(int epfd, int op, SafeHandle fd, byte* ev);

    [LibraryImport("libc", EntryPoint = "epoll_wait", SetLastError = true)]
    public static partial int EpollWait(int epfd, byte* events, int maxEvents, int timeout);

    [LibraryImport("libc", EntryPoint = "recv", SetLastError = true)]
    public static partial nint Recv(SafeHandle fd, byte* buffer, nint length, int flags);

    [LibraryImport("libc", EntryPoint = "send", SetLastError = true)]
    public static partial nint Send(SafeHandle fd, byte* buffer, nint length, int flags);

    [StructLayout(LayoutKind.Sequential)]
    public struct IoVec
    {
        public byte* Base;
        public nint Length;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct MsgHdr
    {
        public void* Name;
        public int NameLength;
        public IoVec* Iov;
        public nint IovLength;
        public void* Control;
        public nint ControlLength;
        public int Flags;
    }

    [LibraryImport("libc", EntryPoint = "sendmsg", SetLastError = true)]
    public static partial nint SendMsg(SafeHandle fd, MsgHdr* message, int flags);

    public static int Errno => Marshal.GetLastPInvokeError();

    /// <summary>A <see cref="SocketException"/> for a Linux errno, with the error code Kestrel and callers test for.</summary>
    public static SocketException SocketError(int errno) => new((int)(errno switch
    {
        104 => System.Net.Sockets.SocketError.ConnectionReset,      // ECONNRESET
        32 => System.Net.Sockets.SocketError.Shutdown,              // EPIPE
        111 => System.Net.Sockets.SocketError.ConnectionRefused,    // ECONNREFUSED
        103 => System.Net.Sockets.SocketError.ConnectionAborted,    // ECONNABORTED
        107 => System.Net.Sockets.SocketError.NotConnected,         // ENOTCONN
        110 => System.Net.Sockets.SocketError.TimedOut,             // ETIMEDOUT
        113 => System.Net.Sockets.SocketError.HostUnreachable,      // EHOSTUNREACH
        101 => System.Net.Sockets.SocketError.NetworkUnreachable,   // ENETUNREACH
        2 => System.Net.Sockets.SocketError.AddressNotAvailable,    // ENOENT (Unix socket path)
        9 => System.Net.Sockets.SocketError.OperationAborted,       // EBADF: closed under us
        EAgain => System.Net.Sockets.SocketError.WouldBlock,
        _ => System.Net.Sockets.SocketError.SocketError,
    }));
}
