using System.Text.Json.Serialization;
using Portal.Core.Auth;
using Portal.Web.Auth;

namespace Portal.Web.Apis;

/// <summary><c>/api-keys</c>: list, create (secret shown once), revoke.</summary>
public static class ApiKeysApi
{
    public sealed class NewApiKeyBody
    {
        [JsonPropertyName("name")] public string? Name { get; set; }
        /// <summary>Admin only: issue the key for another team.</summary>
        [JsonPropertyName("teamID")] public string? TeamId { get; set; }
        [JsonPropertyName("expiresAt")] public DateTimeOffset? ExpiresAt { get; set; }
    }

    public sealed record MaskDto(
        [property: JsonPropertyName("prefix")] string Prefix,
        [property: JsonPropertyName("valueLength")] int ValueLength,
        [property: JsonPropertyName("maskedValuePrefix")] string MaskedValuePrefix,
        [property: JsonPropertyName("maskedValueSuffix")] string MaskedValueSuffix);

    public sealed record CreatorDto(
        [property: JsonPropertyName("id")] string Id,
        [property: JsonPropertyName("name")] string? Name);

    public record ApiKeyDto
    {
        [JsonPropertyName("id")] public required string Id { get; init; }
        [JsonPropertyName("name")] public required string Name { get; init; }
        [JsonPropertyName("teamID")] public required string TeamId { get; init; }
        [JsonPropertyName("mask")] public required MaskDto Mask { get; init; }
        [JsonPropertyName("createdAt")] public required DateTimeOffset CreatedAt { get; init; }
        [JsonPropertyName("createdBy")] public CreatorDto? CreatedBy { get; init; }
        [JsonPropertyName("lastUsed")] public DateTimeOffset? LastUsed { get; init; }
        [JsonPropertyName("expiresAt")] public DateTimeOffset? ExpiresAt { get; init; }
    }

    public sealed record CreatedApiKeyDto : ApiKeyDto
    {
        /// <summary>The secret: returned here once and never again.</summary>
        [JsonPropertyName("key")] public required string Key { get; init; }
    }

    public static IEndpointRouteBuilder MapApiKeysApi(this IEndpointRouteBuilder root)
    {
        var g = root.MapGroup("/api-keys").RequireCaller().WithTags("api-keys");
        g.MapGet("", (HttpContext ctx, ApiKeyService keys) =>
            TypedResults.Ok(keys.ListKeys(ctx.Caller(), ApiRequest.Query(ctx, "teamID")).Select(From).ToList()));
        g.MapPost("", async (HttpContext ctx, ApiKeyService keys) =>
        {
            var body = await ApiRequest.ReadBodyAsync<NewApiKeyBody>(ctx);
            var created = await keys.CreateKeyAsync(ctx.Caller(), body.Name, body.TeamId, body.ExpiresAt, ctx.RequestAborted);
            var dto = From(created.Key);
            return TypedResults.Json(new CreatedApiKeyDto
            {
                Id = dto.Id, Name = dto.Name, TeamId = dto.TeamId, Mask = dto.Mask, CreatedAt = dto.CreatedAt,
                CreatedBy = dto.CreatedBy, LastUsed = dto.LastUsed, ExpiresAt = dto.ExpiresAt, Key = created.Secret,
            }, statusCode: StatusCodes.Status201Created);
        });
        g.MapDelete("/{apiKeyID}", async (HttpContext ctx, ApiKeyService keys, string apiKeyID) =>
        {
            await keys.RevokeAsync(ctx.Caller(), apiKeyID, ctx.RequestAborted);
            return TypedResults.NoContent();
        });
        return root;
    }

    private static ApiKeyDto From(ApiKey k) => new()
    {
        Id = k.Id, Name = k.Name, TeamId = k.TeamId,
        Mask = new MaskDto(ApiKeyFormat.Prefix, ApiKeyFormat.HexLength, ApiKeyFormat.Prefix, k.MaskSuffix),
        CreatedAt = k.CreatedAt,
        CreatedBy = k.CreatedById is null ? null : new CreatorDto(k.CreatedById, k.CreatedByName),
        LastUsed = k.LastUsedAt, ExpiresAt = k.ExpiresAt,
    };
}
