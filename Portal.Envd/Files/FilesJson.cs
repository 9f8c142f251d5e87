using System.Text.Json;
using System.Text.Json.Serialization;

namespace Portal.Envd.Files;

public sealed class UploadResult
{
    public string Path { get; set; } = "";
    public string Name { get; set; } = "";
    public string Type { get; set; } = "file";
    public Dictionary<string, string>? Metadata { get; set; }
}

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(List<UploadResult>))]
internal sealed partial class FilesJsonContext : JsonSerializerContext;
