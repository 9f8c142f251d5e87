namespace Portal.Core;

/// <summary>
/// Why the domain refused a request, in the domain's words. The host decides what each kind
/// means on its wire (Portal.Web maps them to HTTP statuses); Portal.Core never speaks HTTP.
/// </summary>
public enum DomainErrorKind
{
    /// <summary>The request itself is wrong: a missing field, a value out of range.</summary>
    InvalidArgument,
    /// <summary>The caller is not signed in (or its credentials no longer hold).</summary>
    Unauthenticated,
    /// <summary>The caller is known but may not do this.</summary>
    PermissionDenied,
    /// <summary>The thing does not exist, or the caller may not see it (never say which).</summary>
    NotFound,
    /// <summary>The thing is not in a state that allows this (already paused, a newer write came first).</summary>
    Conflict,
    /// <summary>No room: capacity or a quota is used up.</summary>
    ResourceExhausted,
    /// <summary>A part the request needs did not answer in time; trying again later may work.</summary>
    Unavailable,
    /// <summary>A call to the sandbox runtime overran its deadline.</summary>
    DeadlineExceeded,
    /// <summary>A failure that is the portal's, not the caller's.</summary>
    Internal,
}

/// <summary>A request the domain refuses, with a message written for the caller.</summary>
public sealed class DomainException(DomainErrorKind kind, string message, Exception? inner = null) : Exception(message, inner)
{
    public DomainErrorKind Kind { get; } = kind;

    public static DomainException InvalidArgument(string message) => new(DomainErrorKind.InvalidArgument, message);
    public static DomainException Unauthenticated(string message) => new(DomainErrorKind.Unauthenticated, message);
    public static DomainException PermissionDenied(string message) => new(DomainErrorKind.PermissionDenied, message);
    public static DomainException NotFound(string message) => new(DomainErrorKind.NotFound, message);
    public static DomainException SandboxNotFound(string sandboxId) => NotFound($"sandbox '{sandboxId}' not found");
    public static DomainException Conflict(string message) => new(DomainErrorKind.Conflict, message);
}
