using System.Net.Http.Json;
using System.Text.Json.Serialization;

namespace Portal.Core.Runtime.Kubernetes;

/// <summary>The portal's own calls to a pod's envd, straight to <c>podIP:49983</c>.</summary>
public sealed class PodEnvdClient : IDisposable
{
    private readonly HttpClient _http = new(new SocketsHttpHandler
    {
        PooledConnectionIdleTimeout = TimeSpan.FromSeconds(30),
        ConnectTimeout = TimeSpan.FromSeconds(5),
        UseProxy = false,
    })
    { Timeout = TimeSpan.FromSeconds(30) };

    private static Uri Url(string podIp, string path) => new($"http://{(podIp.Contains(':') ? $"[{podIp}]" : podIp)}:{SandboxPorts.Envd}{path}");

    public async Task<bool> IsHealthyAsync(string podIp, CancellationToken ct)
    {
        try
        {
            using var res = await _http.GetAsync(Url(podIp, "/health"), ct);
            return (int)res.StatusCode == 204;
        }
        catch (Exception e) when (e is HttpRequestException or IOException || (e is TaskCanceledException && !ct.IsCancellationRequested))
        {
            return false;
        }
    }

    public async Task InitAsync(string podIp, SandboxPods.InitData init, string? previousToken, CancellationToken ct)
    {
        using var req = new HttpRequestMessage(HttpMethod.Post, Url(podIp, "/init"))
        {
            Content = JsonContent.Create(new Dictionary<string, object?>
            {
                ["envVars"] = init.EnvVars,
                ["accessToken"] = init.AccessToken,
                ["defaultUser"] = "user",
            }),
        };
        if (previousToken is not null) req.Headers.Add("X-Access-Token", previousToken);
        using var res = await _http.SendAsync(req, ct);
        if (!res.IsSuccessStatusCode) throw new InvalidOperationException($"envd /init at {podIp} failed: {(int)res.StatusCode} {await res.Content.ReadAsStringAsync(ct)}");
    }

    /// <summary>POST /_portal/freeze or /_portal/thaw.</summary>
    public async Task SignalAsync(string podIp, bool freeze, string? token, CancellationToken ct)
    {
        using var req = new HttpRequestMessage(HttpMethod.Post, Url(podIp, freeze ? "/_portal/freeze" : "/_portal/thaw"));
        if (token is not null) req.Headers.Add("X-Access-Token", token);
        using var res = await _http.SendAsync(req, ct);
        if (!res.IsSuccessStatusCode) throw new InvalidOperationException($"envd {(freeze ? "freeze" : "thaw")} at {podIp} failed: {(int)res.StatusCode}");
    }

    public async Task<EnvdMetrics?> MetricsAsync(string podIp, string? token, CancellationToken ct)
    {
        using var req = new HttpRequestMessage(HttpMethod.Get, Url(podIp, "/metrics"));
        if (token is not null) req.Headers.Add("X-Access-Token", token);
        using var res = await _http.SendAsync(req, ct);
        return res.IsSuccessStatusCode ? await res.Content.ReadFromJsonAsync<EnvdMetrics>(ct) : null;
    }

    public void Dispose() => _http.Dispose();

    public sealed class EnvdMetrics
    {
        [JsonPropertyName("cpu_count")] public int CpuCount { get; set; }
        [JsonPropertyName("cpu_used_pct")] public double CpuUsedPct { get; set; }
        [JsonPropertyName("mem_total")] public long MemTotal { get; set; }
        [JsonPropertyName("mem_used")] public long MemUsed { get; set; }
        [JsonPropertyName("mem_cache")] public long MemCache { get; set; }
        [JsonPropertyName("disk_used")] public long DiskUsed { get; set; }
        [JsonPropertyName("disk_total")] public long DiskTotal { get; set; }
    }
}
