using Microsoft.Extensions.Options;
using Portal.Core.Webhooks;

namespace Portal.Web.Options;

internal sealed class WebhookOptionsValidator : IValidateOptions<WebhookOptions>
{
    public ValidateOptionsResult Validate(string? name, WebhookOptions o)
    {
        const string s = WebhookOptions.Section;
        var errors = new List<string>();
        if (o.MaxConcurrency is < 1 or > 10_000) errors.Add($"{s}:MaxConcurrency must be between 1 and 10000 (got {o.MaxConcurrency}).");
        if (o.RequestTimeout <= TimeSpan.Zero) errors.Add($"{s}:RequestTimeout must be positive, e.g. '00:00:10' (got '{o.RequestTimeout}').");
        if (o.ConnectTimeout <= TimeSpan.Zero) errors.Add($"{s}:ConnectTimeout must be positive, e.g. '00:00:05' (got '{o.ConnectTimeout}').");
        if (o.RetryInitialDelay <= TimeSpan.Zero) errors.Add($"{s}:RetryInitialDelay must be positive, e.g. '00:00:01' (got '{o.RetryInitialDelay}').");
        if (o.RetryMaxDelay < o.RetryInitialDelay)
            errors.Add($"{s}:RetryMaxDelay must be at least {s}:RetryInitialDelay ({o.RetryInitialDelay}) (got '{o.RetryMaxDelay}').");
        if (o.GiveUpAfter <= TimeSpan.Zero) errors.Add($"{s}:GiveUpAfter must be positive, e.g. '1.00:00:00' (got '{o.GiveUpAfter}').");
        if (o.DeliveryLogSize is < 1 or > 100_000) errors.Add($"{s}:DeliveryLogSize must be between 1 and 100000 (got {o.DeliveryLogSize}).");
        if (o.PollInterval <= TimeSpan.Zero || o.PollInterval > TimeSpan.FromMinutes(1))
            errors.Add($"{s}:PollInterval must be positive and at most a minute, e.g. '00:00:00.250' (got '{o.PollInterval}').");
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
