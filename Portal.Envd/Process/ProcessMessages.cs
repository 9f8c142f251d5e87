using System.Text.Json.Serialization;

namespace Portal.Envd.Process;

// The process.Process messages of E2B's envd proto, as proto3 JSON.
// Nullable members are proto3 `optional` fields or oneof members: written only when set.
// Non-nullable scalars are omitted when they hold their default (exitCode 0, exited false),
// as proto3 JSON requires.

public sealed class ProcessConfig
{
    public string Cmd { get; set; } = "";
    public List<string>? Args { get; set; }
    public Dictionary<string, string>? Envs { get; set; }
    public string? Cwd { get; set; }
}

public sealed class PtySize
{
    public uint Cols { get; set; }
    public uint Rows { get; set; }
}

public sealed class PtyConfig
{
    public PtySize? Size { get; set; }
}

/// <summary>oneof selector: <c>{"pid":7}</c> or <c>{"tag":"x"}</c>.</summary>
public sealed class ProcessSelector
{
    public uint? Pid { get; set; }
    public string? Tag { get; set; }

    public override string ToString() => Pid is { } pid ? $"pid {pid}" : $"tag '{Tag}'";
}

/// <summary>oneof input: <c>{"stdin":"&lt;base64&gt;"}</c> or <c>{"pty":"&lt;base64&gt;"}</c>.</summary>
public sealed class ProcessInput
{
    public byte[]? Stdin { get; set; }
    public byte[]? Pty { get; set; }
}

public sealed class StartRequest
{
    public ProcessConfig? Process { get; set; }
    public PtyConfig? Pty { get; set; }
    public string? Tag { get; set; }
    /// <summary>false → stdin is /dev/null; absent (old clients) or true → an open pipe.</summary>
    public bool? Stdin { get; set; }
}

public sealed class ConnectRequest
{
    public ProcessSelector? Process { get; set; }
}

/// <summary>Both <c>StartResponse</c> and <c>ConnectResponse</c>: <c>{"event":{...}}</c>.</summary>
public sealed class ProcessStreamResponse
{
    public ProcessEvent? Event { get; set; }

    public static readonly ProcessStreamResponse Keepalive = new() { Event = new ProcessEvent { Keepalive = new KeepAliveEvent() } };

    public static ProcessStreamResponse Start(uint pid) => new() { Event = new ProcessEvent { Start = new StartEvent { Pid = pid } } };
}

/// <summary>oneof event: start | data | end | keepalive.</summary>
public sealed class ProcessEvent
{
    public StartEvent? Start { get; set; }
    public DataEvent? Data { get; set; }
    public EndEvent? End { get; set; }
    public KeepAliveEvent? Keepalive { get; set; }
}

public sealed class StartEvent
{
    public uint Pid { get; set; }
}

/// <summary>oneof output: stdout | stderr | pty (base64 bytes).</summary>
public sealed class DataEvent
{
    public byte[]? Stdout { get; set; }
    public byte[]? Stderr { get; set; }
    public byte[]? Pty { get; set; }
}

public sealed class EndEvent
{
    /// <summary>Exit status; -1 when killed by a signal.</summary>
    public int ExitCode { get; set; }
    /// <summary>True when the process exited by itself (not by a signal).</summary>
    public bool Exited { get; set; }
    /// <summary>Go's ProcessState text: <c>exit status 1</c>, <c>signal: killed</c>.</summary>
    public string? Status { get; set; }
    /// <summary>Same text as <see cref="Status"/> when the process failed; absent on success.</summary>
    public string? Error { get; set; }
}

public sealed class KeepAliveEvent;

public sealed class ListRequest;

public sealed class ListResponse
{
    public List<ProcessInfo> Processes { get; set; } = [];
}

public sealed class ProcessInfo
{
    public ProcessConfig Config { get; set; } = new();
    public uint Pid { get; set; }
    public string? Tag { get; set; }
}

public sealed class SendInputRequest
{
    public ProcessSelector? Process { get; set; }
    public ProcessInput? Input { get; set; }
}

public sealed class SendSignalRequest
{
    public ProcessSelector? Process { get; set; }
    [JsonConverter(typeof(ProcessSignalJsonConverter))]
    public ProcessSignal Signal { get; set; }
}

public sealed class UpdateRequest
{
    public ProcessSelector? Process { get; set; }
    public PtyConfig? Pty { get; set; }
}

public sealed class CloseStdinRequest
{
    public ProcessSelector? Process { get; set; }
}

/// <summary>StreamInput is client-streaming; its messages are never parsed (answered unimplemented).</summary>
public sealed class StreamInputRequest;

/// <summary>The empty responses of SendInput, SendSignal, Update, CloseStdin: <c>{}</c>.</summary>
public sealed class EmptyResponse
{
    public static readonly EmptyResponse Instance = new();
}

/// <summary>The proto enum values are the Linux signal numbers.</summary>
public enum ProcessSignal
{
    Unspecified = 0,
    Sigkill = 9,
    Sigterm = 15,
}
