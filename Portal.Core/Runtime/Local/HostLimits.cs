using Microsoft.Extensions.Logging;

namespace Portal.Core.Runtime.Local;

/// <summary>
/// Host-wide kernel limits that every sandbox draws from. Sandbox root is host uid 0 (no user
/// namespace), so the per-uid inotify budget (128 instances by default) is shared by all
/// sandboxes: 129 concurrent <c>watchDir</c> calls across a machine would fail. Every sandbox's
/// processes and threads also take host PIDs (envd alone has about a dozen threads): 1,000
/// sandboxes come close to the default <c>kernel.pid_max</c> of 32768. Raised, never lowered.
/// </summary>
internal static class HostLimits
{
    private static readonly (string File, long Minimum)[] Minimums =
    [
        ("/proc/sys/fs/inotify/max_user_instances", 8192),
        ("/proc/sys/fs/inotify/max_user_watches", 524288),
        ("/proc/sys/kernel/pid_max", 4194304),
    ];

    public static void Raise(ILogger log)
    {
        foreach (var (file, minimum) in Minimums)
        {
            try
            {
                if (!long.TryParse(File.ReadAllText(file).Trim(), out var current) || current >= minimum) continue;
                File.WriteAllText(file, minimum.ToString(System.Globalization.CultureInfo.InvariantCulture));
                log.LogInformation("raised {Sysctl} from {Current} to {Minimum} (shared by every sandbox)", file, current, minimum);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                log.LogWarning("could not raise {Sysctl} to {Minimum}: {Reason}; sandboxes share the current limit", file, minimum, e.Message);
            }
        }
    }
}
