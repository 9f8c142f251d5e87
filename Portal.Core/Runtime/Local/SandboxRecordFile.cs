using System.Text.Json;

namespace Portal.Core.Runtime.Local;

/// <summary>What a sandbox's directory says about it: enough to find it again after a restart.</summary>
public sealed record SandboxRecordFile
{
    public required string SandboxId { get; init; }
    public required string TemplateId { get; init; }
    public required DateTimeOffset StartedAt { get; init; }
    public required int CpuCount { get; init; }
    public required int MemoryMB { get; init; }
    public required int DiskSizeMB { get; init; }
    public string? AccessToken { get; init; }
    public bool Paused { get; init; }
    /// <summary>
    /// Paused with memory:false: no process, no mount, no cgroup, no veth left; only this directory
    /// and its disk image. Resume boots it again (<see cref="LocalSandboxRuntime"/>).
    /// </summary>
    public bool PausedToDisk { get; init; }
    /// <summary>The create's env vars: a boot after a filesystem pause gives envd the same /init.</summary>
    public Dictionary<string, string> EnvVars { get; init; } = [];
    /// <summary>The create's default user and directory (a built template's USER and WORKDIR), for the same reason.</summary>
    public string? DefaultUser { get; init; }
    public string? DefaultWorkdir { get; init; }
    /// <summary>Its veth and addresses; null when networking is off.</summary>
    public Network.SandboxLink? Link { get; init; }
    /// <summary>Egress rules in force (E2B's lists, internet access folded in); empty = open.</summary>
    public List<string> AllowOut { get; init; } = [];
    public List<string> DenyOut { get; init; } = [];
    /// <summary>Whether the create asked for internet access (echoed back, as E2B does).</summary>
    public bool InternetAccess { get; init; } = true;

    public SandboxEgress Egress => SandboxEgress.From(AllowOut, DenyOut);

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { WriteIndented = true };

    public static SandboxRecordFile? TryLoad(string path)
    {
        try { return JsonSerializer.Deserialize<SandboxRecordFile>(File.ReadAllText(path), Json); }
        catch (Exception e) when (e is IOException or JsonException) { return null; }
    }

    /// <summary>Write-then-rename: a crash leaves the old or the new record, never half of one.</summary>
    public void Save(string path)
    {
        var temp = path + ".tmp";
        File.WriteAllText(temp, JsonSerializer.Serialize(this, Json));
        File.Move(temp, path, overwrite: true);
    }
}
