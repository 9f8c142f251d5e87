using Portal.Envd.Users;

namespace Portal.Envd.Connect;

/// <summary>Per-call facts a handler needs: the caller's user, the deadline, cancellation.</summary>
public sealed class CallContext(HttpContext http, UserResolver users, TimeSpan? timeout, CancellationToken cancellation)
{
    private EnvdUser? _user;

    public HttpContext Http { get; } = http;

    /// <summary>From <c>Connect-Timeout-Ms</c>; null when absent or 0 (no deadline). A started
    /// process takes it over (it outlives the call, not its deadline).</summary>
    public TimeSpan? Timeout { get; } = timeout;

    /// <summary>Fires when the client goes away or the deadline passes.</summary>
    public CancellationToken Cancellation { get; } = cancellation;

    /// <summary>The OS user selected by <c>Authorization: Basic</c>, or the default user.</summary>
    public EnvdUser User => _user ??= users.FromAuthorization(Http.Request.Headers.Authorization.ToString());
}
