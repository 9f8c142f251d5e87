using Portal.Core.Auth;
using Portal.Core.Sandboxes;

namespace Portal.Web.Dashboard.Model;

/// <summary>A lifecycle action a page offers on one sandbox, run through <see cref="SandboxService"/> as the signed-in caller.</summary>
public sealed record SandboxAction(string Kind, string SandboxId, TimeSpan? Extension = null)
{
    public const string Pause = "pause", Resume = "resume", Kill = "kill", Extend = "extend";
    public static readonly TimeSpan DefaultExtension = TimeSpan.FromMinutes(30);

    public string Done => Kind switch
    {
        Pause => $"Paused {SandboxId}",
        Resume => $"Resumed {SandboxId}",
        Kill => $"Killed {SandboxId}",
        _ => $"Extended {SandboxId} by {(Extension ?? DefaultExtension).TotalMinutes:0} minutes",
    };

    public Task RunAsync(SandboxService sandboxes, Caller caller, CancellationToken ct) => Kind switch
    {
        Pause => sandboxes.PauseAsync(caller, SandboxId, Portal.Core.Runtime.SandboxPauseMode.Memory, ct),
        Resume => sandboxes.ResumeAsync(caller, SandboxId, null, null, ct),
        Kill => sandboxes.KillAsync(caller, SandboxId, ct),
        Extend => ExtendAsync(sandboxes, caller, ct),
        _ => throw new ArgumentException($"unknown action '{Kind}'"),
    };

    /// <summary>The deadline moves later by <see cref="Extension"/> (the service checks the maximum).</summary>
    private async Task ExtendAsync(SandboxService sandboxes, Caller caller, CancellationToken ct)
    {
        var sandbox = await sandboxes.GetAsync(caller, SandboxId, ct);
        var remaining = sandbox.EndAt - DateTimeOffset.UtcNow;
        var seconds = (long)Math.Ceiling(Math.Max(0, remaining.TotalSeconds) + (Extension ?? DefaultExtension).TotalSeconds);
        await sandboxes.SetTimeoutAsync(caller, SandboxId, seconds, ct);
    }
}
