using Microsoft.Extensions.Options;
using Portal.Core.Auth;
using Portal.Core.Persistence;
using Portal.Core.Sandboxes;

namespace Portal.Core.Webhooks;

/// <summary>What a create or patch asks for; null = not given (a patch keeps the current value).</summary>
public sealed record WebhookInput(string? Name, string? Url, bool? Enabled, IReadOnlyList<string>? Events, string? SignatureSecret);

/// <summary>
/// A team's webhooks: a member sees and changes its own team's, an admin every team's (as the
/// events API shows an admin every team's events). Another team's webhook is "not found".
/// </summary>
public sealed class WebhookService(IPortalStore store, WebhookDispatcher dispatcher, IOptions<WebhookOptions> options, TimeProvider clock)
{
    public const int MaxNameLength = 128, MinSecretLength = 8, MaxSecretLength = 256;

    public async Task<IReadOnlyList<Webhook>> ListAsync(Caller caller, CancellationToken ct) =>
        await store.ListWebhooksAsync(caller.IsAdmin ? null : caller.TeamId, ct);

    public async Task<Webhook> GetAsync(Caller caller, string webhookId, CancellationToken ct) =>
        await store.FindWebhookAsync(webhookId, ct) is { } w && caller.CanSee(w.TeamId) ? w : throw NotFound(webhookId);

    public async Task<Webhook> CreateAsync(Caller caller, WebhookInput input, CancellationToken ct)
    {
        if (input.Url is null) throw DomainException.InvalidArgument("'url' is required: the receiver's http:// or https:// URL");
        if (input.SignatureSecret is null) throw DomainException.InvalidArgument($"'signatureSecret' is required ({MinSecretLength}-{MaxSecretLength} characters): deliveries are signed with it");
        if (input.Events is null) throw DomainException.InvalidArgument($"'events' is required: a non-empty list of event types ({string.Join(", ", SandboxEvents.Types)})");
        var webhook = new Webhook
        {
            Id = Guid.NewGuid().ToString(),
            TeamId = caller.TeamId,
            Name = input.Name ?? "",
            Url = input.Url,
            Enabled = input.Enabled ?? true,
            Events = input.Events,
            SignatureSecret = input.SignatureSecret,
            CreatedAt = Clock.TruncateToMs(clock.GetUtcNow()),
        };
        webhook = await ValidateAsync(webhook, ct);
        await store.AddWebhookAsync(webhook, ct);
        dispatcher.WebhooksChanged();
        return webhook;
    }

    /// <summary>Replaces the fields given, keeps the others (E2B's PATCH).</summary>
    public async Task<Webhook> UpdateAsync(Caller caller, string webhookId, WebhookInput input, CancellationToken ct)
    {
        var current = await GetAsync(caller, webhookId, ct);
        var updated = current with
        {
            Name = input.Name ?? current.Name,
            Url = input.Url ?? current.Url,
            Enabled = input.Enabled ?? current.Enabled,
            Events = input.Events ?? current.Events,
            SignatureSecret = input.SignatureSecret ?? current.SignatureSecret,
        };
        updated = await ValidateAsync(updated, ct, checkUrl: input.Url is not null);
        await store.UpdateWebhookAsync(updated, ct);
        dispatcher.WebhooksChanged();
        return updated;
    }

    public async Task DeleteAsync(Caller caller, string webhookId, CancellationToken ct)
    {
        await GetAsync(caller, webhookId, ct);
        if (!await store.DeleteWebhookAsync(webhookId, ct)) throw NotFound(webhookId);
        dispatcher.WebhooksChanged();
    }

    public async Task<IReadOnlyList<WebhookAttempt>> DeliveriesAsync(Caller caller, string webhookId, int limit, CancellationToken ct)
    {
        await GetAsync(caller, webhookId, ct);
        return await store.ListWebhookAttemptsAsync(webhookId, limit, ct);
    }

    private async Task<Webhook> ValidateAsync(Webhook w, CancellationToken ct, bool checkUrl = true)
    {
        if (w.Name.Length > MaxNameLength) throw DomainException.InvalidArgument($"'name' must be at most {MaxNameLength} characters (got {w.Name.Length})");
        if (w.Name.Any(char.IsControl)) throw DomainException.InvalidArgument("'name' must not contain control characters");
        if (w.SignatureSecret.Length is < MinSecretLength or > MaxSecretLength)
            throw DomainException.InvalidArgument($"'signatureSecret' must be {MinSecretLength}-{MaxSecretLength} characters (got {w.SignatureSecret.Length})");
        if (w.Events.Count == 0) throw DomainException.InvalidArgument($"'events' must name at least one event type ({string.Join(", ", SandboxEvents.Types)})");
        foreach (var type in w.Events)
            if (type is null || !SandboxEvents.Types.Contains(type))
                throw DomainException.InvalidArgument($"'events': unknown event type '{type}' (known: {string.Join(", ", SandboxEvents.Types)})");
        if (checkUrl && await WebhookTargetGuard.CheckUrlAsync(w.Url, options.Value.AllowPrivateTargets, ct) is { } refusal)
            throw DomainException.InvalidArgument(refusal);
        return w with { Events = w.Events.Distinct(StringComparer.Ordinal).ToList() };
    }

    private static DomainException NotFound(string webhookId) => DomainException.NotFound($"webhook '{webhookId}' not found");
}
