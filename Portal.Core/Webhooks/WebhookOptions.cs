namespace Portal.Core.Webhooks;

/// <summary>Configuration section <c>Portal:Webhooks</c>.</summary>
public sealed class WebhookOptions
{
    public const string Section = "Portal:Webhooks";

    /// <summary>
    /// Lets webhook URLs reach loopback, link-local, private, CGNAT, unspecified and multicast
    /// addresses (refused by default: a webhook must not become a way into the portal's network).
    /// </summary>
    public bool AllowPrivateTargets { get; set; }
    /// <summary>Deliveries in flight at once, over all webhooks.</summary>
    public int MaxConcurrency { get; set; } = 64;
    /// <summary>One attempt: connect, send, and the receiver's answer.</summary>
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(10);
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(5);
    /// <summary>Wait after the first failed attempt; doubled after each further one (±20% jitter).</summary>
    public TimeSpan RetryInitialDelay { get; set; } = TimeSpan.FromSeconds(1);
    /// <summary>The longest wait between two attempts.</summary>
    public TimeSpan RetryMaxDelay { get; set; } = TimeSpan.FromMinutes(5);
    /// <summary>An event not delivered this long after it was written is given up (recorded in the delivery log).</summary>
    public TimeSpan GiveUpAfter { get; set; } = TimeSpan.FromHours(24);
    /// <summary>Attempts kept per webhook in the delivery log (newest first).</summary>
    public int DeliveryLogSize { get; set; } = 100;
    /// <summary>
    /// How often the dispatcher looks for new outbox rows when nothing woke it (every sandbox
    /// change wakes it; this is the safety net).
    /// </summary>
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromSeconds(1);
}
