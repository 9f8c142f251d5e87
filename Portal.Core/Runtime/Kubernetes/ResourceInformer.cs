using System.Collections.Concurrent;
using System.Net;
using k8s;
using k8s.Autorest;
using k8s.Models;
using Microsoft.Extensions.Logging;

namespace Portal.Core.Runtime.Kubernetes;

/// <summary>
/// A list-then-watch cache of one kind of object (client-go's informer, which KubernetesClient
/// does not offer in a form that reports the previous state with each change): a full list,
/// then a watch from the list's resourceVersion, resumed from the last version seen when the
/// stream ends, and a fresh list when the server answers 410 Gone (the version is too old).
/// A fresh list is diffed against the cache, so a change missed in between is still reported.
/// Handlers run on the informer's loop, one change at a time, in the server's order.
/// </summary>
public sealed class ResourceInformer<T> : IAsyncDisposable where T : class, IKubernetesObject<V1ObjectMeta>
{
    public delegate Task<(IList<T> Items, string ResourceVersion)> ListFunc(CancellationToken ct);
    public delegate IAsyncEnumerable<(WatchEventType Type, T Object)> WatchFunc(string resourceVersion, Action<Exception> onError, CancellationToken ct);

    private readonly ListFunc _list;
    private readonly WatchFunc _watch;
    private readonly Action<T?, T?> _changed;
    private readonly Func<T, T> _trim;
    private readonly ILogger _log;
    private readonly ConcurrentDictionary<string, T> _items = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _stop = new();
    private readonly TaskCompletionSource _synced = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Task _loop = Task.CompletedTask;

    /// <param name="changed">(before, after): before null = added, after null = deleted.</param>
    /// <param name="trim">Drops what the cache need not keep (client-go's transform): at thousands
    /// of pods, their specs are most of the memory.</param>
    public ResourceInformer(ListFunc list, WatchFunc watch, Action<T?, T?> changed, ILogger log, Func<T, T>? trim = null)
    {
        _list = list;
        _watch = watch;
        _changed = changed;
        _log = log;
        _trim = trim ?? (x => x);
    }

    public void Start() => _loop = Task.Run(() => RunAsync(_stop.Token));

    /// <summary>Completes once the first list is in the cache.</summary>
    public Task Synced => _synced.Task;

    /// <summary>Lists and watches since the start (a measure of how often the watch had to be rebuilt).</summary>
    public int Lists { get; private set; }

    public IEnumerable<T> Items => _items.Values;

    public bool TryGet(string name, out T item) => _items.TryGetValue(name, out item!);

    /// <summary>
    /// Puts an object the portal just wrote into the cache before its watch event arrives, so
    /// the next read sees it; an older version never replaces a newer one.
    /// </summary>
    public void Observe(T item)
    {
        item = _trim(item);
        var name = item.Metadata.Name;
        while (true)
        {
            if (!_items.TryGetValue(name, out var current))
            {
                if (_items.TryAdd(name, item)) { _changed(null, item); return; }
                continue;
            }
            if (!IsNewer(item, current)) return;
            if (_items.TryUpdate(name, item, current)) { _changed(current, item); return; }
        }
    }

    /// <summary>Drops an object the portal just deleted.</summary>
    public void ObserveDeleted(string name)
    {
        if (_items.TryRemove(name, out var old)) _changed(old, null);
    }

    private static bool IsNewer(T a, T b) =>
        long.TryParse(a.Metadata.ResourceVersion, out var x) && long.TryParse(b.Metadata.ResourceVersion, out var y) ? x > y : a.Metadata.ResourceVersion != b.Metadata.ResourceVersion;

    private async Task RunAsync(CancellationToken ct)
    {
        var backoff = TimeSpan.FromMilliseconds(100);
        string? version = null;
        while (!ct.IsCancellationRequested)
        {
            try
            {
                if (version is null)
                {
                    var (items, rv) = await _list(ct);
                    Lists++;
                    Replace(items);
                    version = rv;
                    _synced.TrySetResult();
                }
                var gone = false;
                Exception? failure = null;
                await foreach (var (type, obj) in _watch(version, e =>
                {
                    if (e is KubernetesException { Status.Code: (int)HttpStatusCode.Gone }) gone = true;
                    else failure ??= e;
                }, ct))
                {
                    if (obj?.Metadata is null) continue;
                    if (type == WatchEventType.Bookmark) { version = obj.Metadata.ResourceVersion; continue; }
                    Apply(type, obj);
                    version = obj.Metadata.ResourceVersion;
                    backoff = TimeSpan.FromMilliseconds(100);
                }
                if (gone)
                {
                    _log.LogInformation("{Kind} watch: resourceVersion {Version} is too old (410 Gone); listing again", typeof(T).Name, version);
                    version = null;
                    continue;
                }
                if (failure is not null) throw failure;
                // A watch that ended without error (server timeout) is resumed where it stopped.
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested) { return; }
            catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.Gone)
            {
                version = null;
                continue;
            }
            catch (Exception e)
            {
                _log.LogWarning(e, "{Kind} watch failed; retrying in {Delay} ms", typeof(T).Name, backoff.TotalMilliseconds);
                try { await Task.Delay(backoff, ct); } catch (OperationCanceledException) { return; }
                backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, TimeSpan.FromSeconds(10).Ticks));
            }
        }
    }

    private void Apply(WatchEventType type, T obj)
    {
        obj = _trim(obj);
        var name = obj.Metadata.Name;
        if (type == WatchEventType.Deleted)
        {
            if (_items.TryRemove(name, out var old)) _changed(old, null);
            return;
        }
        if (_items.TryGetValue(name, out var current))
        {
            if (!IsNewer(obj, current)) return; // the portal's own write already put it here
            _items[name] = obj;
            _changed(current, obj);
        }
        else
        {
            _items[name] = obj;
            _changed(null, obj);
        }
    }

    private void Replace(IList<T> items)
    {
        var fresh = items.ToDictionary(i => i.Metadata.Name, StringComparer.Ordinal);
        foreach (var (name, old) in _items)
            if (!fresh.ContainsKey(name) && _items.TryRemove(name, out _)) _changed(old, null);
        foreach (var item in items) Apply(WatchEventType.Modified, item);
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        try { await _loop; } catch (OperationCanceledException) { }
        _stop.Dispose();
    }
}
