using System.Globalization;
using System.Runtime.CompilerServices;
using Portal.Envd.Native;

namespace Portal.Envd;

/// <summary>
/// Gives memory back when envd goes idle. A sandbox spends most of its life idle, and
/// hundreds share one machine: garbage from startup or from the last upload would otherwise
/// stay resident. After a quiet period with new allocations, envd
/// <list type="number">
/// <item>runs one aggressive, compacting collection (the GC decommits its free regions);</item>
/// <item>calls glibc's <c>malloc_trim(0)</c> (free native heap pages go back to the kernel);</item>
/// <item>in the published native binary only: drops its page-table mappings of clean,
/// read-only file pages (its own code and read-only data, libc's) with
/// <c>madvise(MADV_DONTNEED)</c>. Those pages stay in the page cache, shared with every
/// other sandbox; the next request maps the ones it needs again (minor faults, no I/O).
/// Pages that were ever written (relocated data, anything anonymous) are never touched.</item>
/// </list>
/// </summary>
public sealed class IdleMemoryTrimmer : IDisposable
{
    private static readonly TimeSpan Quiet = TimeSpan.FromSeconds(2);
    private readonly Timer _timer;
    private readonly bool _dropFilePages;
    private long _lastActivity = Environment.TickCount64;
    private long _allocatedAtLastTrim = -1;
    private int _active;

    /// <param name="dropFilePages">null: only when running as the NativeAOT binary (not
    /// inside a test host, whose mappings are not envd's to manage).</param>
    public IdleMemoryTrimmer(bool? dropFilePages = null)
    {
        _dropFilePages = dropFilePages ?? !RuntimeFeature.IsDynamicCodeSupported;
        // One-shot: first after startup, then re-armed by the end of each request, so an idle
        // envd has no periodic wake-ups of its own.
        _timer = new Timer(_ => TrimIfIdle(), null, TimeSpan.FromMilliseconds(300), Timeout.InfiniteTimeSpan);
    }

    public RequestDelegate Middleware(RequestDelegate next) => async http =>
    {
        Interlocked.Increment(ref _active);
        try
        {
            await next(http);
        }
        finally
        {
            Interlocked.Exchange(ref _lastActivity, Environment.TickCount64);
            if (Interlocked.Decrement(ref _active) == 0)
            {
                try { _timer.Change(Quiet, Timeout.InfiniteTimeSpan); }
                catch (ObjectDisposedException) { } // shutting down
            }
        }
    };

    private void TrimIfIdle()
    {
        if (Volatile.Read(ref _active) > 0) return; // the last request to end re-arms the timer
        var quietFor = Environment.TickCount64 - Interlocked.Read(ref _lastActivity);
        if (quietFor < Quiet.TotalMilliseconds && _allocatedAtLastTrim >= 0)
        {
            _timer.Change(TimeSpan.FromMilliseconds(Quiet.TotalMilliseconds - quietFor), Timeout.InfiniteTimeSpan);
            return;
        }
        var allocated = GC.GetTotalAllocatedBytes();
        if (allocated - _allocatedAtLastTrim < 256 * 1024) return;
        BlockMemoryPool.Instance.Trim();
        GC.Collect(2, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        _allocatedAtLastTrim = GC.GetTotalAllocatedBytes();
        try
        {
            Libc.malloc_trim(0);
            if (_dropFilePages) DropCleanFileMappings();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or EntryPointNotFoundException or DllNotFoundException)
        {
            // best effort: a missing /proc or a non-glibc libc only means less memory given back
        }
    }

    public void Dispose() => _timer.Dispose();

    /// <summary>
    /// madvise(MADV_DONTNEED) on every private, non-writable, file-backed mapping that holds
    /// no anonymous (copied-on-write) page; returns the kilobytes that were mapped.
    /// </summary>
    internal static long DropCleanFileMappings()
    {
        long dropped = 0;
        (nint Start, nint End, long RssKb, bool Candidate, bool Copied)? current = null;
        void Finish()
        {
            if (current is { Candidate: true, Copied: false, RssKb: > 0 } m && Libc.madvise(m.Start, (nuint)(m.End - m.Start), Libc.MADV_DONTNEED) == 0)
                dropped += m.RssKb;
        }
        foreach (var line in File.ReadLines("/proc/self/smaps"))
        {
            if (line.Length > 0 && char.IsAsciiHexDigit(line[0]) && line.IndexOf('-') is var dash and > 0 && dash < line.IndexOf(' '))
            {
                Finish();
                // start-end perms offset dev inode path
                var parts = line.Split(' ', 6, StringSplitOptions.RemoveEmptyEntries);
                var range = parts[0].Split('-');
                var perms = parts.Length > 1 ? parts[1] : "";
                var path = parts.Length > 5 ? parts[5].Trim() : "";
                var candidate = perms.Length == 4 && perms[0] == 'r' && perms[1] == '-' && perms[3] == 'p'
                    && path.StartsWith('/') && parts[4] != "0";
                current = (nint.Parse(range[0], NumberStyles.HexNumber, CultureInfo.InvariantCulture),
                           nint.Parse(range[1], NumberStyles.HexNumber, CultureInfo.InvariantCulture), 0, candidate, false);
                continue;
            }
            if (current is not { Candidate: true } c) continue;
            if (line.StartsWith("Rss:", StringComparison.Ordinal))
                current = c with { RssKb = Kb(line) };
            else if (line.StartsWith("Anonymous:", StringComparison.Ordinal) || line.StartsWith("Swap:", StringComparison.Ordinal))
            {
                // A copied-on-write page (relocated read-only data) would be lost: skip the
                // whole mapping. (A dirty page-cache page, as with a freshly copied binary, is
                // fine: it stays in the page cache.)
                if (Kb(line) != 0) current = c with { Copied = true };
            }
        }
        Finish();
        return dropped;
    }

    private static long Kb(string line)
    {
        var value = line.AsSpan(line.IndexOf(':') + 1).Trim();
        var space = value.IndexOf(' ');
        return long.TryParse(space < 0 ? value : value[..space], NumberStyles.Integer, CultureInfo.InvariantCulture, out var kb) ? kb : 0;
    }
}
