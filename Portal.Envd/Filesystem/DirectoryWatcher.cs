using System.Runtime.InteropServices;
using System.Text;
using System.Threading.Channels;
using Portal.Envd.Connect;
using Portal.Envd.Native;
using Portal.Envd.Users;

namespace Portal.Envd.Filesystem;

/// <summary>
/// Watches a directory with inotify (recursively when asked, adding watches for directories
/// created later) and reports events named relative to the watched directory, with the same
/// event mapping as Go's fsnotify, which E2B's envd uses.
/// </summary>
public sealed class DirectoryWatcher : IDisposable
{
    private const uint IN_MODIFY = 0x2, IN_ATTRIB = 0x4, IN_MOVED_FROM = 0x40, IN_MOVED_TO = 0x80, IN_CREATE = 0x100,
        IN_DELETE = 0x200, IN_DELETE_SELF = 0x400, IN_MOVE_SELF = 0x800, IN_Q_OVERFLOW = 0x4000, IN_IGNORED = 0x8000,
        IN_ISDIR = 0x40000000;
    private const uint Mask = IN_MODIFY | IN_ATTRIB | IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE | IN_DELETE | IN_DELETE_SELF | IN_MOVE_SELF;

    private readonly string _root;
    private readonly bool _recursive;
    private readonly bool _includeEntry;
    private readonly EnvdUser _user;
    private readonly EntryInfoReader _entries;
    private readonly Dictionary<int, string> _dirs = []; // wd → path relative to root ("" = root)
    private readonly Channel<FilesystemEvent> _events = Channel.CreateUnbounded<FilesystemEvent>(new() { SingleWriter = true });
    private readonly CancellationTokenSource _stop = new();
    private int _fd;

    public DirectoryWatcher(string root, bool recursive, bool includeEntry, EnvdUser user, EntryInfoReader entries)
    {
        _root = root;
        _recursive = recursive;
        _includeEntry = includeEntry;
        _user = user;
        _entries = entries;

        var info = FsIdentity.RunAs(user, () => entries.TryRead(root)) ?? throw ConnectException.NotFound($"path '{root}' does not exist");
        if (info.Type != FileType.Directory) throw ConnectException.InvalidArgument($"path '{root}' is not a directory");
        _fd = Libc.inotify_init1(Libc.IN_NONBLOCK | Libc.IN_CLOEXEC);
        if (_fd < 0) throw ConnectException.Internal($"inotify_init1 failed: errno {Marshal.GetLastPInvokeError()}");
        try
        {
            FsIdentity.RunAs(user, () => AddTree(""));
        }
        catch
        {
            Dispose();
            throw;
        }
        new Thread(ReadLoop) { IsBackground = true, Name = "envd-watch" }.Start();
    }

    public ChannelReader<FilesystemEvent> Events => _events.Reader;

    private void AddTree(string relative)
    {
        var full = relative.Length == 0 ? _root : Path.Combine(_root, relative);
        var wd = Libc.inotify_add_watch(_fd, full, Mask);
        if (wd < 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            if (relative.Length == 0) throw Errors.FromErrno(errno, full, "cannot watch");
            return; // a subdirectory that vanished or is unreadable: skip it
        }
        lock (_dirs) _dirs[wd] = relative;
        if (!_recursive) return;
        IEnumerable<string> subdirs;
        try
        {
            subdirs = new DirectoryInfo(full).EnumerateDirectories().Where(d => d.LinkTarget is null).Select(d => d.Name).ToList();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return;
        }
        foreach (var name in subdirs) AddTree(relative.Length == 0 ? name : Path.Combine(relative, name));
    }

    private unsafe void ReadLoop()
    {
        var buffer = new byte[64 * 1024];
        var pfd = new Libc.PollFd { Fd = _fd, Events = Libc.POLLIN };
        while (!_stop.IsCancellationRequested)
        {
            var ready = Libc.poll(&pfd, 1, 200);
            if (ready <= 0) continue;
            nint n;
            fixed (byte* p = buffer) n = Libc.read(_fd, p, buffer.Length);
            if (n <= 0) continue;
            var offset = 0;
            while (offset + 16 <= n)
            {
                var wd = BitConverter.ToInt32(buffer, offset);
                var mask = BitConverter.ToUInt32(buffer, offset + 4);
                var len = BitConverter.ToInt32(buffer, offset + 12);
                var name = len > 0 ? Encoding.UTF8.GetString(buffer, offset + 16, len).TrimEnd('\0') : "";
                offset += 16 + len;
                Handle(wd, mask, name);
            }
        }
    }

    private void Handle(int wd, uint mask, string name)
    {
        if ((mask & IN_Q_OVERFLOW) != 0) return;
        string? dir;
        lock (_dirs)
        {
            if (!_dirs.TryGetValue(wd, out dir)) return;
            if ((mask & IN_IGNORED) != 0) { _dirs.Remove(wd); return; }
        }
        var relative = name.Length == 0 ? dir : dir.Length == 0 ? name : Path.Combine(dir, name);
        if ((mask & (IN_DELETE_SELF | IN_MOVE_SELF)) != 0 && dir.Length > 0) return; // reported by the parent
        var type = (mask & (IN_CREATE | IN_MOVED_TO)) != 0 ? EventType.Create
            : (mask & (IN_DELETE | IN_DELETE_SELF)) != 0 ? EventType.Remove
            : (mask & (IN_MOVED_FROM | IN_MOVE_SELF)) != 0 ? EventType.Rename
            : (mask & IN_MODIFY) != 0 ? EventType.Write
            : (mask & IN_ATTRIB) != 0 ? EventType.Chmod
            : EventType.Unspecified;
        if (type == EventType.Unspecified) return;

        if (_recursive && type == EventType.Create && (mask & IN_ISDIR) != 0 && name.Length > 0)
        {
            try { FsIdentity.RunAs(_user, () => AddTree(relative)); } catch (ConnectException) { }
        }

        EntryInfo? entry = null;
        if (_includeEntry && type is EventType.Create or EventType.Write or EventType.Chmod)
        {
            try { entry = FsIdentity.RunAs(_user, () => _entries.TryRead(Path.Combine(_root, relative))); }
            catch (ConnectException) { }
        }
        _events.Writer.TryWrite(new FilesystemEvent { Name = relative, Type = type, Entry = entry });
    }

    public void Dispose()
    {
        _stop.Cancel();
        _events.Writer.TryComplete();
        var fd = Interlocked.Exchange(ref _fd, -1);
        if (fd >= 0)
        {
            // Let the read loop leave its poll before the fd number can be reused.
            Thread.Sleep(0);
            Task.Delay(300).ContinueWith(_ => Libc.close(fd));
        }
    }
}
