using System.Text.Json;

namespace Portal.Envd.Sandbox;

/// <summary><c>/health</c>, <c>/init</c>, <c>/envs</c>, <c>/metrics</c>: the routes the portal itself uses.</summary>
public static class SandboxEndpoints
{
    public static void MapSandbox(this IEndpointRouteBuilder app, EnvdState state, MetricsSampler metrics)
    {
        app.MapGet("/health", (HttpContext http) =>
        {
            http.Response.StatusCode = 204;
            return Task.CompletedTask;
        });

        app.MapGet("/envs", async (HttpContext http) =>
        {
            http.Response.ContentType = "application/json";
            await JsonSerializer.SerializeAsync(http.Response.Body, new Dictionary<string, string>(state.EnvVars), SandboxJsonContext.Default.DictionaryStringString);
        });

        app.MapGet("/metrics", async (HttpContext http) =>
        {
            http.Response.ContentType = "application/json";
            await JsonSerializer.SerializeAsync(http.Response.Body, metrics.Sample(), SandboxJsonContext.Default.MetricsResponse);
        });

        app.MapPost("/init", async (HttpContext http) =>
        {
            // Once a token is set, only its holder may re-initialise the sandbox.
            if (state.AccessToken is { } current &&
                !AccessTokenMiddleware.Matches(http.Request.Headers[AccessTokenMiddleware.Header].ToString(), current))
            {
                await HttpErrors.WriteAsync(http.Response, 401, "unauthorized access, please provide a valid access token");
                return;
            }
            InitRequest? body;
            try
            {
                body = http.Request.ContentLength == 0
                    ? new InitRequest()
                    : await JsonSerializer.DeserializeAsync(http.Request.Body, SandboxJsonContext.Default.InitRequest, http.RequestAborted);
            }
            catch (JsonException e)
            {
                await HttpErrors.WriteAsync(http.Response, 400, $"invalid JSON body: {e.Message}");
                return;
            }
            body ??= new InitRequest();
            if (body.EnvVars is { } vars) state.MergeEnvVars(vars);
            if (!string.IsNullOrEmpty(body.AccessToken)) state.AccessToken = body.AccessToken;
            if (!string.IsNullOrEmpty(body.DefaultUser)) state.DefaultUser = body.DefaultUser;
            if (!string.IsNullOrEmpty(body.DefaultWorkdir)) state.DefaultWorkdir = body.DefaultWorkdir;
            http.Response.StatusCode = 204;
        });
    }
}
