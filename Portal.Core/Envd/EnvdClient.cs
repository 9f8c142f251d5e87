using System.Buffers.Binary;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Portal.Core.Runtime;
using Portal.Core.Sandboxes;

namespace Portal.Core.Envd;

/// <summary>A process envd runs (its process service's List).</summary>
public sealed record EnvdProcess(uint Pid, string? Tag, string Cmd, IReadOnlyList<string> Args, string? Cwd)
{
    public string CommandLine => string.Join(' ', Args.Prepend(Cmd));
}

/// <summary>An entry of a directory in the sandbox (envd's filesystem service's ListDir).</summary>
public sealed record EnvdEntry(string Name, string Path, bool IsDirectory, long Size, string Permissions, DateTimeOffset? Modified);

/// <summary>
/// The portal's one way to envd in a sandbox (the dashboard's file and process views and terminal,
/// the template builder's steps): its process and filesystem services (Connect protocol, JSON over
/// HTTP/1.1) and its <c>/files</c> endpoint, reached over the runtime's own connection to the
/// sandbox (<see cref="ISandboxRuntime.ConnectAsync"/>), so it works for every runtime and never
/// through the public proxy. Written here because envd's API has no .NET client (it is E2B's own
/// protocol; the SDKs are JS and Python). Requests run as <see cref="UserName"/> (the sandbox's
/// default user unless another is asked for), as the SDKs' do.
/// </summary>
public sealed class EnvdClient : IDisposable
{
    public const string User = "user";

    private EnvdClient(HttpClient http, string user) { Http = http; UserName = user; }

    /// <summary>The connection, for the PTY's streaming calls.</summary>
    public HttpClient Http { get; }

    /// <summary>The Linux user envd runs this client's processes and file transfers as.</summary>
    public string UserName { get; }

    public static EnvdClient For(ISandboxRuntime runtime, SandboxRecord sandbox) => For(runtime, sandbox.SandboxId, sandbox.EnvdAccessToken);

