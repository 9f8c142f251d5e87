using System.Text.Json.Nodes;

namespace Portal.FakeKubernetes;

/// <summary>One change as a watch replays it: the object before (null = created) and after (null = deleted).</summary>
public sealed record StoredChange(long Version, string Resource, string Namespace, JsonObject? Before, JsonObject? After);

/// <summary>A failure the fake answers in the API server's Status shape.</summary>
public sealed class ApiException(int code, string reason, string message) : Exception(message)
{
    public int Code { get; } = code;
    public string Reason { get; } = reason;
}

/// <summary>
/// The FAKE API server's etcd: objects as JSON, one resourceVersion counter for all of them
/// (as etcd's revision), a bounded history of changes for watches to resume from (older
/// versions are answered 410 Gone, as after a compaction), and in-process subscribers (the
/// fake kubelet, open watches).
/// </summary>
public sealed class FakeStore(int historyLimit = 10_000)
{
    private readonly Lock _lock = new();
    private readonly Dictionary<(string Resource, string Namespace, string Name), JsonObject> _objects = [];
    private readonly LinkedList<StoredChange> _history = new();
    private readonly List<Action<StoredChange>> _subscribers = [];
    private long _version = 1;
    /// <summary>The oldest version a watch may resume from; anything before was compacted.</summary>
    private long _compactedTo = 1;
    private static readonly string NameAlphabet = "bcdfghjklmnpqrstvwxz2456789";

    public long Version { get { lock (_lock) return _version; } }

    public static IDictionary<string, string> Labels(JsonObject o) =>
        o["metadata"]?["labels"] is JsonObject l ? l.ToDictionary(p => p.Key, p => p.Value?.GetValue<string>() ?? "") : new Dictionary<string, string>();

    public List<JsonObject> List(string resource, string ns, LabelSelector selector, out long version)
    {
        lock (_lock)
        {
            version = _version;
            return _objects.Where(o => o.Key.Resource == resource && o.Key.Namespace == ns && selector.Matches(Labels(o.Value)))
                .OrderBy(o => o.Key.Name, StringComparer.Ordinal).Select(o => (JsonObject)o.Value.DeepClone()).ToList();
        }
    }

    public JsonObject Get(string resource, string ns, string name)
    {
        lock (_lock) return _objects.TryGetValue((resource, ns, name), out var o) ? (JsonObject)o.DeepClone() : throw NotFound(resource, name);
    }

    public JsonObject Create(string resource, string ns, JsonObject obj, string kind, string apiVersion = "v1")
    {
        lock (_lock)
        {
            var meta = obj["metadata"] as JsonObject ?? throw new ApiException(422, "Invalid", "metadata is required");
            var name = meta["name"]?.GetValue<string>();
            if (string.IsNullOrEmpty(name))
            {
                var prefix = meta["generateName"]?.GetValue<string>() ?? throw new ApiException(422, "Invalid", "name or generateName is required");
                do name = prefix + new string(Enumerable.Range(0, 5).Select(_ => NameAlphabet[Random.Shared.Next(NameAlphabet.Length)]).ToArray());
                while (_objects.ContainsKey((resource, ns, name)));
            }
            if (_objects.ContainsKey((resource, ns, name)))
                throw new ApiException(409, "AlreadyExists", $"{resource} \"{name}\" already exists");
            meta["name"] = name;
            meta["namespace"] = ns;
            meta["uid"] = Guid.NewGuid().ToString();
            meta["creationTimestamp"] = DateTimeOffset.UtcNow.ToString("yyyy-MM-ddTHH:mm:ssZ");
            obj["kind"] = kind;
            obj["apiVersion"] = apiVersion;
            if (resource == "pods")
            {
                obj["status"] ??= new JsonObject();
                obj["status"]!["phase"] ??= "Pending";
            }
            return Commit(resource, ns, name, null, obj);
        }
    }

    /// <summary>Applies <paramref name="mutate"/> to the stored object; <paramref name="expectedVersion"/>
    /// (when given) must be the stored one, or the write is refused 409 Conflict.</summary>
    public JsonObject Update(string resource, string ns, string name, Func<JsonObject, JsonObject> mutate, string? expectedVersion = null)
    {
        lock (_lock)
        {
            if (!_objects.TryGetValue((resource, ns, name), out var current)) throw NotFound(resource, name);
            var currentVersion = current["metadata"]!["resourceVersion"]!.GetValue<string>();
            if (expectedVersion is not null && expectedVersion != currentVersion)
                throw new ApiException(409, "Conflict", $"Operation cannot be fulfilled on {resource} \"{name}\": the object has been modified; please apply your changes to the latest version and try again");
            var next = mutate((JsonObject)current.DeepClone());
            // What a client may not change.
            foreach (var key in new[] { "name", "namespace", "uid", "creationTimestamp", "generateName" })
                next["metadata"]![key] = current["metadata"]![key]?.DeepClone();
            return Commit(resource, ns, name, current, next);
        }
    }

    public JsonObject Delete(string resource, string ns, string name)
    {
        lock (_lock)
        {
            if (!_objects.TryGetValue((resource, ns, name), out var current)) throw NotFound(resource, name);
            var gone = (JsonObject)current.DeepClone();
            return Commit(resource, ns, name, current, null, gone);
        }
    }

    private JsonObject Commit(string resource, string ns, string name, JsonObject? before, JsonObject? after, JsonObject? deleted = null)
    {
        var version = ++_version;
        var result = after ?? deleted!;
        result["metadata"]!["resourceVersion"] = version.ToString();
        if (after is null) _objects.Remove((resource, ns, name));
        else _objects[(resource, ns, name)] = after;
        var change = new StoredChange(version, resource, ns, before is null ? null : (JsonObject)before.DeepClone(), after is null ? null : (JsonObject)after.DeepClone());
        if (after is null) change = change with { Before = (JsonObject)result.DeepClone() };
        _history.AddLast(change);
        while (_history.Count > historyLimit)
        {
            _compactedTo = _history.First!.Value.Version + 1;
            _history.RemoveFirst();
        }
        foreach (var s in _subscribers) s(change);
        return (JsonObject)result.DeepClone();
    }

    /// <summary>
    /// Subscribes from <paramref name="fromVersion"/> (exclusive) on: the changes since then are
    /// replayed first, atomically with the subscription. False when that version was compacted.
    /// </summary>
    public bool Subscribe(long fromVersion, Action<StoredChange> onChange, out IDisposable subscription)
    {
        lock (_lock)
        {
            subscription = null!;
            if (fromVersion < _compactedTo - 1) return false;
            foreach (var c in _history.Where(c => c.Version > fromVersion)) onChange(c);
            _subscribers.Add(onChange);
            subscription = new Unsubscribe(this, onChange);
            return true;
        }
    }

    /// <summary>Forgets the history (etcd compaction): watches resuming from before now get 410 Gone.</summary>
    public void Compact()
    {
        lock (_lock)
        {
            _history.Clear();
            _compactedTo = _version + 1;
        }
    }

    private sealed class Unsubscribe(FakeStore store, Action<StoredChange> a) : IDisposable
    {
        public void Dispose() { lock (store._lock) store._subscribers.Remove(a); }
    }

    private static ApiException NotFound(string resource, string name) => new(404, "NotFound", $"{resource} \"{name}\" not found");
}
