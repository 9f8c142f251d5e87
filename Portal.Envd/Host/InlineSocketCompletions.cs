namespace Portal.Envd;

/// <summary>
/// Socket completions run inline on the runtime's epoll thread
/// (<c>DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=1</c>), as the portal's <c>InlineIo</c> (Portal.Core)
/// does — not shared, because envd ships alone; unlike the portal, envd keeps the runtime's default
/// number of epoll threads. Kestrel's receive and send loops then continue where the readiness
/// event arrives instead of being queued to a pool thread first. Request handlers still run on the thread pool (Kestrel's application scheduler),
/// so a handler that blocks (a FIFO read, a slow disk) holds one pool thread, never the epoll thread;
/// the only other socket code in envd, the port tunnel, only awaits. Measured in docs/benchmarks.md:
/// ~10% less envd CPU per request. The runtime reads the variable once, when the first socket is
/// created, so this runs first thing in <c>Main</c>; an explicit value (<c>=0</c>) is kept.
/// Children never see it: envd builds every child's environment from scratch.
/// </summary>
public static class InlineSocketCompletions
{
    public const string Variable = "DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS";

    public static void EnableUnlessConfigured()
    {
        if (Environment.GetEnvironmentVariable(Variable) is null) Environment.SetEnvironmentVariable(Variable, "1");
    }
}
