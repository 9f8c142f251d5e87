using System.Globalization;

namespace Portal.Envd.Sandbox;

/// <summary>
/// CPU, memory and disk of the sandbox. Prefers the cgroup's own numbers (a sandbox's limits),
/// falls back to the machine's /proc figures.
/// </summary>
public sealed class MetricsSampler
{
    private readonly object _gate = new();
    private (long total, long idle)? _lastCpu;

    public MetricsResponse Sample()
    {
        var (memTotal, memUsed, memCache) = Memory();
        var (diskTotal, diskUsed) = Disk("/");
        return new MetricsResponse
        {
            Ts = DateTimeOffset.UtcNow.ToUnixTimeSeconds(),
            CpuCount = Environment.ProcessorCount,
            CpuUsedPct = Math.Round(CpuPercent(), 2),
            MemTotal = memTotal,
            MemUsed = memUsed,
            MemCache = memCache,
            DiskTotal = diskTotal,
            DiskUsed = diskUsed,
        };
    }

    private double CpuPercent()
    {
        var line = File.ReadLines("/proc/stat").FirstOrDefault(l => l.StartsWith("cpu ", StringComparison.Ordinal));
        if (line is null) return 0;
        var f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1).Select(v => long.Parse(v, CultureInfo.InvariantCulture)).ToArray();
        var idle = f[3] + (f.Length > 4 ? f[4] : 0);
        var total = f.Sum();
        lock (_gate)
        {
            var prev = _lastCpu;
            _lastCpu = (total, idle);
            if (prev is not { } p || total == p.total) return 0;
            return 100.0 * (1 - (double)(idle - p.idle) / (total - p.total));
        }
    }

    private static (long total, long used, long cache) Memory()
    {
        var info = File.ReadLines("/proc/meminfo")
            .Select(l => l.Split(':', 2))
            .Where(p => p.Length == 2)
            .ToDictionary(p => p[0], p => long.Parse(p[1].Trim().Split(' ')[0], CultureInfo.InvariantCulture) * 1024);
        var total = info.GetValueOrDefault("MemTotal");
        var available = info.GetValueOrDefault("MemAvailable");
        var cache = info.GetValueOrDefault("Cached");
        var used = total - available;

        // Inside a limited sandbox the cgroup says what this sandbox may use and uses.
        var limit = ReadLong("/sys/fs/cgroup/memory.max") ?? ReadLong("/sys/fs/cgroup/memory/memory.limit_in_bytes");
        var current = ReadLong("/sys/fs/cgroup/memory.current") ?? ReadLong("/sys/fs/cgroup/memory/memory.usage_in_bytes");
        if (limit is { } l && l > 0 && l < total) total = l;
        if (current is { } c && limit is { } l2 && l2 < long.MaxValue / 2) used = Math.Min(c, total);
        return (total, used, cache);
    }

    private static (long total, long used) Disk(string path)
    {
        try
        {
            var d = new DriveInfo(path);
            return (d.TotalSize, d.TotalSize - d.TotalFreeSpace);
        }
        catch (Exception)
        {
            return (0, 0);
        }
    }

    private static long? ReadLong(string path)
    {
        try
        {
            var s = File.ReadAllText(path).Trim();
            return long.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out var v) ? v : null;
        }
        catch (IOException) { return null; }
        catch (UnauthorizedAccessException) { return null; }
    }
}
