using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Portal.Envd.Process;

/// <summary>
/// Source-generated (NativeAOT-safe) contracts for process.Process. Web defaults give
/// lowerCamelCase names, case-insensitive input and numbers-as-strings; WhenWritingDefault
/// drops proto3 default values from the output.
/// </summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingDefault)]
[JsonSerializable(typeof(StartRequest))]
[JsonSerializable(typeof(ConnectRequest))]
[JsonSerializable(typeof(ProcessStreamResponse))]
[JsonSerializable(typeof(ListRequest))]
[JsonSerializable(typeof(ListResponse))]
[JsonSerializable(typeof(SendInputRequest))]
[JsonSerializable(typeof(SendSignalRequest))]
[JsonSerializable(typeof(UpdateRequest))]
[JsonSerializable(typeof(CloseStdinRequest))]
[JsonSerializable(typeof(StreamInputRequest))]
[JsonSerializable(typeof(EmptyResponse))]
internal sealed partial class ProcessJsonContext : JsonSerializerContext;

/// <summary>proto3 enums arrive as names (<c>"SIGNAL_SIGKILL"</c>) or as numbers.</summary>
public sealed class ProcessSignalJsonConverter : JsonConverter<ProcessSignal>
{
    public override ProcessSignal Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        switch (reader.TokenType)
        {
            case JsonTokenType.Number:
                return (ProcessSignal)reader.GetInt32();
            case JsonTokenType.Null:
                return ProcessSignal.Unspecified;
            case JsonTokenType.String:
                var s = reader.GetString() ?? "";
                return s switch
                {
                    "SIGNAL_UNSPECIFIED" => ProcessSignal.Unspecified,
                    "SIGNAL_SIGKILL" => ProcessSignal.Sigkill,
                    "SIGNAL_SIGTERM" => ProcessSignal.Sigterm,
                    _ when int.TryParse(s, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var n) => (ProcessSignal)n,
                    _ => throw new JsonException($"unknown signal '{s}'"),
                };
            default:
                throw new JsonException("signal must be an enum name or number");
        }
    }

    public override void Write(Utf8JsonWriter writer, ProcessSignal value, JsonSerializerOptions options)
    {
        switch (value)
        {
            case ProcessSignal.Sigkill: writer.WriteStringValue("SIGNAL_SIGKILL"); break;
            case ProcessSignal.Sigterm: writer.WriteStringValue("SIGNAL_SIGTERM"); break;
            case ProcessSignal.Unspecified: writer.WriteStringValue("SIGNAL_UNSPECIFIED"); break;
            default: writer.WriteNumberValue((int)value); break;
        }
    }
}
