using System.Text.Json.Serialization;
using Portal.Core.Auth;
using Portal.Web.Auth;

namespace Portal.Web.Apis;

/// <summary><c>/teams</c>: the caller's team (an admin: all, and it creates teams).</summary>
public static class TeamsApi
{
    public sealed class NewTeamBody
    {
        [JsonPropertyName("name")] public string? Name { get; set; }
    }

    public sealed record TeamDto(
        [property: JsonPropertyName("teamID")] string TeamId,
        [property: JsonPropertyName("name")] string Name,
        [property: JsonPropertyName("isDefault")] bool IsDefault,
        [property: JsonPropertyName("isAdmin")] bool IsAdmin,
        [property: JsonPropertyName("createdAt")] DateTimeOffset CreatedAt);

    public static IEndpointRouteBuilder MapTeamsApi(this IEndpointRouteBuilder root)
    {
        var g = root.MapGroup("/teams").RequireCaller().WithTags("teams");
        g.MapGet("", (HttpContext ctx, ApiKeyService keys) =>
        {
            var caller = ctx.Caller();
            return TypedResults.Ok(keys.ListTeams(caller).Select(t => From(t, caller)).ToList());
        });
        g.MapPost("", async (HttpContext ctx, ApiKeyService keys) =>
        {
            var body = await ApiRequest.ReadBodyAsync<NewTeamBody>(ctx);
            var team = await keys.CreateTeamAsync(ctx.Caller(), body.Name, ctx.RequestAborted);
            return TypedResults.Json(From(team, ctx.Caller()), statusCode: StatusCodes.Status201Created);
        });
        return root;
    }

    private static TeamDto From(Team t, Caller caller) => new(t.TeamId, t.Name, t.TeamId == caller.TeamId, t.IsAdmin, t.CreatedAt);
}
