using System.Collections.Concurrent;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Threading.Channels;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;

namespace Portal.FakeKubernetes;

/// <summary>One request as RBAC sees it: verb (get, list, watch, create, patch, update, delete, deletecollection), resource, namespace, API group ("" = core).</summary>
public sealed record ApiRequest(string Verb, string Resource, string Namespace, string Group = "");

/// <summary>
/// A FAKE Kubernetes API server: plain HTTP on loopback, the core/v1 pods and
/// persistentvolumeclaims and the coordination.k8s.io/v1 leases of any namespace, with the semantics the portal relies on — list
/// with label selectors and a resourceVersion, watch from a resourceVersion (changes replayed
/// from a bounded history; 410 Gone as an ERROR event when it was compacted), create with
/// generateName and 409 AlreadyExists, JSON merge patch with 409 Conflict when the patch
/// carries a resourceVersion that is no longer current, update (PUT) with the same 409, delete. It is no API server:
/// no authentication, no admission, deletes are immediate (no graceful termination), and a
/// strategic merge patch is applied as a JSON merge patch. Every request is logged as RBAC
/// would see it (<see cref="Requests"/>), which is how the tests check the Role in manifests/.
/// </summary>
public sealed class FakeApiServer : IAsyncDisposable
{
    /// <summary>What it serves: resource → (API group, kind).</summary>
    private static readonly Dictionary<string, (string Group, string Kind)> Kinds = new()
    {
        ["pods"] = ("", "Pod"),
        ["persistentvolumeclaims"] = ("", "PersistentVolumeClaim"),
        ["leases"] = ("coordination.k8s.io", "Lease"),
    };

    private static string ApiVersionOf(string group) => group.Length == 0 ? "v1" : group + "/v1";

    private readonly WebApplication _app;
    private readonly CancellationTokenSource _closeWatches = new();
    private CancellationTokenSource _watchGeneration;

    public FakeStore Store { get; }
    public ConcurrentQueue<ApiRequest> Requests { get; } = new();
    public Uri BaseAddress { get; private set; } = null!;
    /// <summary>How long a watch stays open at most (the real server ends them after a timeout too).</summary>
    public TimeSpan MaxWatch { get; set; } = TimeSpan.FromMinutes(5);

    private FakeApiServer(WebApplication app, FakeStore store)
    {
        _app = app;
        Store = store;
        _watchGeneration = CancellationTokenSource.CreateLinkedTokenSource(_closeWatches.Token);
    }

