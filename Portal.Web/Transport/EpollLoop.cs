using System.Runtime.InteropServices;
#if !PORTAL_ENVD
using Portal.Core.Threading;
#endif

// One source, two assemblies: the portal compiles this transport here, and Portal.Envd (NativeAOT,
// no reference to Portal.Web) links the same files with PORTAL_ENVD defined, under its own
// namespace so a project referencing both sees two distinct types.
#if PORTAL_ENVD
namespace Portal.Envd.Transport;
#else
namespace Portal.Web.Transport;
#endif

/// <summary>
/// One thread waiting in <c>epoll_wait</c> for the sockets registered with it (edge-triggered) and
/// running their continuations inline, as the runtime's socket engine does with inline
/// completions — but without its habit of trying every read before waiting (see
/// <see cref="EpollSocket"/>). Process-wide, like that engine: one loop per four cores, at least one
/// (<c>InlineIo.EpollThreads</c>; envd: one); a socket opened on a loop thread joins that loop, so a
/// client connection and the sandbox connections it uses share one thread and one wait.
/// </summary>
internal sealed unsafe class EpollLoop
{
    private const int MaxEvents = 256;

#if PORTAL_ENVD
    // envd serves one sandbox: one loop is plenty.
    private const int LoopCount = 1;
    private const string ThreadName = "envd epoll";
#else
    private static readonly int LoopCount = InlineIo.EpollThreads(Environment.ProcessorCount);
    private const string ThreadName = "Portal epoll";
#endif
    private static readonly Lazy<EpollLoop[]> Loops = new(() =>
        Enumerable.Range(0, LoopCount).Select(i => new EpollLoop(i)).ToArray());
    private static int _next;

    [ThreadStatic] private static EpollLoop? _current;

    private readonly int _epoll;
    private readonly Lock _slotsLock = new();
    // Registered sockets by slot; the event's data is (generation << 32 | slot), so an event that was
    // already queued for a socket whose slot has since been reused finds a different key and is dropped.
    private EpollSocket?[] _slots = new EpollSocket?[256];
    private uint[] _generations = new uint[256];
    private readonly Stack<int> _free = new();
    private int _used;

    private EpollLoop(int index)
    {
        _epoll = LibC.EpollCreate1(LibC.EpollCloexec);
        if (_epoll < 0) throw LibC.SocketError(LibC.Errno);
        new Thread(Run) { IsBackground = true, Name = $"{ThreadName} {index}" }.Start();
    }

    /// <summary>The loop of the calling thread when it is a loop thread, otherwise the next one in turn.</summary>
    public static EpollLoop Pick()
    {
        if (_current is { } current) return current;
        var loops = Loops.Value;
        return loops.Length == 1 ? loops[0] : loops[(int)((uint)Interlocked.Increment(ref _next) % loops.Length)];
    }

    /// <summary>Adds <paramref name="socket"/> for <paramref name="events"/>; returns the key its events carry.</summary>
    public ulong Add(EpollSocket socket, SafeHandle handle, uint events)
    {
        ulong key;
        lock (_slotsLock)
        {
            if (!_free.TryPop(out var slot))
            {
                if (_used == _slots.Length)
                {
                    Array.Resize(ref _generations, _used * 2);
                    var grown = new EpollSocket?[_used * 2];
                    Array.Copy(_slots, grown, _used);
                    Volatile.Write(ref _slots, grown);
                }
                slot = _used++;
            }
            key = (ulong)_generations[slot] << 32 | (uint)slot;
            socket.Key = key;
            Volatile.Write(ref _slots[slot], socket);
        }
        Control(LibC.EpollCtlAdd, handle, events, key, free: true);
        return key;
    }

    /// <summary>Changes the events a registered socket waits for (edge-triggered: reports readiness that already holds).</summary>
    public void Modify(SafeHandle handle, uint events, ulong key) => Control(LibC.EpollCtlMod, handle, events, key, free: false);

    /// <summary>Frees the socket's slot (its descriptor is closed by the owner, which ends the registration).</summary>
    public void Remove(ulong key)
    {
        var slot = (int)(uint)key;
        lock (_slotsLock)
        {
            if (_slots[slot] is not { } s || s.Key != key) return;
            Volatile.Write(ref _slots[slot], null);
            _generations[slot]++;
            _free.Push(slot);
        }
    }

    private void Control(int op, SafeHandle handle, uint events, ulong key, bool free)
    {
        var ev = stackalloc byte[16];
        *(uint*)ev = events;
        *(ulong*)(ev + LibC.EventDataOffset) = key;
        if (LibC.EpollCtl(_epoll, op, handle, ev) == 0) return;
        var errno = LibC.Errno;
        if (free) Remove(key);
        throw LibC.SocketError(errno);
    }

    private void Run()
    {
        _current = this;
        var size = LibC.EventSize;
        var offset = LibC.EventDataOffset;
        var events = (byte*)NativeMemory.Alloc((nuint)(MaxEvents * size));
        while (true)
        {
            var n = LibC.EpollWait(_epoll, events, MaxEvents, -1);
            if (n < 0)
            {
                if (LibC.Errno == LibC.EIntr) continue;
                Environment.FailFast("epoll_wait failed: errno " + LibC.Errno);
            }
            var slots = Volatile.Read(ref _slots);
            for (var i = 0; i < n; i++)
            {
                var e = events + i * size;
                var key = *(ulong*)(e + offset);
                var slot = (int)(uint)key;
                if (slot >= slots.Length) slots = Volatile.Read(ref _slots);
                if (Volatile.Read(ref slots[slot]) is not { } socket || socket.Key != key) continue;
                try
                {
                    socket.OnEvents(*(uint*)e);
                }
                catch (Exception ex)
                {
                    // A continuation that throws must not take the loop (and every connection on it) down.
                    Console.Error.WriteLine($"{ThreadName} loop: unhandled exception in a socket continuation: {ex}");
                }
            }
        }
    }
}
