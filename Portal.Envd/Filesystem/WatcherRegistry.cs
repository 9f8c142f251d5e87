using System.Collections.Concurrent;
using Portal.Envd.Connect;

namespace Portal.Envd.Filesystem;

/// <summary>Watchers for the polling API (CreateWatcher / GetWatcherEvents / RemoveWatcher).</summary>
public sealed class WatcherRegistry
{
    private readonly ConcurrentDictionary<string, DirectoryWatcher> _watchers = new();

    public string Add(DirectoryWatcher watcher)
    {
        var id = Guid.NewGuid().ToString("N");
        _watchers[id] = watcher;
        return id;
    }

    public List<FilesystemEvent> Drain(string id)
    {
        var watcher = Get(id);
        var events = new List<FilesystemEvent>();
        while (watcher.Events.TryRead(out var e)) events.Add(e);
        return events;
    }

    public void Remove(string id)
    {
        if (!_watchers.TryRemove(id, out var w)) throw ConnectException.NotFound($"watcher '{id}' not found");
        w.Dispose();
    }

    private DirectoryWatcher Get(string id) =>
        _watchers.TryGetValue(id ?? "", out var w) ? w : throw ConnectException.NotFound($"watcher '{id}' not found");
}
