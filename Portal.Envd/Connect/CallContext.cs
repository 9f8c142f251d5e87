using Portal.Envd.Users;

namespace Portal.Envd.Connect;

/// <summary>Per-call facts a handler needs: the caller's user, the deadline, cancellation.</summary>
public sealed class CallContext(HttpContext http, UserResolver users, TimeSpan? timeout, CancellationToken deadline, CancellationToken cancellation)
{
    private EnvdUser? _user;

    public HttpContext Http { get; } = http;

    /// <summary>From <c>Connect-Timeout-Ms</c>; null when absent or 0 (no deadline).</summary>
    public TimeSpan? Timeout { get; } = timeout;

    /// <summary>Fires only when the <c>Connect-Timeout-Ms</c> deadline passes (not on disconnect):
    /// a started process is killed then, but outlives a dropped stream.</summary>
    public CancellationToken Deadline { get; } = deadline;

    /// <summary>Fires when the client goes away or the deadline passes.</summary>
    public CancellationToken Cancellation { get; } = cancellation;

    /// <summary>The OS user selected by <c>Authorization: Basic</c>, or the default user.</summary>
    public EnvdUser User => _user ??= users.FromAuthorization(Http.Request.Headers.Authorization.ToString());
}
