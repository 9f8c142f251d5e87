using System.Collections.Concurrent;

namespace Portal.Web.Dashboard.Terminal;

/// <summary>
/// The shell each user has in each sandbox (its PTY's pid): a page reload, or another tab,
/// attaches to the same shell instead of starting a new one. In memory: after a portal restart
/// a new shell is started (the old one lives on in the sandbox until it exits).
/// </summary>
public sealed class TerminalSessions
{
    private readonly ConcurrentDictionary<(string SandboxId, string UserId), uint> _pids = new();

    public uint? Find(string sandboxId, string userId) => _pids.TryGetValue((sandboxId, userId), out var pid) ? pid : null;
    public void Remember(string sandboxId, string userId, uint pid) => _pids[(sandboxId, userId)] = pid;
    public void Forget(string sandboxId, string userId) => _pids.TryRemove((sandboxId, userId), out _);
}
