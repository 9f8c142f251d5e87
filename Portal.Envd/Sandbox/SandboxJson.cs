using System.Text.Json;
using System.Text.Json.Serialization;

namespace Portal.Envd.Sandbox;

public sealed class InitRequest
{
    public Dictionary<string, string>? EnvVars { get; set; }
    public string? AccessToken { get; set; }
    public string? DefaultUser { get; set; }
    public string? DefaultWorkdir { get; set; }
    public string? Timestamp { get; set; }
}

/// <summary>Resource usage of the sandbox, as E2B's envd <c>GET /metrics</c> reports it.</summary>
public sealed class MetricsResponse
{
    [JsonPropertyName("ts")] public long Ts { get; set; }
    [JsonPropertyName("cpu_count")] public int CpuCount { get; set; }
    [JsonPropertyName("cpu_used_pct")] public double CpuUsedPct { get; set; }
    [JsonPropertyName("mem_total")] public long MemTotal { get; set; }
    [JsonPropertyName("mem_used")] public long MemUsed { get; set; }
    [JsonPropertyName("mem_cache")] public long MemCache { get; set; }
    [JsonPropertyName("disk_used")] public long DiskUsed { get; set; }
    [JsonPropertyName("disk_total")] public long DiskTotal { get; set; }
}

public sealed class HttpError
{
    [JsonPropertyName("code")] public int Code { get; set; }
    [JsonPropertyName("message")] public string Message { get; set; } = "";
}

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web)]
[JsonSerializable(typeof(InitRequest))]
[JsonSerializable(typeof(MetricsResponse))]
[JsonSerializable(typeof(HttpError))]
[JsonSerializable(typeof(Dictionary<string, string>))]
internal sealed partial class SandboxJsonContext : JsonSerializerContext;