    public static async Task<FakeApiServer> StartAsync(FakeStore? store = null, int port = 0)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, port));
        var app = builder.Build();
        var server = new FakeApiServer(app, store ?? new FakeStore());
        app.Run(server.HandleAsync);
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        server.BaseAddress = new Uri(address.Replace("[::]", "127.0.0.1", StringComparison.Ordinal));
        return server;
    }

    private volatile TaskCompletionSource? _watchHold;

    /// <summary>New watches wait until <see cref="ReleaseWatches"/> (to make a client's resume late on purpose).</summary>
    public void HoldWatches() => _watchHold = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

    public void ReleaseWatches() => Interlocked.Exchange(ref _watchHold, null)?.TrySetResult();

    /// <summary>Ends every open watch (clients resume from their last version).</summary>
    public void CloseWatches()
    {
        var old = Interlocked.Exchange(ref _watchGeneration, CancellationTokenSource.CreateLinkedTokenSource(_closeWatches.Token));
        old.Cancel();
    }

    /// <summary>A kubeconfig naming this server (no credentials: the fake checks none).</summary>
    public string Kubeconfig(string ns) => $"""
        apiVersion: v1
        kind: Config
        clusters:
        - name: fake
          cluster:
            server: {BaseAddress.ToString().TrimEnd('/')}
        contexts:
        - name: fake
          context:
            cluster: fake
            user: fake
            namespace: {ns}
        current-context: fake
        users:
        - name: fake
          user:
            token: fake-token-checked-by-nobody
        """;

    private async Task HandleAsync(HttpContext http)
    {
        var all = (http.Request.Path.Value ?? "").Trim('/').Split('/');
        // /api/v1/namespaces/{ns}/{resource}[/{name}] (core) or /apis/{group}/v1/namespaces/... (named groups)
        var (group, parts) = all.Length > 2 && all[0] == "apis" && all[2] == "v1" ? (all[1], all[2..]) : ("", all.Length > 1 && all[0] == "api" ? all[1..] : []);
        if (parts.Length < 4 || parts[0] != "v1" || parts[1] != "namespaces" || !Kinds.TryGetValue(parts[3], out var served) || served.Group != group || parts.Length > 5)
        {
            Requests.Enqueue(new ApiRequest(http.Request.Method.ToLowerInvariant(), http.Request.Path.Value ?? "", "", group));
            await WriteStatusAsync(http, new ApiException(404, "NotFound", $"the fake API server does not serve {http.Request.Method} {http.Request.Path}"));
            return;
        }
        var (ns, resource, name) = (parts[2], parts[3], parts.Length == 5 ? parts[4] : null);
        var q = http.Request.Query;
        var method = http.Request.Method;
        var verb = (method, name) switch
        {
            ("GET", null) => q["watch"] is var w && (w == "true" || w == "1") ? "watch" : "list",
            ("GET", _) => "get",
            ("POST", null) => "create",
            ("PATCH", not null) => "patch",
            ("PUT", not null) => "update",
            ("DELETE", null) => "deletecollection",
            ("DELETE", not null) => "delete",
            _ => method.ToLowerInvariant(),
        };
        Requests.Enqueue(new ApiRequest(verb, resource, ns, group));
        try
        {
            switch (verb)
            {
                case "list":
                {
                    var items = Store.List(resource, ns, LabelSelector.Parse(q["labelSelector"]), out var version);
                    var list = new JsonObject
                    {
                        ["kind"] = Kinds[resource].Kind + "List",
                        ["apiVersion"] = ApiVersionOf(group),
                        ["metadata"] = new JsonObject { ["resourceVersion"] = version.ToString() },
                        ["items"] = new JsonArray(items.ToArray<JsonNode>()),
                    };
                    await WriteJsonAsync(http, 200, list);
                    break;
                }
                case "watch":
                    await WatchAsync(http, resource, ns);
                    break;
                case "get":
                    await WriteJsonAsync(http, 200, Store.Get(resource, ns, name!));
                    break;
                case "create":
                {
                    var body = await ReadObjectAsync(http);
                    await WriteJsonAsync(http, 201, Store.Create(resource, ns, body, Kinds[resource].Kind, ApiVersionOf(group)));
                    break;
                }
                case "patch":
                {
                    var type = http.Request.ContentType?.Split(';')[0].Trim();
                    if (type is not ("application/merge-patch+json" or "application/strategic-merge-patch+json"))
                        throw new ApiException(415, "UnsupportedMediaType", $"the fake API server applies merge patches only, not {type}");
                    var patch = await ReadObjectAsync(http);
                    // A resourceVersion in the patch is a precondition, as on the real server.
                    var expected = patch["metadata"]?["resourceVersion"]?.GetValue<string>();
                    var updated = Store.Update(resource, ns, name!, current => (JsonObject)MergePatch.Apply(current, patch)!, expected);
                    await WriteJsonAsync(http, 200, updated);
                    break;
                }
                case "update":
                {
                    var body = await ReadObjectAsync(http);
                    var expected = body["metadata"]?["resourceVersion"]?.GetValue<string>();
                    await WriteJsonAsync(http, 200, Store.Update(resource, ns, name!, _ => body, expected));
                    break;
                }
                case "delete":
                    await WriteJsonAsync(http, 200, Store.Delete(resource, ns, name!));
                    break;
                default:
                    throw new ApiException(405, "MethodNotAllowed", $"the fake API server does not support {verb}");
            }
        }
        catch (ApiException e)
        {
            await WriteStatusAsync(http, e);
        }
        catch (FormatException e)
        {
            await WriteStatusAsync(http, new ApiException(400, "BadRequest", e.Message));
        }
    }

    private async Task WatchAsync(HttpContext http, string resource, string ns)
    {
        if (_watchHold is { } hold) await hold.Task.WaitAsync(http.RequestAborted);
        var q = http.Request.Query;
        var selector = LabelSelector.Parse(q["labelSelector"]);
        var timeout = int.TryParse(q["timeoutSeconds"], out var t) && t > 0 ? TimeSpan.FromSeconds(Math.Min(t, MaxWatch.TotalSeconds)) : MaxWatch;
        var channel = Channel.CreateUnbounded<string>();
        long from;
        var rv = q["resourceVersion"].ToString();
        if (string.IsNullOrEmpty(rv) || rv == "0")
        {
            // No version: the current state as ADDED events first, then changes.
            foreach (var o in Store.List(resource, ns, selector, out from)) channel.Writer.TryWrite(Event("ADDED", o));
        }
        else if (!long.TryParse(rv, out from))
        {
            throw new ApiException(400, "BadRequest", $"invalid resourceVersion '{rv}'");
        }
        http.Response.StatusCode = 200;
        http.Response.ContentType = "application/json";
        if (!Store.Subscribe(from, c =>
            {
                if (c.Resource != resource || c.Namespace != ns) return;
                var was = c.Before is not null && selector.Matches(FakeStore.Labels(c.Before));
                var @is = c.After is not null && selector.Matches(FakeStore.Labels(c.After));
                // Label changes move objects in and out of a selector's view, as on the real server.
                var line = (was, @is) switch
                {
                    (false, true) => Event("ADDED", c.After!),
                    (true, true) => Event("MODIFIED", c.After!),
                    (true, false) => Event("DELETED", c.After ?? c.Before!),
                    _ => null,
                };
                if (line is not null) channel.Writer.TryWrite(line);
            }, out var subscription))
        {
            await WriteLineAsync(http, Event("ERROR", new JsonObject
            {
                ["kind"] = "Status", ["apiVersion"] = "v1", ["metadata"] = new JsonObject(), ["status"] = "Failure",
                ["message"] = $"too old resource version: {rv} ({Store.Version})", ["reason"] = "Expired", ["code"] = 410,
            }));
            return;
        }
        using (subscription)
        {
            using var cts = CancellationTokenSource.CreateLinkedTokenSource(http.RequestAborted, _watchGeneration.Token);
            cts.CancelAfter(timeout);
            await http.Response.StartAsync(cts.Token);
            try
            {
                await foreach (var line in channel.Reader.ReadAllAsync(cts.Token))
                {
                    await http.Response.Body.WriteAsync(Encoding.UTF8.GetBytes(line + "\n"), cts.Token);
                    if (channel.Reader.Count == 0) await http.Response.Body.FlushAsync(cts.Token);
                }
            }
            catch (OperationCanceledException) { }
            catch (IOException) { }
            catch (Exception e)
            {
                Errors.Enqueue(e.ToString());
                throw;
            }
        }
    }

    /// <summary>Faults of the fake itself (a test prints them when it fails).</summary>
    public ConcurrentQueue<string> Errors { get; } = new();

    private static string Event(string type, JsonObject o) => new JsonObject { ["type"] = type, ["object"] = o.DeepClone() }.ToJsonString();

    private static async Task WriteLineAsync(HttpContext http, string line)
    {
        http.Response.StatusCode = 200;
        http.Response.ContentType = "application/json";
        await http.Response.WriteAsync(line + "\n");
    }

    private static async Task<JsonObject> ReadObjectAsync(HttpContext http)
    {
        try
        {
            return await JsonNode.ParseAsync(http.Request.Body) as JsonObject ?? throw new ApiException(400, "BadRequest", "body must be a JSON object");
        }
        catch (JsonException e)
        {
            throw new ApiException(400, "BadRequest", $"invalid JSON: {e.Message}");
        }
    }

    private static async Task WriteJsonAsync(HttpContext http, int status, JsonNode body)
    {
        http.Response.StatusCode = status;
        http.Response.ContentType = "application/json";
        await http.Response.WriteAsync(body.ToJsonString());
    }

    private static Task WriteStatusAsync(HttpContext http, ApiException e) => WriteJsonAsync(http, e.Code, new JsonObject
    {
        ["kind"] = "Status", ["apiVersion"] = "v1", ["metadata"] = new JsonObject(), ["status"] = "Failure",
        ["message"] = e.Message, ["reason"] = e.Reason, ["code"] = e.Code,
    });

    public async ValueTask DisposeAsync()
    {
        _closeWatches.Cancel();
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}

/// <summary>RFC 7386 JSON merge patch: objects merge, null removes, anything else replaces.</summary>
public static class MergePatch
{
    public static JsonNode? Apply(JsonNode? target, JsonNode? patch)
    {
        if (patch is not JsonObject p) return patch?.DeepClone();
        var result = target as JsonObject ?? new JsonObject();
        foreach (var (key, value) in p)
        {
            if (value is null) result.Remove(key);
            else
            {
                var merged = Apply(result[key]?.DeepClone(), value);
                result[key] = merged;
            }
        }
        return result;
    }
}
