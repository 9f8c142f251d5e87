using System.Text.Json;
using System.Text.Json.Serialization;

namespace Portal.Envd.Filesystem;

// filesystem.Filesystem messages in proto3 JSON form (envd's filesystem.proto).

public enum FileType { Unspecified = 0, File = 1, Directory = 2, Symlink = 3 }

public enum EventType { Unspecified = 0, Create = 1, Write = 2, Remove = 3, Rename = 4, Chmod = 5 }

public sealed class EntryInfo
{
    public string Name { get; set; } = "";
    [JsonConverter(typeof(FileTypeConverter))]
    public FileType Type { get; set; }
    public string Path { get; set; } = "";
    [JsonNumberHandling(JsonNumberHandling.WriteAsString | JsonNumberHandling.AllowReadingFromString)]
    public long Size { get; set; }
    public uint Mode { get; set; }
    public string Permissions { get; set; } = "";
    public string Owner { get; set; } = "";
    public string Group { get; set; } = "";
    [JsonConverter(typeof(TimestampConverter))]
    public DateTimeOffset? ModifiedTime { get; set; }
    public string? SymlinkTarget { get; set; }
    public Dictionary<string, string>? Metadata { get; set; }
}

public sealed class PathRequest
{
    public string Path { get; set; } = "";
}

public sealed class EntryResponse
{
    public EntryInfo? Entry { get; set; }
}

public sealed class MoveRequest
{
    public string Source { get; set; } = "";
    public string Destination { get; set; } = "";
}

public sealed class ListDirRequest
{
    public string Path { get; set; } = "";
    public uint Depth { get; set; }
}

public sealed class ListDirResponse
{
    public List<EntryInfo> Entries { get; set; } = [];
}

public sealed class WatchDirRequest
{
    public string Path { get; set; } = "";
    public bool Recursive { get; set; }
    public bool IncludeEntry { get; set; }
    public bool AllowNetworkMounts { get; set; }
}

public sealed class FilesystemEvent
{
    public string Name { get; set; } = "";
    [JsonConverter(typeof(EventTypeConverter))]
    public EventType Type { get; set; }
    public EntryInfo? Entry { get; set; }
}

public sealed class StartMarker;

public sealed class WatchDirResponse
{
    public StartMarker? Start { get; set; }
    public FilesystemEvent? Filesystem { get; set; }
    public StartMarker? Keepalive { get; set; }

    public static readonly WatchDirResponse KeepaliveMessage = new() { Keepalive = new StartMarker() };
}

public sealed class CreateWatcherResponse
{
    public string WatcherId { get; set; } = "";
}

public sealed class WatcherRequest
{
    public string WatcherId { get; set; } = "";
}

public sealed class WatcherEventsResponse
{
    public List<FilesystemEvent> Events { get; set; } = [];
}

public sealed class EmptyMessage;

/// <summary>
/// google.protobuf.Timestamp JSON: UTC with a 'Z' and 9 fraction digits. The JS client's
/// parser rejects offsets combined with fractions and fractions of fewer than 3 digits.
/// </summary>
public sealed class TimestampConverter : JsonConverter<DateTimeOffset?>
{
    public override DateTimeOffset? Read(ref Utf8JsonReader r, Type t, JsonSerializerOptions o) =>
        r.TokenType == JsonTokenType.Null ? null : DateTimeOffset.Parse(r.GetString()!, System.Globalization.CultureInfo.InvariantCulture);

    public override void Write(Utf8JsonWriter w, DateTimeOffset? v, JsonSerializerOptions o)
    {
        if (v is null) { w.WriteNullValue(); return; }
        w.WriteStringValue(v.Value.UtcDateTime.ToString("yyyy'-'MM'-'dd'T'HH':'mm':'ss'.'fffffff'00Z'", System.Globalization.CultureInfo.InvariantCulture));
    }
}

public sealed class FileTypeConverter : JsonConverter<FileType>
{
    private static readonly string[] Names = ["FILE_TYPE_UNSPECIFIED", "FILE_TYPE_FILE", "FILE_TYPE_DIRECTORY", "FILE_TYPE_SYMLINK"];
    public override FileType Read(ref Utf8JsonReader r, Type t, JsonSerializerOptions o) =>
        r.TokenType == JsonTokenType.Number ? (FileType)r.GetInt32() : (FileType)Math.Max(0, Array.IndexOf(Names, r.GetString()));
    public override void Write(Utf8JsonWriter w, FileType v, JsonSerializerOptions o) => w.WriteStringValue(Names[(int)v]);
}

public sealed class EventTypeConverter : JsonConverter<EventType>
{
    private static readonly string[] Names = ["EVENT_TYPE_UNSPECIFIED", "EVENT_TYPE_CREATE", "EVENT_TYPE_WRITE", "EVENT_TYPE_REMOVE", "EVENT_TYPE_RENAME", "EVENT_TYPE_CHMOD"];
    public override EventType Read(ref Utf8JsonReader r, Type t, JsonSerializerOptions o) =>
        r.TokenType == JsonTokenType.Number ? (EventType)r.GetInt32() : (EventType)Math.Max(0, Array.IndexOf(Names, r.GetString()));
    public override void Write(Utf8JsonWriter w, EventType v, JsonSerializerOptions o) => w.WriteStringValue(Names[(int)v]);
}

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingDefault)]
[JsonSerializable(typeof(PathRequest))]
[JsonSerializable(typeof(EntryResponse))]
[JsonSerializable(typeof(MoveRequest))]
[JsonSerializable(typeof(ListDirRequest))]
[JsonSerializable(typeof(ListDirResponse))]
[JsonSerializable(typeof(WatchDirRequest))]
[JsonSerializable(typeof(WatchDirResponse))]
[JsonSerializable(typeof(CreateWatcherResponse))]
[JsonSerializable(typeof(WatcherRequest))]
[JsonSerializable(typeof(WatcherEventsResponse))]
[JsonSerializable(typeof(EmptyMessage))]
[JsonSerializable(typeof(List<EntryInfo>))]
internal sealed partial class FilesystemJsonContext : JsonSerializerContext;
