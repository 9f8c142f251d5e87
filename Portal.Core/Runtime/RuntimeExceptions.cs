namespace Portal.Core.Runtime;

/// <summary>Base of the errors a runtime reports; the API maps each to a status code.</summary>
public abstract class SandboxRuntimeException(string message, Exception? inner = null) : Exception(message, inner);

public sealed class SandboxNotFoundException(string sandboxId)
    : SandboxRuntimeException($"sandbox '{sandboxId}' not found")
{
    public string SandboxId { get; } = sandboxId;
}

/// <summary>The sandbox is in the wrong state for the operation (pause a paused one...).</summary>
public sealed class SandboxStateException(string sandboxId, SandboxState state, string message)
    : SandboxRuntimeException(message)
{
    public string SandboxId { get; } = sandboxId;
    public SandboxState State { get; } = state;
}

public sealed class SandboxPortClosedException(string sandboxId, int port)
    : SandboxRuntimeException($"sandbox '{sandboxId}' is running but port {port} is not open")
{
    public string SandboxId { get; } = sandboxId;
    public int Port { get; } = port;
}

public sealed class TemplateNotFoundException(string templateId)
    : SandboxRuntimeException($"template '{templateId}' not found")
{
    public string TemplateId { get; } = templateId;
}

/// <summary>The runtime cannot take another sandbox now (limits, no memory).</summary>
public sealed class RuntimeCapacityException(string message) : SandboxRuntimeException(message);

/// <summary>The template cannot be removed: other templates are made from it.</summary>
public sealed class TemplateInUseException(string templateId, IReadOnlyList<string> children)
    : SandboxRuntimeException($"template '{templateId}' cannot be deleted: {children.Count} other template(s) are built on it ({string.Join(", ", children.Take(5))})")
{
    public string TemplateId { get; } = templateId;
    public IReadOnlyList<string> Children { get; } = children;
}