    public static EnvdClient For(ISandboxRuntime runtime, string sandboxId, string? accessToken, string user = User)
    {
        var http = new HttpClient(new SocketsHttpHandler
        {
            ConnectCallback = async (_, c) => await runtime.ConnectAsync(sandboxId, SandboxPorts.Envd, c),
            PooledConnectionIdleTimeout = TimeSpan.FromSeconds(30),
        })
        { BaseAddress = new Uri("http://envd"), Timeout = Timeout.InfiniteTimeSpan };
        if (accessToken is { } token) http.DefaultRequestHeaders.Add("X-Access-Token", token);
        // envd picks the Linux user from Basic auth's user name (E2B's SDKs send "user:").
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes(user + ":")));
        return new EnvdClient(http, user);
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

    private string FilesUri(string path) => "/files?path=" + Uri.EscapeDataString(path) + "&username=" + Uri.EscapeDataString(UserName);

    // ---------------------------------------------------------------- streaming calls

    /// <summary>A server-streaming Connect call; null when envd answers with an error status (e.g. no such process).</summary>
    public async Task<Stream?> TryOpenStreamAsync(string method, JsonObject body, CancellationToken ct)
    {
        var payload = Encoding.UTF8.GetBytes(body.ToJsonString());
        var frame = new byte[5 + payload.Length];
        BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(1), (uint)payload.Length);
        payload.CopyTo(frame, 5);
        var req = new HttpRequestMessage(HttpMethod.Post, "/" + method) { Content = new ByteArrayContent(frame) };
        req.Content.Headers.ContentType = new MediaTypeHeaderValue("application/connect+json");
        req.Headers.Add("Connect-Protocol-Version", "1");
        var res = await Http.SendAsync(req, HttpCompletionOption.ResponseHeadersRead, ct);
        if (!res.IsSuccessStatusCode) { res.Dispose(); return null; }
        return await res.Content.ReadAsStreamAsync(ct);
    }

    /// <summary>The next enveloped message (flags, JSON); null at the end of the stream. Flag 2 = the end-of-stream trailer.</summary>
    public static async Task<(byte Flags, string Json)?> ReadFrameAsync(Stream stream, CancellationToken ct)
    {
        var header = new byte[5];
        if (!await ReadExactlyOrEofAsync(stream, header, ct)) return null;
        var length = BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(1));
        if (length > 16 * 1024 * 1024) throw new IOException($"envd sent a {length}-byte message");
        var body = new byte[length];
        if (!await ReadExactlyOrEofAsync(stream, body, ct)) throw new IOException("envd's stream ended inside a message");
        return (header[0], Encoding.UTF8.GetString(body));
    }

    private static async Task<bool> ReadExactlyOrEofAsync(Stream stream, byte[] buffer, CancellationToken ct)
    {
        var read = 0;
        while (read < buffer.Length)
        {
            var n = await stream.ReadAsync(buffer.AsMemory(read), ct);
            if (n == 0) return read == 0 && buffer.Length > 0 ? false : throw new IOException("envd's stream ended inside a message");
            read += n;
        }
        return true;
    }

    /// <summary>
    /// Runs <c>/bin/bash -l -c <paramref name="command"/></c> (as the SDKs' <c>commands.run</c>
    /// does) and waits for it: its output goes to <paramref name="onOutput"/> line by line (stdout
    /// false / stderr true); returns the exit code.
    /// </summary>
    public async Task<int> RunAsync(string command, string? cwd, IReadOnlyDictionary<string, string> envs, Action<string, bool> onOutput, CancellationToken ct)
    {
        var envObject = new JsonObject();
        foreach (var (k, v) in envs) envObject[k] = v;
        var process = new JsonObject { ["cmd"] = "/bin/bash", ["args"] = new JsonArray("-l", "-c", command), ["envs"] = envObject };
        if (!string.IsNullOrEmpty(cwd)) process["cwd"] = cwd;
        await using var stream = await TryOpenStreamAsync("process.Process/Start", new JsonObject { ["process"] = process }, ct)
            ?? throw new IOException("envd refused to start the command");
        var lines = new[] { new StringBuilder(), new StringBuilder() };
        void Emit(int which, string text)
        {
            var buffer = lines[which];
            buffer.Append(text);
            var all = buffer.ToString();
            var cut = all.LastIndexOf('\n');
            if (cut < 0) return;
            foreach (var line in all[..cut].Split('\n')) onOutput(line, which == 1);
            buffer.Clear().Append(all[(cut + 1)..]);
        }
        int? exit = null;
        while (await ReadFrameAsync(stream, ct) is var (flags, json))
        {
            if ((flags & 2) != 0)
            {
                if (json.Contains("\"error\"", StringComparison.Ordinal)) throw new IOException("envd: " + json);
                break;
            }
            using var doc = JsonDocument.Parse(json);
            if (!doc.RootElement.TryGetProperty("event", out var e)) continue;
            if (e.TryGetProperty("data", out var data))
            {
                if (data.TryGetProperty("stdout", out var o)) Emit(0, Encoding.UTF8.GetString(o.GetBytesFromBase64()));
                if (data.TryGetProperty("stderr", out var r)) Emit(1, Encoding.UTF8.GetString(r.GetBytesFromBase64()));
            }
            else if (e.TryGetProperty("end", out var end))
            {
                // Proto3 JSON leaves zero values out: no exitCode = 0; a signal death says so in status.
                exit = end.TryGetProperty("exitCode", out var code) ? code.GetInt32() : 0;
                if (exit == 0 && end.TryGetProperty("status", out var status) && status.GetString() is { } text && text.Contains("signal", StringComparison.Ordinal))
                    exit = -1;
            }
        }
        for (var i = 0; i < 2; i++) if (lines[i].Length > 0) onOutput(lines[i].ToString(), i == 1);
        return exit ?? throw new IOException("envd's stream ended before the command did");
    }

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
