using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Portal.Core.Sandboxes;

namespace Portal.Web.Apis;

// Wire shapes of the E2B control plane (field names exactly as E2B's OpenAPI spells them).

/// <summary>Body of POST /sandboxes (v1) and POST /v2/sandboxes.</summary>
public sealed class NewSandboxBody
{
    [JsonPropertyName("templateID")] public string? TemplateId { get; set; }
    [JsonPropertyName("timeout")] public long? Timeout { get; set; }
    [JsonPropertyName("metadata")] public Dictionary<string, string>? Metadata { get; set; }
    [JsonPropertyName("envVars")] public Dictionary<string, string>? EnvVars { get; set; }
    [JsonPropertyName("secure")] public bool? Secure { get; set; }
    [JsonPropertyName("allow_internet_access")] public bool? AllowInternetAccess { get; set; }
    [JsonPropertyName("autoPause")] public bool? AutoPause { get; set; }
    /// <summary>With autoPause: false = the deadline's pause keeps files only (processes stopped, memory freed).</summary>
    [JsonPropertyName("autoPauseMemory")] public bool? AutoPauseMemory { get; set; }
    [JsonPropertyName("autoResume")] public AutoResumeBody? AutoResume { get; set; }
    /// <summary>The detail's shape, accepted on create too: <c>{onTimeout: kill|pause, autoResume: bool}</c>.</summary>
    [JsonPropertyName("lifecycle")] public LifecycleBody? Lifecycle { get; set; }
    [JsonPropertyName("network")] public NetworkBody? Network { get; set; }
}

public sealed class AutoResumeBody
{
    [JsonPropertyName("enabled")] public bool? Enabled { get; set; }
}

public sealed class LifecycleBody
{
    [JsonPropertyName("onTimeout")] public string? OnTimeout { get; set; }
    [JsonPropertyName("autoResume")] public bool? AutoResume { get; set; }
}

/// <summary>Body of POST /sandboxes/{id}/pause.</summary>
public sealed class PauseBody
{
    /// <summary>True or absent: keep processes and memory; false: keep files only (the resume boots it again).</summary>
    [JsonPropertyName("memory")] public bool? Memory { get; set; }
}

/// <summary>E2B's <c>network</c> of a create body.</summary>
public sealed class NetworkBody
{
    [JsonPropertyName("allowOut")] public List<string>? AllowOut { get; set; }
    [JsonPropertyName("denyOut")] public List<string>? DenyOut { get; set; }
    [JsonPropertyName("allowPublicTraffic")] public bool? AllowPublicTraffic { get; set; }
    [JsonPropertyName("maskRequestHost")] public string? MaskRequestHost { get; set; }
    [JsonPropertyName("httpsPorts")] public List<int>? HttpsPorts { get; set; }
    [JsonPropertyName("rules")] public JsonElement? Rules { get; set; }
    [JsonPropertyName("egressProxy")] public JsonElement? EgressProxy { get; set; }
}

/// <summary>Body of PUT /sandboxes/{id}/network: the egress part only, replaced whole.</summary>
public sealed class NetworkUpdateBody
{
    [JsonPropertyName("allowOut")] public List<string>? AllowOut { get; set; }
    [JsonPropertyName("denyOut")] public List<string>? DenyOut { get; set; }
    [JsonPropertyName("allow_internet_access")] public bool? AllowInternetAccess { get; set; }
    [JsonPropertyName("rules")] public JsonElement? Rules { get; set; }
    [JsonPropertyName("egressProxy")] public JsonElement? EgressProxy { get; set; }
}

/// <summary>The <c>network</c> GET /sandboxes/{id} echoes (as stored).</summary>
public sealed record NetworkDto
{
    [JsonPropertyName("allowOut")] public IReadOnlyList<string>? AllowOut { get; init; }
    [JsonPropertyName("denyOut")] public IReadOnlyList<string>? DenyOut { get; init; }
    [JsonPropertyName("allowPublicTraffic")] public bool? AllowPublicTraffic { get; init; }
    [JsonPropertyName("maskRequestHost")] public string? MaskRequestHost { get; init; }
    [JsonPropertyName("egressProxy")] public object? EgressProxy { get; init; }

