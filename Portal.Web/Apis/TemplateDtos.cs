using System.Text.Json.Serialization;
using Portal.Core.Templates;

namespace Portal.Web.Apis;

// E2B's template API shapes (docs/templates.md).

public sealed class TemplateBuildRequestBody
{
    [JsonPropertyName("name")] public string? Name { get; set; }
    /// <summary>Deprecated spelling of <see cref="Name"/>.</summary>
    [JsonPropertyName("alias")] public string? Alias { get; set; }
    [JsonPropertyName("tags")] public List<string>? Tags { get; set; }
    [JsonPropertyName("cpuCount")] public int? CpuCount { get; set; }
    [JsonPropertyName("memoryMB")] public int? MemoryMB { get; set; }
    [JsonPropertyName("minFreeDiskMb")] public int? MinFreeDiskMb { get; set; }
    [JsonPropertyName("teamID")] public string? TeamId { get; set; }
}

public sealed record TemplateRequestResponse(
    [property: JsonPropertyName("templateID")] string TemplateId,
    [property: JsonPropertyName("buildID")] string BuildId,
    [property: JsonPropertyName("names")] IReadOnlyList<string> Names,
    [property: JsonPropertyName("tags")] IReadOnlyList<string> Tags,
    [property: JsonPropertyName("aliases")] IReadOnlyList<string> Aliases,
    [property: JsonPropertyName("public")] bool Public);

public sealed record TemplateFilesResponse(
    [property: JsonPropertyName("present")] bool Present,
    [property: JsonPropertyName("url")] string? Url,
    [property: JsonPropertyName("headers")] IReadOnlyDictionary<string, string>? Headers);

public sealed record BuildLogEntryDto(
    [property: JsonPropertyName("timestamp")] DateTimeOffset Timestamp,
    [property: JsonPropertyName("level")] string Level,
    [property: JsonPropertyName("message")] string Message,
    [property: JsonPropertyName("step")] string? Step)
{
    public static BuildLogEntryDto From(BuildLogEntry e) => new(e.Timestamp, e.Level, e.Message, e.Step);
}

public sealed record BuildReasonDto(
    [property: JsonPropertyName("message")] string Message,
    [property: JsonPropertyName("step")] string? Step,
    [property: JsonPropertyName("logEntries")] IReadOnlyList<BuildLogEntryDto>? LogEntries);

public sealed record TemplateBuildInfoDto(
    [property: JsonPropertyName("templateID")] string TemplateId,
    [property: JsonPropertyName("buildID")] string BuildId,
    [property: JsonPropertyName("status")] string Status,
    [property: JsonPropertyName("logEntries")] IReadOnlyList<BuildLogEntryDto> LogEntries,
    [property: JsonPropertyName("logs")] IReadOnlyList<string> Logs,
    [property: JsonPropertyName("reason")] BuildReasonDto? Reason);

public sealed record TemplateAliasDto(
    [property: JsonPropertyName("templateID")] string TemplateId,
    [property: JsonPropertyName("public")] bool Public);

public sealed class AssignTagsBody
{
    [JsonPropertyName("target")] public string? Target { get; set; }
    [JsonPropertyName("tags")] public List<string>? Tags { get; set; }
}

public sealed class RemoveTagsBody
{
    [JsonPropertyName("name")] public string? Name { get; set; }
    [JsonPropertyName("tags")] public List<string>? Tags { get; set; }
}

public sealed record AssignedTagsDto(
    [property: JsonPropertyName("buildID")] string BuildId,
    [property: JsonPropertyName("tags")] IReadOnlyList<string> Tags);

public sealed record TemplateTagDto(
    [property: JsonPropertyName("tag")] string Tag,
    [property: JsonPropertyName("buildID")] string BuildId,
    [property: JsonPropertyName("createdAt")] DateTimeOffset CreatedAt);

public sealed class PublishBody
{
    [JsonPropertyName("public")] public bool? Public { get; set; }
}

public sealed record TemplateNamesDto([property: JsonPropertyName("names")] IReadOnlyList<string> Names);

public sealed record TemplateCreatorDto(
    [property: JsonPropertyName("id")] string Id,
    [property: JsonPropertyName("email")] string Email);

