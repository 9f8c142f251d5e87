namespace Portal.Core.Persistence;

/// <summary>
/// What another process sharing the database (another portal replica) committed, as
/// <see cref="IPortalStore.WatchOthersAsync"/> tells it: enough to know what to read again.
/// </summary>
public abstract record StoreChange
{
    /// <summary>Anything may have changed unseen (first contact, or the feed was interrupted): read everything again.</summary>
    public sealed record Resync : StoreChange;

    /// <summary>A sandbox record was written at <paramref name="Version"/>.</summary>
    public sealed record Sandbox(string SandboxId, long Version) : StoreChange;

    /// <summary>Teams or API keys were added or revoked.</summary>
    public sealed record Keys : StoreChange;

    /// <summary>A webhook was created, changed or deleted.</summary>
    public sealed record Webhooks : StoreChange;

    internal const string Channel = "portal_changes";

    internal static string SandboxNote(string sandboxId, long version) => $"s:{version}:{sandboxId}";
    internal const string KeysNote = "k";
    internal const string WebhooksNote = "w";

    internal static StoreChange? Parse(string? note)
    {
        if (note is null) return new Resync();
        if (note == KeysNote) return new Keys();
        if (note == WebhooksNote) return new Webhooks();
        if (note.StartsWith("s:", StringComparison.Ordinal))
        {
            var colon = note.IndexOf(':', 2);
            if (colon > 2 && long.TryParse(note.AsSpan(2, colon - 2), out var version))
                return new Sandbox(note[(colon + 1)..], version);
        }
        return null; // a note of a newer portal version: nothing this one knows to read again
    }
}
