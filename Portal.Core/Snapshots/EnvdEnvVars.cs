using System.Net.Http.Json;
using Portal.Core.Runtime;
using Portal.Core.Sandboxes;

namespace Portal.Core.Snapshots;

/// <summary>
/// The env vars a sandbox was started with, read from its envd (<c>GET /envs</c>) over the runtime's
/// own connection: the record does not keep them, and a fork that boots fresh must start with them.
/// (The dashboard's envd client lives in Portal.Web; this one call is all Portal.Core needs.)
/// </summary>
internal static class EnvdEnvVars
{
    public static async Task<IReadOnlyDictionary<string, string>> ReadAsync(ISandboxRuntime runtime, SandboxRecord sandbox, CancellationToken ct)
    {
        using var http = new HttpClient(new SocketsHttpHandler
        {
            ConnectCallback = async (_, c) => await runtime.ConnectAsync(sandbox.SandboxId, SandboxPorts.Envd, c),
        })
        { BaseAddress = new Uri("http://envd"), Timeout = TimeSpan.FromSeconds(15) };
        using var req = new HttpRequestMessage(HttpMethod.Get, "/envs");
        if (sandbox.EnvdAccessToken is { } token) req.Headers.Add("X-Access-Token", token);
        try
        {
            using var res = await http.SendAsync(req, ct);
            res.EnsureSuccessStatusCode();
            return await res.Content.ReadFromJsonAsync<Dictionary<string, string>>(ct) ?? [];
        }
        catch (Exception e) when (e is HttpRequestException or IOException or System.Text.Json.JsonException or TaskCanceledException && !ct.IsCancellationRequested)
        {
            throw new DomainException(DomainErrorKind.Unavailable, $"the sandbox's envd did not give its env vars: {e.Message}", e);
        }
    }
}