    public static NetworkDto From(SandboxNetworkSettings n) => new()
    {
        AllowOut = n.AllowOut, DenyOut = n.DenyOut, AllowPublicTraffic = n.AllowPublicTraffic ?? true, MaskRequestHost = n.MaskRequestHost,
    };
}

public sealed class ConnectBody
{
    [JsonPropertyName("timeout")] public long? Timeout { get; set; }
}

public sealed class TimeoutBody
{
    [JsonPropertyName("timeout")] public long? Timeout { get; set; }
}

public sealed class ResumeBody
{
    [JsonPropertyName("timeout")] public long? Timeout { get; set; }
    [JsonPropertyName("autoPause")] public bool? AutoPause { get; set; }
}

public sealed class RefreshBody
{
    [JsonPropertyName("duration")] public long? Duration { get; set; }
}

public sealed class EmptyBody;

/// <summary>Answer of create, connect and resume.</summary>
public sealed record SandboxDto
{
    [JsonPropertyName("sandboxID")] public required string SandboxId { get; init; }
    [JsonPropertyName("templateID")] public required string TemplateId { get; init; }
    [JsonPropertyName("alias")] public string? Alias { get; init; }
    [JsonPropertyName("clientID")] public required string ClientId { get; init; }
    [JsonPropertyName("envdVersion")] public required string EnvdVersion { get; init; }
    [JsonPropertyName("envdAccessToken")] public string? EnvdAccessToken { get; init; }
    [JsonPropertyName("domain")] public string? Domain { get; init; }
    [JsonPropertyName("trafficAccessToken")] public string? TrafficAccessToken { get; init; }

    public static SandboxDto From(SandboxRecord r, string? domain) => new()
    {
        SandboxId = r.SandboxId, TemplateId = r.TemplateId, Alias = r.Alias, ClientId = r.ClientId,
        EnvdVersion = r.EnvdVersion, EnvdAccessToken = r.EnvdAccessToken, Domain = domain,
        TrafficAccessToken = r.Network.TrafficAccessToken,
    };
}

/// <summary>One item of the list routes.</summary>
public record ListedSandboxDto
{
    [JsonPropertyName("sandboxID")] public required string SandboxId { get; init; }
    [JsonPropertyName("templateID")] public required string TemplateId { get; init; }
    [JsonPropertyName("alias")] public string? Alias { get; init; }
    [JsonPropertyName("clientID")] public required string ClientId { get; init; }
    [JsonPropertyName("startedAt")] public required DateTimeOffset StartedAt { get; init; }
    [JsonPropertyName("endAt")] public required DateTimeOffset EndAt { get; init; }
    [JsonPropertyName("cpuCount")] public required int CpuCount { get; init; }
    [JsonPropertyName("memoryMB")] public required int MemoryMB { get; init; }
    [JsonPropertyName("diskSizeMB")] public required int DiskSizeMB { get; init; }
    [JsonPropertyName("envdVersion")] public required string EnvdVersion { get; init; }
    [JsonPropertyName("state")] public required string State { get; init; }
    [JsonPropertyName("metadata")] public IReadOnlyDictionary<string, string>? Metadata { get; init; }

    public static ListedSandboxDto From(SandboxRecord r) => new()
    {
        SandboxId = r.SandboxId, TemplateId = r.TemplateId, Alias = r.Alias, ClientId = r.ClientId,
        StartedAt = r.StartedAt, EndAt = r.EndAt, CpuCount = r.CpuCount, MemoryMB = r.MemoryMB,
        DiskSizeMB = r.DiskSizeMB, EnvdVersion = r.EnvdVersion, State = StateName(r.Status), Metadata = r.Metadata,
    };

    public static string StateName(SandboxStatus s) => s == SandboxStatus.Paused ? "paused" : "running";
}

