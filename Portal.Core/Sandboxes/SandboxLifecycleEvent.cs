using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Portal.Core.Sandboxes;

/// <summary>
/// A lifecycle event in E2B's public shape (version <c>v2</c>): <see cref="Json"/> is exactly what
/// <c>GET /events/sandboxes</c> returns and what a webhook receives.
/// </summary>
public sealed record SandboxLifecycleEvent(string Id, string Type, string TeamId, string Json);

/// <summary>E2B's event types and how the portal makes them from a sandbox record.</summary>
public static class SandboxEvents
{
    public const string Created = "sandbox.lifecycle.created";
    public const string Resumed = "sandbox.lifecycle.resumed";
    public const string Updated = "sandbox.lifecycle.updated";
    public const string Paused = "sandbox.lifecycle.paused";
    public const string Killed = "sandbox.lifecycle.killed";
    public const string Checkpointed = "sandbox.lifecycle.checkpointed";

    public static readonly IReadOnlySet<string> Types = new HashSet<string>(StringComparer.Ordinal) { Created, Resumed, Updated, Paused, Killed, Checkpointed };

    /// <summary>Why a sandbox was killed (<c>kill_reason</c>), in E2B's words.</summary>
    public static class KillReasons
    {
        public const string Request = "request", Timeout = "timeout", Orphaned = "orphaned", Unknown = "unknown";
    }

    /// <summary>
    /// The event of <paramref name="type"/> for <paramref name="sandbox"/> at <paramref name="at"/>.
    /// <paramref name="data"/> adds to <c>eventData</c> (snake_case keys, as E2B's).
    /// </summary>
    public static SandboxLifecycleEvent Make(string type, SandboxRecord sandbox, DateTimeOffset at, JsonObject? data = null)
    {
        var id = Guid.NewGuid().ToString();
        data ??= [];
        if (sandbox.Metadata.Count > 0)
            data["sandbox_metadata"] = new JsonObject(sandbox.Metadata.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)kv.Value)));
        var json = new JsonObject
        {
            ["version"] = "v2",
            ["id"] = id,
            ["type"] = type,
            ["timestamp"] = Clock.Rfc3339(at),
            ["eventData"] = data.Count == 0 ? null : data,
            ["sandboxId"] = sandbox.SandboxId,
            ["sandboxExecutionId"] = ExecutionId(sandbox),
            ["sandboxTemplateId"] = sandbox.TemplateId,
            ["sandboxBuildId"] = NameUuid("build:" + sandbox.TemplateId),
            ["sandboxTeamId"] = sandbox.TeamId,
        };
        return new SandboxLifecycleEvent(id, type, sandbox.TeamId, json.ToJsonString());
    }

    /// <summary><c>execution</c> of paused and killed events: this run's start, size and length.</summary>
    public static JsonObject Execution(SandboxRecord sandbox, DateTimeOffset at)
    {
        var started = sandbox.ExecutionStartedAt ?? sandbox.StartedAt;
        return new JsonObject
        {
            ["started_at"] = Clock.Rfc3339(started),
            ["vcpu_count"] = sandbox.CpuCount,
            ["memory_mb"] = sandbox.MemoryMB,
            ["execution_time"] = (long)Math.Max(0, (at - started).TotalMilliseconds),
        };
    }

    /// <summary>One ID per run of a sandbox (it changes on every resume), derived from its start.</summary>
    public static string ExecutionId(SandboxRecord sandbox) =>
        NameUuid($"execution:{sandbox.SandboxId}:{(sandbox.ExecutionStartedAt ?? sandbox.StartedAt).ToUnixTimeMilliseconds()}");

    /// <summary>A stable UUID for a name (the portal has no template builds or executions of its own IDs).</summary>
    private static string NameUuid(string name)
    {
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes(name));
        hash[6] = (byte)((hash[6] & 0x0F) | 0x50); // version nibble: name-based
        hash[8] = (byte)((hash[8] & 0x3F) | 0x80); // RFC 4122 variant
        return new Guid(hash.AsSpan(0, 16), bigEndian: true).ToString();
    }
}
