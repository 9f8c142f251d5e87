using Portal.Core.Auth;

namespace Portal.Web.Apis;

/// <summary>The <c>X-API-Key</c> check every control-plane route group carries.</summary>
public static class ApiKeyAuth
{
    public const string Header = "X-API-Key";

    public static RouteGroupBuilder RequireApiKey(this RouteGroupBuilder group)
    {
        group.AddEndpointFilter(async (ctx, next) =>
        {
            var http = ctx.HttpContext;
            var keys = http.RequestServices.GetRequiredService<ApiKeyService>();
            var (caller, error) = await keys.AuthenticateAsync(http.Request.Headers[Header].FirstOrDefault(), http.RequestAborted);
            if (caller is null) return ApiErrors.Result(StatusCodes.Status401Unauthorized, error!);
            http.Items[typeof(Caller)] = caller;
            return await next(ctx);
        });
        return group;
    }
}
