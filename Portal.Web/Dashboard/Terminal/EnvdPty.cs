using Portal.Core.Envd;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Portal.Core.Runtime;
using Portal.Core.Sandboxes;
using Portal.Web.Dashboard.Envd;

namespace Portal.Web.Dashboard.Terminal;

/// <summary>
/// A PTY in a sandbox through envd's process service (Connect protocol over HTTP/1.1), reached
/// through <see cref="EnvdClient"/> (the runtime's own connection to envd), so it works for every
/// runtime. Starts a login shell, or attaches to one by its pid (envd's Connect
/// RPC) after a page reload. Output arrives through <c>onOutput</c>; the stream ends with
/// <c>onEnd</c>.
/// </summary>
public sealed class EnvdPty : IAsyncDisposable
{
    private readonly EnvdClient _envd;
    private readonly CancellationTokenSource _stop = new();
    private Task _reader = Task.CompletedTask;

    private EnvdPty(EnvdClient envd) => _envd = envd;

    public uint Pid { get; private set; }

    /// <param name="attachTo">A running PTY's pid to attach to; null (or gone) = start a new shell.</param>
    public static async Task<EnvdPty> OpenAsync(ISandboxRuntime runtime, SandboxRecord sandbox, uint? attachTo, int cols, int rows,
        Func<byte[], Task> onOutput, Func<string, Task> onEnd, CancellationToken ct)
    {
        var pty = new EnvdPty(EnvdClient.For(runtime, sandbox));
        try
        {
            Stream? stream = null;
            if (attachTo is { } pid)
            {
                // A gone pid ends the stream with an error before any start event: start anew then.
                stream = await pty.TryOpenStreamAsync("Connect", new JsonObject { ["process"] = new JsonObject { ["pid"] = pid } }, ct);
                try { if (stream is not null) pty.Pid = await ReadStartAsync(stream, ct); }
                catch (IOException) { await stream!.DisposeAsync(); stream = null; }
                // Attached: the browser's size may differ from the shell's.
                if (stream is not null) await pty.ResizeAsync(cols, rows, ct);
            }
            if (stream is null)
            {
                stream = await pty.TryOpenStreamAsync("Start", new JsonObject
                {
                    ["process"] = new JsonObject
                    {
                        ["cmd"] = "/bin/bash",
                        ["args"] = new JsonArray("-i", "-l"),
                        ["envs"] = new JsonObject { ["TERM"] = "xterm-256color" },
                    },
                    ["pty"] = new JsonObject { ["size"] = new JsonObject { ["cols"] = cols, ["rows"] = rows } },
                }, ct) ?? throw new IOException("envd refused to start a shell");
                pty.Pid = await ReadStartAsync(stream, ct);
            }
            pty._reader = pty.ReadAsync(stream, onOutput, onEnd);
            return pty;
        }
        catch
        {
            await pty.DisposeAsync();
            throw;
        }
    }

    public Task SendAsync(byte[] input, CancellationToken ct) =>
        UnaryAsync("SendInput", new JsonObject { ["process"] = new JsonObject { ["pid"] = Pid }, ["input"] = new JsonObject { ["pty"] = Convert.ToBase64String(input) } }, ct);

    public Task ResizeAsync(int cols, int rows, CancellationToken ct) =>
        UnaryAsync("Update", new JsonObject
        {
            ["process"] = new JsonObject { ["pid"] = Pid },
            ["pty"] = new JsonObject { ["size"] = new JsonObject { ["cols"] = Math.Clamp(cols, 1, 1000), ["rows"] = Math.Clamp(rows, 1, 1000) } },
        }, ct);

    private Task UnaryAsync(string method, JsonObject body, CancellationToken ct) => _envd.UnaryAsync("process.Process/" + method, body, ct);

    private Task<Stream?> TryOpenStreamAsync(string method, JsonObject body, CancellationToken ct) =>
        _envd.TryOpenStreamAsync("process.Process/" + method, body, ct);

    /// <summary>The first message names the process (start event); an end-of-stream first means an error (e.g. the pid is gone).</summary>
    private static async Task<uint> ReadStartAsync(Stream stream, CancellationToken ct)
    {
        while (true)
        {
            var (flags, json) = await ReadFrameAsync(stream, ct) ?? throw new IOException("envd closed the stream before the process started");
            if ((flags & 2) != 0) throw new IOException("envd: " + json);
            using var doc = JsonDocument.Parse(json);
            if (doc.RootElement.TryGetProperty("event", out var e) && e.TryGetProperty("start", out var start))
                return start.GetProperty("pid").GetUInt32();
        }
    }

    private async Task ReadAsync(Stream stream, Func<byte[], Task> onOutput, Func<string, Task> onEnd)
    {
        var why = "the shell ended";
        try
        {
            while (await ReadFrameAsync(stream, _stop.Token) is var (flags, json))
            {
                if ((flags & 2) != 0) { why = json.Length > 2 ? "envd: " + json : why; break; }
                using var doc = JsonDocument.Parse(json);
                if (!doc.RootElement.TryGetProperty("event", out var e)) continue;
                if (e.TryGetProperty("data", out var data) && data.TryGetProperty("pty", out var bytes))
                    await onOutput(bytes.GetBytesFromBase64());
                else if (e.TryGetProperty("end", out var end))
                    why = "the shell exited" + (end.TryGetProperty("status", out var s) ? $" ({s.GetString()})" : "");
            }
        }
        catch (OperationCanceledException) { return; } // closed by us: nothing to tell
        catch (Exception ex) when (ex is IOException or HttpRequestException or JsonException) { why = "the connection to the sandbox broke"; }
        finally { await stream.DisposeAsync(); }
        await onEnd(why);
    }

    private static Task<(byte Flags, string Json)?> ReadFrameAsync(Stream stream, CancellationToken ct) => EnvdClient.ReadFrameAsync(stream, ct);

    /// <summary>Detaches (the shell keeps running in the sandbox, to attach again later).</summary>
    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        try { await _reader; } catch (Exception) { }
        _envd.Dispose();
    }
}
