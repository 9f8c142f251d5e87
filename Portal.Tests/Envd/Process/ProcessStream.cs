using System.Text;
using System.Text.Json.Nodes;

namespace Portal.Tests.Envd.Process;

/// <summary>
/// A live process.Process/Start or /Connect stream read frame by frame, so a test can act
/// on a running process (send input, resize, kill) and then read on. Every wait is bounded.
/// </summary>
public sealed class ProcessStream : IAsyncDisposable
{
    public static readonly TimeSpan DefaultWait = TimeSpan.FromSeconds(20);

    private readonly HttpResponseMessage _response;
    private readonly IAsyncEnumerator<(byte Flags, string Json)> _frames;
    private readonly MemoryStream _stdout = new();
    private readonly MemoryStream _stderr = new();
    private readonly MemoryStream _pty = new();
    private Task<bool>? _pending;

    private ProcessStream(HttpResponseMessage response, IAsyncEnumerator<(byte, string)> frames)
    {
        _response = response;
        _frames = frames;
    }

    public int Status => (int)_response.StatusCode;
    public uint Pid { get; private set; }
    public List<JsonNode> Messages { get; } = [];
    /// <summary>The <c>end</c> event, once seen.</summary>
    public JsonNode? End { get; private set; }
    /// <summary>The end-stream frame (<c>{}</c> or <c>{"error":...}</c>), once seen.</summary>
    public JsonNode? EndStream { get; private set; }
    public bool Finished => EndStream is not null;

    public string Stdout => Encoding.UTF8.GetString(_stdout.ToArray());
    public string Stderr => Encoding.UTF8.GetString(_stderr.ToArray());
    public byte[] StdoutBytes => _stdout.ToArray();
    public string Pty => Encoding.UTF8.GetString(_pty.ToArray());
    public int ExitCode => End?["exitCode"]?.GetValue<int>() ?? 0;
    public string? EndStatus => End?["status"]?.GetValue<string>();
    public string? ErrorCode => EndStream?["error"]?["code"]?.GetValue<string>();
    public int MaxChunk { get; private set; }

    /// <summary>Opens the stream and reads the first frame (the start event, or an error end).</summary>
    public static async Task<ProcessStream> OpenAsync(EnvdServer envd, string procedure, object request, string? user = null, int? timeoutMs = null)
    {
        var ct = TestContext.Current.CancellationToken;
        using var msg = EnvdServer.StreamRequest(procedure, request, user, timeoutMs);
        var response = await envd.Http.SendAsync(msg, HttpCompletionOption.ResponseHeadersRead, ct);
        var body = await response.Content.ReadAsStreamAsync(ct);
        var stream = new ProcessStream(response, EnvdServer.ReadEnvelopesAsync(body, ct).GetAsyncEnumerator(ct));
        await stream.ReadFrameAsync(DefaultWait);
        return stream;
    }

    public static Task<ProcessStream> StartAsync(EnvdServer envd, object request, string? user = null, int? timeoutMs = null) =>
        OpenAsync(envd, "process.Process/Start", request, user, timeoutMs);

    /// <summary>Runs <c>/bin/bash -l -c</c> like the SDK's commands.run and reads to the end.</summary>
    public static async Task<ProcessStream> RunAsync(EnvdServer envd, string command, string? user = null, Dictionary<string, string>? envs = null, string? cwd = null, bool? stdin = false)
    {
        var stream = await StartAsync(envd, Bash(command, envs, cwd, stdin), user);
        await stream.ReadToEndAsync();
        return stream;
    }

    public static object Bash(string command, Dictionary<string, string>? envs = null, string? cwd = null, bool? stdin = false, string? tag = null)
    {
        var process = new Dictionary<string, object> { ["cmd"] = "/bin/bash", ["args"] = new[] { "-l", "-c", command } };
        if (envs is not null) process["envs"] = envs;
        if (cwd is not null) process["cwd"] = cwd;
        var request = new Dictionary<string, object> { ["process"] = process };
        if (stdin is { } s) request["stdin"] = s;
        if (tag is not null) request["tag"] = tag;
        return request;
    }

    /// <summary>Reads one frame; false once the stream has ended.</summary>
    public async Task<bool> ReadFrameAsync(TimeSpan timeout)
    {
        if (Finished) return false;
        var next = _pending ??= _frames.MoveNextAsync().AsTask();
        if (await Task.WhenAny(next, Task.Delay(timeout, TestContext.Current.CancellationToken)) != next)
            throw new TimeoutException($"no frame within {timeout}; output so far: {Stdout}{Pty}");
        _pending = null;
        if (!await next)
            throw new InvalidOperationException("stream closed without an end-stream frame");
        var (flags, json) = _frames.Current;
        var node = JsonNode.Parse(json)!;
        if ((flags & 0x02) != 0)
        {
            EndStream = node;
            return false;
        }
        Messages.Add(node);
        var ev = node["event"];
        if (ev?["start"] is { } start) Pid = start["pid"]!.GetValue<uint>();
        if (ev?["end"] is { } end) End = end;
        if (ev?["data"] is JsonObject data)
        {
            foreach (var (kind, value) in data)
            {
                var bytes = Convert.FromBase64String(value!.GetValue<string>());
                MaxChunk = Math.Max(MaxChunk, bytes.Length);
                (kind switch { "stdout" => _stdout, "stderr" => _stderr, _ => _pty }).Write(bytes);
            }
        }
        return true;
    }

    public async Task ReadToEndAsync(TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? DefaultWait);
        while (await ReadFrameAsync(Remaining(deadline))) { }
    }

    /// <summary>Reads until stdout+pty output satisfies <paramref name="done"/>.</summary>
    public async Task WaitForOutputAsync(Func<string, bool> done, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? DefaultWait);
        while (!done(Stdout + Pty))
        {
            if (!await ReadFrameAsync(Remaining(deadline)))
                throw new InvalidOperationException($"stream ended before the expected output; got: {Stdout}{Pty}");
        }
    }

    public Task WaitForOutputAsync(string text, TimeSpan? timeout = null) => WaitForOutputAsync(s => s.Contains(text, StringComparison.Ordinal), timeout);

    private static TimeSpan Remaining(DateTime deadline)
    {
        var left = deadline - DateTime.UtcNow;
        return left > TimeSpan.Zero ? left : TimeSpan.FromMilliseconds(1);
    }

    public async ValueTask DisposeAsync()
    {
        _response.Dispose(); // aborts a read still in flight (a timed-out wait)
        if (_pending is not null)
        {
            try { await _pending; } catch (Exception) { /* the abort itself */ }
        }
        await _frames.DisposeAsync();
    }
}