/// <summary>GET /sandboxes/{id}.</summary>
public sealed record SandboxDetailDto : ListedSandboxDto
{
    [JsonPropertyName("domain")] public string? Domain { get; init; }
    [JsonPropertyName("envdAccessToken")] public string? EnvdAccessToken { get; init; }
    [JsonPropertyName("allowInternetAccess")] public bool? AllowInternetAccess { get; init; }
    [JsonPropertyName("network")] public NetworkDto? Network { get; init; }
    [JsonPropertyName("lifecycle")] public LifecycleDto? Lifecycle { get; init; }

    public static SandboxDetailDto From(SandboxRecord r, string? domain)
    {
        var l = ListedSandboxDto.From(r);
        return new SandboxDetailDto
        {
            SandboxId = l.SandboxId, TemplateId = l.TemplateId, Alias = l.Alias, ClientId = l.ClientId,
            StartedAt = l.StartedAt, EndAt = l.EndAt, CpuCount = l.CpuCount, MemoryMB = l.MemoryMB,
            DiskSizeMB = l.DiskSizeMB, EnvdVersion = l.EnvdVersion, State = l.State, Metadata = l.Metadata,
            Domain = domain, EnvdAccessToken = r.EnvdAccessToken, AllowInternetAccess = r.Network.AllowInternetAccess,
            Network = NetworkDto.From(r.Network),
            Lifecycle = new LifecycleDto(r.AutoPause ? "pause" : "kill", r.AutoResume),
        };
    }
}

public sealed record LifecycleDto(
    [property: JsonPropertyName("onTimeout")] string OnTimeout,
    [property: JsonPropertyName("autoResume")] bool AutoResume);

public sealed record SandboxMetricDto
{
    [JsonPropertyName("timestamp")] public required DateTimeOffset Timestamp { get; init; }
    [JsonPropertyName("timestampUnix")] public required long TimestampUnix { get; init; }
    [JsonPropertyName("cpuCount")] public required int CpuCount { get; init; }
    [JsonPropertyName("cpuUsedPct")] public required double CpuUsedPct { get; init; }
    [JsonPropertyName("memUsed")] public required long MemUsed { get; init; }
    [JsonPropertyName("memTotal")] public required long MemTotal { get; init; }
    [JsonPropertyName("memCache")] public required long MemCache { get; init; }
    [JsonPropertyName("diskUsed")] public required long DiskUsed { get; init; }
    [JsonPropertyName("diskTotal")] public required long DiskTotal { get; init; }

    public static SandboxMetricDto From(SandboxMetricSample m) => new()
    {
        Timestamp = m.Timestamp, TimestampUnix = m.Timestamp.ToUnixTimeSeconds(), CpuCount = m.CpuCount,
        CpuUsedPct = m.CpuUsedPct, MemUsed = m.MemUsed, MemTotal = m.MemTotal, MemCache = m.MemCache,
        DiskUsed = m.DiskUsed, DiskTotal = m.DiskTotal,
    };
}

public sealed record LogEntryDto(
    [property: JsonPropertyName("timestamp")] DateTimeOffset Timestamp,
    [property: JsonPropertyName("level")] string Level,
    [property: JsonPropertyName("message")] string Message,
    [property: JsonPropertyName("fields")] IReadOnlyDictionary<string, string> Fields)
{
    public static LogEntryDto From(SandboxLogEntry e) => new(e.Timestamp, e.Level, e.Message, e.Fields);
}

public sealed record LogLineDto(
    [property: JsonPropertyName("timestamp")] DateTimeOffset Timestamp,
    [property: JsonPropertyName("line")] string Line);

/// <summary>Times on the wire: RFC 3339, UTC, milliseconds (<c>2025-01-31T12:00:00.123Z</c>).</summary>
public sealed class Rfc3339Converter : JsonConverter<DateTimeOffset>
{
    public override DateTimeOffset Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        DateTimeOffset.Parse(reader.GetString()!, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal);

    public override void Write(Utf8JsonWriter writer, DateTimeOffset value, JsonSerializerOptions options) =>
        writer.WriteStringValue(Portal.Core.Clock.Rfc3339(value));
}
