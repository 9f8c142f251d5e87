using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Portal.Core.Runtime;
using Portal.Core.Sandboxes;

namespace Portal.Web.Dashboard.Envd;

/// <summary>A process envd runs (its process service's List).</summary>
public sealed record EnvdProcess(uint Pid, string? Tag, string Cmd, IReadOnlyList<string> Args, string? Cwd)
{
    public string CommandLine => string.Join(' ', Args.Prepend(Cmd));
}

/// <summary>An entry of a directory in the sandbox (envd's filesystem service's ListDir).</summary>
public sealed record EnvdEntry(string Name, string Path, bool IsDirectory, long Size, string Permissions, DateTimeOffset? Modified);

/// <summary>
/// The dashboard's one way to envd in a sandbox: its process and filesystem services (Connect
/// protocol, JSON over HTTP/1.1) and its <c>/files</c> endpoint, reached over the runtime's own
/// connection to the sandbox (<see cref="ISandboxRuntime.ConnectAsync"/>), so it works for every
/// runtime and never through the public proxy. Written here because envd's API has no .NET client
/// (it is E2B's own protocol; the SDKs are JS and Python). Requests run as the sandbox's default
/// user, as the SDKs' do.
/// </summary>
public sealed class EnvdClient : IDisposable
{
    public const string User = "user";

    private EnvdClient(HttpClient http) => Http = http;

    /// <summary>The connection, for the PTY's streaming calls.</summary>
    public HttpClient Http { get; }

    public static EnvdClient For(ISandboxRuntime runtime, SandboxRecord sandbox)
    {
        var http = new HttpClient(new SocketsHttpHandler
        {
            ConnectCallback = async (_, c) => await runtime.ConnectAsync(sandbox.SandboxId, SandboxPorts.Envd, c),
            PooledConnectionIdleTimeout = TimeSpan.FromSeconds(30),
        })
        { BaseAddress = new Uri("http://envd"), Timeout = Timeout.InfiniteTimeSpan };
        if (sandbox.EnvdAccessToken is { } token) http.DefaultRequestHeaders.Add("X-Access-Token", token);
        // envd picks the Linux user from Basic auth's user name (E2B's SDKs send "user:").
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes(User + ":")));
        return new EnvdClient(http);
    }

    /// <summary>A unary Connect call (<c>process.Process/List</c>, ...): envd's JSON answer, or an <see cref="IOException"/> with envd's message.</summary>
    public async Task<JsonElement> UnaryAsync(string method, JsonObject body, CancellationToken ct)
    {
        using var req = new HttpRequestMessage(HttpMethod.Post, "/" + method) { Content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json") };
        req.Headers.Add("Connect-Protocol-Version", "1");
        using var res = await Http.SendAsync(req, ct);
        var text = await res.Content.ReadAsStringAsync(ct);
        if (!res.IsSuccessStatusCode) throw new IOException($"envd {method[(method.LastIndexOf('/') + 1)..]}: {ErrorMessage(text, res)}");
        using var doc = JsonDocument.Parse(text.Length == 0 ? "{}" : text);
        return doc.RootElement.Clone();
    }

    public async Task<IReadOnlyList<EnvdProcess>> ListProcessesAsync(CancellationToken ct)
    {
        var answer = await UnaryAsync("process.Process/List", [], ct);
        if (!answer.TryGetProperty("processes", out var list)) return [];
        return list.EnumerateArray().Select(p =>
        {
            var config = p.TryGetProperty("config", out var c) ? c : default;
            return new EnvdProcess(
                p.GetProperty("pid").GetUInt32(),
                p.TryGetProperty("tag", out var tag) ? tag.GetString() : null,
                config.ValueKind == JsonValueKind.Object && config.TryGetProperty("cmd", out var cmd) ? cmd.GetString() ?? "" : "",
                config.ValueKind == JsonValueKind.Object && config.TryGetProperty("args", out var args) ? args.EnumerateArray().Select(a => a.GetString() ?? "").ToList() : [],
                config.ValueKind == JsonValueKind.Object && config.TryGetProperty("cwd", out var cwd) ? cwd.GetString() : null);
        }).OrderBy(p => p.Pid).ToList();
    }

    /// <summary>The entries of one directory, directories first, then by name.</summary>
    public async Task<IReadOnlyList<EnvdEntry>> ListDirAsync(string path, CancellationToken ct)
    {
        var answer = await UnaryAsync("filesystem.Filesystem/ListDir", new JsonObject { ["path"] = path, ["depth"] = 1 }, ct);
        if (!answer.TryGetProperty("entries", out var list)) return [];
        return list.EnumerateArray().Select(e => new EnvdEntry(
                e.GetProperty("name").GetString() ?? "",
                e.GetProperty("path").GetString() ?? "",
                e.TryGetProperty("type", out var type) && type.GetString() == "FILE_TYPE_DIRECTORY",
                e.TryGetProperty("size", out var size) ? (size.ValueKind == JsonValueKind.String ? long.Parse(size.GetString()!) : size.GetInt64()) : 0,
                e.TryGetProperty("permissions", out var perms) ? perms.GetString() ?? "" : "",
                e.TryGetProperty("modifiedTime", out var at) && at.ValueKind == JsonValueKind.String ? DateTimeOffset.Parse(at.GetString()!) : null))
            .OrderBy(e => !e.IsDirectory).ThenBy(e => e.Name, StringComparer.Ordinal).ToList();
    }

    /// <summary>A file's bytes (envd's <c>GET /files</c>); the caller disposes the answer. Fails with envd's status and message.</summary>
    public async Task<HttpResponseMessage> DownloadAsync(string path, CancellationToken ct)
    {
        var res = await Http.GetAsync(FilesUri(path), HttpCompletionOption.ResponseHeadersRead, ct);
        if (res.IsSuccessStatusCode) return res;
        using (res) throw new EnvdFileException((int)res.StatusCode, ErrorMessage(await res.Content.ReadAsStringAsync(ct), res));
    }

    /// <summary>Writes <paramref name="content"/> to <paramref name="path"/> (envd's <c>POST /files</c>, created or replaced).</summary>
    public async Task UploadAsync(string path, Stream content, CancellationToken ct)
    {
        using var body = new StreamContent(content);
        body.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        using var res = await Http.PostAsync(FilesUri(path), body, ct);
        if (!res.IsSuccessStatusCode) throw new EnvdFileException((int)res.StatusCode, ErrorMessage(await res.Content.ReadAsStringAsync(ct), res));
    }

    private static string FilesUri(string path) => "/files?path=" + Uri.EscapeDataString(path) + "&username=" + User;

    /// <summary>envd's errors are <c>{"code", "message"}</c> JSON (Connect and /files alike).</summary>
    private static string ErrorMessage(string body, HttpResponseMessage res)
    {
        try
        {
            using var doc = JsonDocument.Parse(body);
            if (doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty("message", out var m) && m.GetString() is { Length: > 0 } message)
                return message;
        }
        catch (JsonException) { }
        return $"{(int)res.StatusCode} {res.ReasonPhrase}";
    }

    public void Dispose() => Http.Dispose();
}

/// <summary>envd refused a file transfer: its status (404 no such file, 400 a directory, ...) and message.</summary>
public sealed class EnvdFileException(int status, string message) : IOException(message)
{
    public int Status { get; } = status;
}
