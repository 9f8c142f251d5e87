namespace Portal.Core;

/// <summary>
/// A request the portal refuses, with the HTTP status the API answers and a message for the
/// caller. Domain services throw it; the web layer turns it into <c>{"code", "message"}</c>.
/// </summary>
public sealed class PortalException(int status, string message) : Exception(message)
{
    public int Status { get; } = status;

    public static PortalException BadRequest(string message) => new(400, message);
    public static PortalException Unauthorized(string message) => new(401, message);
    public static PortalException Forbidden(string message) => new(403, message);
    public static PortalException NotFound(string message) => new(404, message);
    public static PortalException Conflict(string message) => new(409, message);
    public static PortalException SandboxNotFound(string sandboxId) => new(404, $"sandbox '{sandboxId}' not found");
}
