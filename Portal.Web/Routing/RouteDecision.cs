namespace Portal.Web.Routing;

/// <summary>Where one request goes; made once per request by <see cref="RequestRouter"/>.</summary>
public abstract record RouteDecision
{
    /// <summary>The E2B domain this request was addressed under (for response <c>domain</c> fields).</summary>
    public string? Domain { get; init; }

    /// <summary>The portal's own endpoints (E2B API, dashboard, /health) at <paramref name="Path"/>.</summary>
    public sealed record Local(string Path, RouteVia Via) : RouteDecision;

    /// <summary>Forward to <paramref name="Port"/> of sandbox <paramref name="SandboxId"/>, at <paramref name="Path"/> (prefix stripped).</summary>
    public sealed record Sandbox(string SandboxId, int Port, string Path, RouteVia Via) : RouteDecision;

    /// <summary>Malformed or misdirected: answer <paramref name="Status"/> and forward nothing.</summary>
    public sealed record Reject(int Status, string Message) : RouteDecision;
}

/// <summary>Which of the ways in a request used (see docs/deployment.md).</summary>
public enum RouteVia
{
    /// <summary>A plain host: the portal's own URL, localhost, an IP, or the bare domain.</summary>
    Plain,
    /// <summary><c>api.D</c> or <c>P-S.D</c>.</summary>
    NativeHost,
    /// <summary><c>/kruise/api/...</c> or <c>/kruise/S/P/...</c>.</summary>
    PrivatePath,
    /// <summary><c>E2b-Sandbox-Id</c> and <c>E2b-Sandbox-Port</c> headers.</summary>
    Headers,
}
