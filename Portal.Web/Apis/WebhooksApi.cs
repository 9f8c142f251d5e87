using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using Portal.Core;
using Portal.Core.Webhooks;
using Portal.Web.Auth;

namespace Portal.Web.Apis;

/// <summary>
/// E2B's webhooks API: <c>/events/webhooks</c> create (201), list, get, patch (the fields given),
/// delete (200), per team (an admin: every team's), also under <c>/kruise/api</c>. The secret is
/// never returned. <c>GET /events/webhooks/{id}/deliveries</c> (the portal's own) is the delivery log.
/// </summary>
public static class WebhooksApi
{
    public sealed class WebhookBody
    {
        [JsonPropertyName("name")] public string? Name { get; set; }
        [JsonPropertyName("url")] public string? Url { get; set; }
        [JsonPropertyName("enabled")] public bool? Enabled { get; set; }
        [JsonPropertyName("events")] public List<string>? Events { get; set; }
        [JsonPropertyName("signatureSecret")] public string? SignatureSecret { get; set; }

        public WebhookInput ToInput() => new(Name, Url, Enabled, Events, SignatureSecret);
    }

    public sealed record DeliveryDto(
        [property: JsonPropertyName("deliveryID")] string DeliveryId,
        [property: JsonPropertyName("eventID")] string EventId,
        [property: JsonPropertyName("sandboxID")] string SandboxId,
        [property: JsonPropertyName("attempt")] int Attempt,
        [property: JsonPropertyName("timestamp")] DateTimeOffset Timestamp,
        [property: JsonPropertyName("outcome")] string Outcome,
        [property: JsonPropertyName("statusCode")] int? StatusCode,
        [property: JsonPropertyName("latencyMs")] long LatencyMs,
        [property: JsonPropertyName("error")] string? Error,
        [property: JsonPropertyName("nextAttemptAt")] DateTimeOffset? NextAttemptAt);

    public static IEndpointRouteBuilder MapWebhooksApi(this IEndpointRouteBuilder root)
    {
        var g = root.MapGroup("/events/webhooks").RequireCaller().WithTags("webhooks");
        g.MapGet("", async (HttpContext ctx, WebhookService hooks) =>
            TypedResults.Ok((await hooks.ListAsync(ctx.Caller(), ctx.RequestAborted)).Select(From).ToList()));
        g.MapPost("", async (HttpContext ctx, WebhookService hooks) =>
        {
            var body = await ApiRequest.ReadBodyAsync<WebhookBody>(ctx);
            var created = await hooks.CreateAsync(ctx.Caller(), body.ToInput(), ctx.RequestAborted);
            return TypedResults.Json(From(created), statusCode: StatusCodes.Status201Created);
        });
        g.MapGet("/{webhookID}", async (HttpContext ctx, WebhookService hooks, string webhookID) =>
            TypedResults.Ok(From(await hooks.GetAsync(ctx.Caller(), webhookID, ctx.RequestAborted))));
        g.MapPatch("/{webhookID}", async (HttpContext ctx, WebhookService hooks, string webhookID) =>
        {
            var body = await ApiRequest.ReadBodyAsync<WebhookBody>(ctx, () => new WebhookBody());
            return TypedResults.Ok(From(await hooks.UpdateAsync(ctx.Caller(), webhookID, body.ToInput(), ctx.RequestAborted)));
        });
        g.MapDelete("/{webhookID}", async (HttpContext ctx, WebhookService hooks, string webhookID) =>
        {
            await hooks.DeleteAsync(ctx.Caller(), webhookID, ctx.RequestAborted);
            return TypedResults.Ok(new { id = webhookID, deleted = true });
        });
        g.MapGet("/{webhookID}/deliveries", async (HttpContext ctx, WebhookService hooks, string webhookID) =>
        {
            var limit = ApiRequest.QueryInt(ctx, "limit", 1, 1000) ?? 100;
            var log = await hooks.DeliveriesAsync(ctx.Caller(), webhookID, limit, ctx.RequestAborted);
            return TypedResults.Ok(log.Select(a => new DeliveryDto(a.DeliveryId, a.EventId, a.SandboxId, a.Attempt, a.At, Outcome(a.Outcome),
                a.StatusCode, a.LatencyMs, a.Error, a.NextAttemptAt)).ToList());
        });
        return root;
    }

    /// <summary>
    /// The <c>Webhook</c> object, with the team ID under both spellings E2B's docs have used. A JSON
    /// object rather than a record: the web serializer matches names case-insensitively, so two
    /// properties named teamID and teamId would collide.
    /// </summary>
    private static JsonObject From(Webhook w) => new()
    {
        ["id"] = w.Id,
        ["teamID"] = w.TeamId,
        ["teamId"] = w.TeamId,
        ["name"] = w.Name,
        ["createdAt"] = Clock.Rfc3339(w.CreatedAt),
        ["enabled"] = w.Enabled,
        ["url"] = w.Url,
        ["events"] = new JsonArray(w.Events.Select(e => (JsonNode?)e).ToArray()),
    };

    private static string Outcome(WebhookDeliveryOutcome o) => o switch
    {
        WebhookDeliveryOutcome.Delivered => "delivered",
        WebhookDeliveryOutcome.Failed => "failed",
        _ => "given_up",
    };
}
