namespace Portal.Envd;

/// <summary>
/// Socket completions run inline on the runtime's epoll thread
/// (<c>DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=1</c>), as the portal's <c>InlineIo</c> (Portal.Core)
/// does — not shared, because envd ships alone; unlike the portal, envd keeps the runtime's default
/// number of epoll threads. Kestrel's connections are on the epoll transport (Transport/), so this
/// now covers what still uses the runtime's engine: the listener's accept and the port tunnel, which
/// only awaits. Before that transport it carried Kestrel's receive and send loops too (~10% less envd
/// CPU per request, docs/benchmarks.md). The runtime reads the variable once, when the first socket
/// is created, so this runs first thing in <c>Main</c>; an explicit value (<c>=0</c>) is kept.
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
