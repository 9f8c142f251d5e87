namespace Portal.Core.Runtime.Local.Network;

/// <summary>
/// One sandbox's wiring: the host end of its veth and the two addresses of the pair (a /32 each,
/// routed point to point). Kept in the sandbox's record so a restarted portal finds it again.
/// </summary>
public sealed record SandboxLink(string Interface, string Address, string Gateway);
