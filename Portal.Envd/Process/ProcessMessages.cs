using System.Text.Json;
using System.Text.Json.Serialization;

namespace Portal.Envd.Process;

// process.Process messages in proto3 JSON form (envd's process.proto). Defaults are omitted
// on output; proto3 `optional` fields are nullable so they are written when set.

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

public sealed class ProcessSelector
{
    public uint? Pid { get; set; }
    public string? Tag { get; set; }
}

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
    public bool? Stdin { get; set; }
}

public sealed class ConnectRequest
{
    public ProcessSelector? Process { get; set; }
}

public sealed class SendInputRequest
{
    public ProcessSelector? Process { get; set; }
    public ProcessInput? Input { get; set; }
}

public sealed class SendSignalRequest
{
    public ProcessSelector? Process { get; set; }
    [JsonConverter(typeof(SignalConverter))]
    public Signal Signal { get; set; }
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

public sealed class ListRequest;

public sealed class Empty;

public sealed class ProcessInfo
{
    public ProcessConfig Config { get; set; } = new();
    public uint Pid { get; set; }
    public string? Tag { get; set; }
}

public sealed class ListResponse
{
    public List<ProcessInfo> Processes { get; set; } = [];
}

public sealed class StartEvent
{
    public uint Pid { get; set; }
}

public sealed class DataEvent
{
    public byte[]? Stdout { get; set; }
    public byte[]? Stderr { get; set; }
    public byte[]? Pty { get; set; }
}

public sealed class EndEvent
{
    public int ExitCode { get; set; }
    public bool Exited { get; set; }
    public string? Status { get; set; }
    public string? Error { get; set; }
}

public sealed class KeepAlive;

/// <summary>oneof event: exactly one member is set.</summary>
public sealed class ProcessEvent
{
    public StartEvent? Start { get; set; }
    public DataEvent? Data { get; set; }
    public EndEvent? End { get; set; }
    public KeepAlive? Keepalive { get; set; }
}

/// <summary>StartResponse and ConnectResponse share this shape: <c>{"event": {...}}</c>.</summary>
public sealed class ProcessEventResponse
{
    public ProcessEvent Event { get; set; } = new();

    public static readonly ProcessEventResponse KeepaliveMessage = new() { Event = new ProcessEvent { Keepalive = new KeepAlive() } };
}

public enum Signal
{
    Unspecified = 0,
    Sigkill = 9,
    Sigterm = 15,
}

/// <summary>Enum names (<c>SIGNAL_SIGKILL</c>) or numbers, as proto3 JSON allows.</summary>
public sealed class SignalConverter : JsonConverter<Signal>
{
    public override Signal Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType == JsonTokenType.Number)
            return reader.GetInt32() switch
            {
                0 => Signal.Unspecified,
                9 => Signal.Sigkill,
                15 => Signal.Sigterm,
                var n => throw new JsonException($"unknown signal number {n}"),
            };
        return reader.GetString() switch
        {
            "SIGNAL_UNSPECIFIED" => Signal.Unspecified,
            "SIGNAL_SIGKILL" => Signal.Sigkill,
            "SIGNAL_SIGTERM" => Signal.Sigterm,
            var s => throw new JsonException($"unknown signal '{s}'"),
        };
    }

    public override void Write(Utf8JsonWriter writer, Signal value, JsonSerializerOptions options) =>
        writer.WriteStringValue(value switch
        {
            Signal.Sigkill => "SIGNAL_SIGKILL",
            Signal.Sigterm => "SIGNAL_SIGTERM",
            _ => "SIGNAL_UNSPECIFIED",
        });
}

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingDefault)]
[JsonSerializable(typeof(StartRequest))]
[JsonSerializable(typeof(ConnectRequest))]
[JsonSerializable(typeof(SendInputRequest))]
[JsonSerializable(typeof(SendSignalRequest))]
[JsonSerializable(typeof(UpdateRequest))]
[JsonSerializable(typeof(CloseStdinRequest))]
[JsonSerializable(typeof(ListRequest))]
[JsonSerializable(typeof(ListResponse))]
[JsonSerializable(typeof(Empty))]
[JsonSerializable(typeof(ProcessEventResponse))]
internal sealed partial class ProcessJsonContext : JsonSerializerContext;