/// <summary>An item of GET /templates (what the CLI's <c>template list</c> prints).</summary>
public sealed record TemplateDto(
    [property: JsonPropertyName("templateID")] string TemplateId,
    [property: JsonPropertyName("buildID")] string BuildId,
    [property: JsonPropertyName("cpuCount")] int CpuCount,
    [property: JsonPropertyName("memoryMB")] int MemoryMB,
    [property: JsonPropertyName("diskSizeMB")] int DiskSizeMB,
    [property: JsonPropertyName("envdVersion")] string EnvdVersion,
    [property: JsonPropertyName("public")] bool Public,
    [property: JsonPropertyName("aliases")] IReadOnlyList<string> Aliases,
    [property: JsonPropertyName("names")] IReadOnlyList<string> Names,
    [property: JsonPropertyName("createdAt")] DateTimeOffset CreatedAt,
    [property: JsonPropertyName("updatedAt")] DateTimeOffset UpdatedAt,
    [property: JsonPropertyName("createdBy"), JsonIgnore(Condition = JsonIgnoreCondition.Never)] TemplateCreatorDto? CreatedBy,
    [property: JsonPropertyName("lastSpawnedAt"), JsonIgnore(Condition = JsonIgnoreCondition.Never)] DateTimeOffset? LastSpawnedAt,
    [property: JsonPropertyName("spawnCount")] long SpawnCount,
    [property: JsonPropertyName("buildCount")] int BuildCount,
    [property: JsonPropertyName("buildStatus")] string BuildStatus)
{
    public static TemplateDto From(TemplateListing l, string envdVersion) => new(
        l.Template.TemplateId, l.LatestBuild?.BuildId ?? "", l.LatestBuild?.CpuCount ?? l.Template.CpuCount, l.LatestBuild?.MemoryMB ?? l.Template.MemoryMB,
        l.Template.DiskSizeMB, envdVersion, l.Template.Public, l.Template.Names, l.Template.Names, l.Template.CreatedAt, l.Template.UpdatedAt,
        l.Template.CreatedById is { } id ? new TemplateCreatorDto(id, l.Template.CreatedByName ?? id) : null,
        l.Template.LastSpawnedAt, l.Template.SpawnCount, l.Template.BuildCount,
        TemplatesApi.StatusName(l.LatestBuild?.Status ?? TemplateBuildStatus.Waiting));
}

/// <summary>A build in GET /templates/{templateID} (E2B's TemplateBuild).</summary>
public sealed record TemplateBuildDto(
    [property: JsonPropertyName("buildID")] string BuildId,
    [property: JsonPropertyName("status")] string Status,
    [property: JsonPropertyName("createdAt")] DateTimeOffset CreatedAt,
    [property: JsonPropertyName("updatedAt")] DateTimeOffset UpdatedAt,
    [property: JsonPropertyName("finishedAt"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] DateTimeOffset? FinishedAt,
    [property: JsonPropertyName("cpuCount")] int CpuCount,
    [property: JsonPropertyName("memoryMB")] int MemoryMB,
    [property: JsonPropertyName("diskSizeMB")] int DiskSizeMB,
    [property: JsonPropertyName("envdVersion")] string EnvdVersion)
{
    public static TemplateBuildDto From(TemplateBuild b, TemplateRecord t, string envdVersion) => new(
        b.BuildId, TemplatesApi.StatusName(b.Status), b.CreatedAt, b.FinishedAt ?? b.CreatedAt, b.FinishedAt,
        b.CpuCount, b.MemoryMB, t.DiskSizeMB, envdVersion);
}

/// <summary>GET /templates/{templateID} (E2B's TemplateWithBuilds): the template and a page of its builds, newest first.</summary>
public sealed record TemplateWithBuildsDto(
    [property: JsonPropertyName("templateID")] string TemplateId,
    [property: JsonPropertyName("public")] bool Public,
    [property: JsonPropertyName("aliases")] IReadOnlyList<string> Aliases,
    [property: JsonPropertyName("names")] IReadOnlyList<string> Names,
    [property: JsonPropertyName("createdAt")] DateTimeOffset CreatedAt,
    [property: JsonPropertyName("updatedAt")] DateTimeOffset UpdatedAt,
    [property: JsonPropertyName("lastSpawnedAt"), JsonIgnore(Condition = JsonIgnoreCondition.Never)] DateTimeOffset? LastSpawnedAt,
    [property: JsonPropertyName("spawnCount")] long SpawnCount,
    [property: JsonPropertyName("builds")] IReadOnlyList<TemplateBuildDto> Builds);
