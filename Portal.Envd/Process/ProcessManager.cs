using System.Collections.Concurrent;
using Portal.Envd.Connect;
using Portal.Envd.Native;
using Portal.Envd.Users;

namespace Portal.Envd.Process;

/// <summary>
/// All processes envd started, by pid. Exited ones stay for <see cref="Retention"/> so a
/// Connect that races the exit still gets start + end; every other call sees live ones only.
/// Disposed with the host: whatever still runs is killed.
/// </summary>
public sealed class ProcessManager(EnvdState state) : IDisposable
{
    public static readonly TimeSpan Retention = TimeSpan.FromSeconds(30);

    private readonly ConcurrentDictionary<uint, ManagedProcess> _processes = new();

    /// <summary>Starts a command and returns it with a subscription that sees all its output.</summary>
    /// <param name="lifetime">From Connect-Timeout-Ms: the process is killed when it passes, stream or not.</param>
    public (ManagedProcess Process, Subscription Output) Start(StartRequest request, EnvdUser user, TimeSpan? lifetime)
    {
        var spec = LaunchSpec.Create(request, user, state);
        var process = ManagedProcess.Start(spec);
        var output = process.Subscribe(); // before the pump runs: no output can be missed
        _processes[process.Pid] = process; // replaces a retained exited entry of a recycled pid
        if (lifetime is { } t) process.KillAfter(t);
        process.BeginPump();
        _ = ForgetAfterRetentionAsync(process);
        return (process, output);
    }

    public IReadOnlyList<ManagedProcess> Running => [.. _processes.Values.Where(p => p.IsRunning).OrderBy(p => p.Pid)];

    /// <summary>Resolves a selector; throws <c>not_found</c> (or <c>invalid_argument</c> for an empty one).</summary>
    public ManagedProcess Find(ProcessSelector? selector, bool includeExited = false)
    {
        if (selector?.Pid is { } pid)
        {
            if (_processes.TryGetValue(pid, out var p) && (includeExited || p.IsRunning)) return p;
            throw ConnectException.NotFound($"process with pid {pid} not found");
        }
        if (selector?.Tag is { } tag)
        {
            var candidates = _processes.Values.Where(p => p.Tag == tag && (includeExited || p.IsRunning));
            // A running process wins over a retained exited one with the same tag.
            return candidates.OrderBy(p => p.IsRunning ? 0 : 1).FirstOrDefault()
                ?? throw ConnectException.NotFound($"process with tag '{tag}' not found");
        }
        throw ConnectException.InvalidArgument("process selector needs a pid or a tag");
    }

    private async Task ForgetAfterRetentionAsync(ManagedProcess process)
    {
        await process.Ended;
        await Task.Delay(Retention);
        _processes.TryRemove(KeyValuePair.Create(process.Pid, process));
    }

    public void Dispose()
    {
        foreach (var p in _processes.Values.Where(p => p.IsRunning))
            p.Signal(Libc.SIGKILL);
    }
}
