using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Portal.Core.Runtime.Local;

/// <summary>
/// Learns that a sandbox died or hit its memory limit when the kernel says so, instead of
/// reading every sandbox's cgroup on a timer: one thread blocked in <c>epoll_wait</c> on, per
/// sandbox, a pidfd of its PID 1 (readable once it exits; PID 1 leaving takes the whole PID
/// namespace with it, so that is the sandbox's death) and the memory cgroup's OOM notification
/// (<see cref="ICgroupDriver.OpenOomEvents"/>). Idle sandboxes cost no wake-up at all.
/// Callbacks run on the thread pool, never on the epoll thread.
/// </summary>
internal sealed unsafe partial class SandboxWatch : IDisposable
{
    private readonly Action<string> _exited;
    private readonly Action<string> _memoryEvent;
    private readonly int _epoll;
    private readonly SafeFileHandle _wake;
    private readonly Thread _thread;
    private readonly ConcurrentDictionary<long, Entry> _entries = new();
    private readonly ConcurrentDictionary<string, (long Exit, long Oom)> _bySandbox = new(StringComparer.Ordinal);
    private long _nextToken = 1;
    private volatile bool _disposed;

    private sealed record Entry(string SandboxId, SafeFileHandle Fd, bool IsExit);

    public SandboxWatch(Action<string> exited, Action<string> memoryEvent)
    {
        _exited = exited;
        _memoryEvent = memoryEvent;
        _epoll = EpollCreate1(CloExec);
        if (_epoll < 0) throw new IOException($"epoll_create1: {Marshal.GetLastPInvokeErrorMessage()}");
        _wake = new SafeFileHandle(EventFd(0, CloExec | NonBlock), ownsHandle: true);
        if (_wake.IsInvalid) throw new IOException($"eventfd: {Marshal.GetLastPInvokeErrorMessage()}");
        Add(_wake, 0);
        _thread = new Thread(Loop, maxStackSize: 256 * 1024) { IsBackground = true, Name = "sandbox watch" };
        _thread.Start();
    }

    /// <summary>
    /// Watches <paramref name="sandboxId"/>: <paramref name="initPid"/> is its PID 1 as the host
    /// sees it, <paramref name="oomEvents"/> (taken over) the cgroup's OOM notification or null.
    /// A PID 1 that is already gone is reported at once.
    /// </summary>
    public void Watch(string sandboxId, int initPid, SafeFileHandle? oomEvents)
    {
        Unwatch(sandboxId);
        if (initPid <= 0) // no PID 1 found: the namespace is gone
        {
            oomEvents?.Dispose();
            ThreadPool.QueueUserWorkItem(_ => _exited(sandboxId));
            return;
        }
        var pidfd = new SafeFileHandle(PidfdOpen(initPid, 0), ownsHandle: true);
        if (pidfd.IsInvalid)
        {
            pidfd.Dispose();
            oomEvents?.Dispose();
            if (Marshal.GetLastPInvokeError() == Esrch) { ThreadPool.QueueUserWorkItem(_ => _exited(sandboxId)); return; }
            throw new IOException($"pidfd_open({initPid}): {Marshal.GetLastPInvokeErrorMessage()} (the local runtime needs Linux 5.3 or later)");
        }
        var exitToken = Interlocked.Increment(ref _nextToken);
        var oomToken = oomEvents is null ? 0 : Interlocked.Increment(ref _nextToken);
        _entries[exitToken] = new Entry(sandboxId, pidfd, IsExit: true);
        if (oomEvents is not null) _entries[oomToken] = new Entry(sandboxId, oomEvents, IsExit: false);
        _bySandbox[sandboxId] = (exitToken, oomToken);
        Add(pidfd, exitToken);
        if (oomEvents is not null) Add(oomEvents, oomToken);
    }

    /// <summary>Stops watching (a kill, or a death already handled). Idempotent.</summary>
    public void Unwatch(string sandboxId)
    {
        if (!_bySandbox.TryRemove(sandboxId, out var tokens)) return;
        Drop(tokens.Exit);
        Drop(tokens.Oom);
    }

    public int Count => _bySandbox.Count;

    private void Drop(long token)
    {
        // Closing the descriptor also takes it out of the epoll set (nothing else holds it).
        if (token != 0 && _entries.TryRemove(token, out var e)) e.Fd.Dispose();
    }

    private void Add(SafeFileHandle fd, long token)
    {
        var ev = stackalloc byte[16];
        *(uint*)ev = EpollIn;
        *(long*)(ev + EventDataOffset) = token;
        var added = false;
        fd.DangerousAddRef(ref added);
        try
        {
            if (EpollCtl(_epoll, EpollCtlAdd, (int)fd.DangerousGetHandle(), ev) != 0)
                throw new IOException($"epoll_ctl: {Marshal.GetLastPInvokeErrorMessage()}");
        }
        finally { if (added) fd.DangerousRelease(); }
    }

    private void Loop()
    {
        const int max = 64;
        var events = stackalloc byte[max * 16];
        var buffer = stackalloc byte[4096];
        while (!_disposed)
        {
            var n = EpollWait(_epoll, events, max, -1);
            if (n < 0)
            {
                if (Marshal.GetLastPInvokeError() == Eintr) continue;
                return;
            }
            for (var i = 0; i < n; i++)
            {
                var token = *(long*)(events + i * EventSize + EventDataOffset);
                if (token == 0 || !_entries.TryGetValue(token, out var entry)) continue;
                if (entry.IsExit)
                {
                    // A pidfd stays readable once its process has exited: stop watching first.
                    Unwatch(entry.SandboxId);
                    ThreadPool.QueueUserWorkItem(_ => _exited(entry.SandboxId));
                }
                else
                {
                    // Drain (eventfd counter or inotify records) so the level-triggered wait sleeps again.
                    var added = false;
                    entry.Fd.DangerousAddRef(ref added);
                    try { while (Read((int)entry.Fd.DangerousGetHandle(), buffer, 4096) > 0) { } }
                    finally { if (added) entry.Fd.DangerousRelease(); }
                    ThreadPool.QueueUserWorkItem(_ => _memoryEvent(entry.SandboxId));
                }
            }
        }
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        var one = 1L;
        Write((int)_wake.DangerousGetHandle(), (byte*)&one, 8);
        _thread.Join(TimeSpan.FromSeconds(5));
        foreach (var id in _bySandbox.Keys) Unwatch(id);
        Close(_epoll);
        _wake.Dispose();
    }

    /// <summary>An eventfd registered for <paramref name="file"/>'s cgroup v1 notification
    /// (<c>cgroup.event_control</c> beside it): readable whenever the kernel signals it.</summary>
    internal static SafeFileHandle RegisterCgroupV1Event(string file)
    {
        var efd = new SafeFileHandle(EventFd(0, CloExec | NonBlock), ownsHandle: true);
        if (efd.IsInvalid) throw new IOException($"eventfd: {Marshal.GetLastPInvokeErrorMessage()}");
        try
        {
            // The registration holds the memcg, not the file: the file may be closed at once,
            // and it survives the directory's rename (a claimed warm sandbox).
            using var target = File.OpenHandle(file, FileMode.Open, FileAccess.Read);
            File.WriteAllText(Path.Combine(Path.GetDirectoryName(file)!, "cgroup.event_control"),
                $"{efd.DangerousGetHandle()} {target.DangerousGetHandle()}");
            return efd;
        }
        catch
        {
            efd.Dispose();
            throw;
        }
    }

    /// <summary>An inotify descriptor that becomes readable when <paramref name="file"/> changes
    /// (cgroup v2's <c>*.events</c> files notify on every change of their counters).</summary>
    internal static SafeFileHandle InotifyOnModify(string file)
    {
        var fd = new SafeFileHandle(InotifyInit1(CloExec | NonBlock), ownsHandle: true);
        if (fd.IsInvalid) throw new IOException($"inotify_init1: {Marshal.GetLastPInvokeErrorMessage()}");
        if (InotifyAddWatch((int)fd.DangerousGetHandle(), file, InModify) < 0)
        {
            var error = Marshal.GetLastPInvokeErrorMessage();
            fd.Dispose();
            throw new IOException($"inotify_add_watch {file}: {error}");
        }
        return fd;
    }

    /// <summary>The host PID of the sandbox's PID 1 among <paramref name="pids"/> (its
    /// <c>NSpid</c> ends in 1), or 0.</summary>
    internal static int FindInit(IEnumerable<int> pids)
    {
        foreach (var pid in pids)
        {
            try
            {
                var line = File.ReadLines($"/proc/{pid}/status").FirstOrDefault(l => l.StartsWith("NSpid:", StringComparison.Ordinal));
                if (line is not null && line.Split('\t', ' ', StringSplitOptions.RemoveEmptyEntries) is { Length: > 2 } f && f[^1] == "1") return pid;
            }
            catch (IOException) { }
        }
        return 0;
    }

    private const int CloExec = 0x80000, NonBlock = 0x800, Esrch = 3, Eintr = 4, EpollCtlAdd = 1;
    private const uint EpollIn = 0x001, InModify = 0x002;
    /// <summary><c>struct epoll_event</c> is packed on x86-64 (12 bytes), naturally aligned elsewhere (16).</summary>
    private static readonly int EventSize = RuntimeInformation.ProcessArchitecture == Architecture.X64 ? 12 : 16;
    private static readonly int EventDataOffset = RuntimeInformation.ProcessArchitecture == Architecture.X64 ? 4 : 8;

    [LibraryImport("libc", EntryPoint = "epoll_create1", SetLastError = true)]
    private static partial int EpollCreate1(int flags);
    [LibraryImport("libc", EntryPoint = "epoll_ctl", SetLastError = true)]
    private static partial int EpollCtl(int epfd, int op, int fd, byte* ev);
    [LibraryImport("libc", EntryPoint = "epoll_wait", SetLastError = true)]
    private static partial int EpollWait(int epfd, byte* events, int maxEvents, int timeout);
    [LibraryImport("libc", EntryPoint = "pidfd_open", SetLastError = true)]
    private static partial int PidfdOpen(int pid, uint flags);
    [LibraryImport("libc", EntryPoint = "eventfd", SetLastError = true)]
    private static partial int EventFd(uint initval, int flags);
    [LibraryImport("libc", EntryPoint = "inotify_init1", SetLastError = true)]
    private static partial int InotifyInit1(int flags);
    [LibraryImport("libc", EntryPoint = "inotify_add_watch", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int InotifyAddWatch(int fd, string path, uint mask);
    [LibraryImport("libc", EntryPoint = "read", SetLastError = true)]
    private static partial nint Read(int fd, byte* buffer, nint count);
    [LibraryImport("libc", EntryPoint = "write", SetLastError = true)]
    private static partial nint Write(int fd, byte* buffer, nint count);
    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    private static partial int Close(int fd);
}
