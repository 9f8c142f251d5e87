using Portal.Core.Sandboxes;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Portal.Core.Runtime;
using Portal.Web.Hosting;

namespace Portal.Tests.Api;

/// <summary>
/// The real portal (Kestrel on a free loopback port, in-process) over a <see cref="FakeSandboxRuntime"/>,
/// with its own SQLite file in a temp data dir and a known admin key.
/// </summary>
public sealed class PortalHost : IAsyncDisposable
{
    public const string AdminKey = "e2b_00000000000000000000000000000000000000aa";
    /// <summary>The dashboard's first admin (user "admin").</summary>
    public const string AdminPassword = "test-admin-password";

    private readonly WebApplication _app;
    private readonly bool _ownsDataDir;

    private PortalHost(WebApplication app, Uri address, FakeSandboxRuntime runtime, string dataDir, bool ownsDataDir)
    {
        _app = app;
        BaseAddress = address;
        Runtime = runtime;
        DataDir = dataDir;
        _ownsDataDir = ownsDataDir;
        Admin = Client(AdminKey);
    }

    public Uri BaseAddress { get; }
    public FakeSandboxRuntime Runtime { get; }
    public string DataDir { get; }
    public HttpClient Admin { get; }
    public IServiceProvider Services => _app.Services;
    public string DatabasePath => Path.Combine(DataDir, "portal.db");

    public static string NewDataDir() => Directory.CreateTempSubdirectory("portal-test-").FullName;

    public static async Task<PortalHost> StartAsync(
        FakeSandboxRuntime? runtime = null,
        string? dataDir = null,
        IDictionary<string, string?>? config = null,
        TimeProvider? clock = null,
        bool keepDataDir = false,
        string? adminKey = AdminKey,
        Action<WebApplicationBuilder>? configure = null)
    {
        runtime ??= new FakeSandboxRuntime();
        var ownsDataDir = dataDir is null && !keepDataDir;
        dataDir ??= NewDataDir();
        var settings = new Dictionary<string, string?>
        {
            ["Portal:DataDir"] = dataDir,
            ["Portal:AdminApiKey"] = adminKey,
            ["Portal:Dashboard:AdminPassword"] = AdminPassword,
            ["Portal:Sandboxes:DeadlineCheckInterval"] = "00:00:00.200",
            ["Portal:Sandboxes:MetricsSampleInterval"] = "00:00:00.500",
        };
        if (Persistence.TestDatabase.ConnectionStringFor(dataDir) is { } database) settings["Portal:Database"] = database;
        foreach (var (k, v) in config ?? new Dictionary<string, string?>()) settings[k] = v;
        var app = PortalWebApplication.Build(["--urls", "http://127.0.0.1:0"], b =>
        {
            b.Configuration.AddInMemoryCollection(settings);
            b.Logging.ClearProviders();
            b.Logging.SetMinimumLevel(LogLevel.Warning);
            b.Services.AddSingleton<ISandboxRuntime>(runtime);
            if (clock is not null) b.Services.AddSingleton(clock);
            configure?.Invoke(b);
        });
        try
        {
            await app.StartAsync(TestContext.Current.CancellationToken);
        }
        catch
        {
            await app.DisposeAsync();
            if (ownsDataDir) { Persistence.TestDatabase.Drop(dataDir); try { Directory.Delete(dataDir, true); } catch (IOException) { } }
            throw;
        }
        var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses;
        var address = addresses.FirstOrDefault(a => a.StartsWith("http:", StringComparison.Ordinal)) ?? addresses.First();
        return new PortalHost(app, new Uri(address), runtime, dataDir, ownsDataDir);
    }

    /// <summary>
    /// Follows every sandbox change from now on (subscribe before the action whose effect a test
    /// waits for): tests wait on the change they expect, never on the clock.
    /// </summary>
    public SandboxSubscription FollowChanges() =>
        Services.GetRequiredService<SandboxChangeStream>().Subscribe(_ => true, capacity: 100_000);

    public HttpClient Client(string? apiKey)
    {
        var c = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(30) };
        if (apiKey is not null) c.DefaultRequestHeaders.Add("X-API-Key", apiKey);
        return c;
    }

    /// <summary>Stops the host (the runtime lives on, like a real one across a portal restart).</summary>
    public async Task StopAsync()
    {
        await _app.StopAsync(CancellationToken.None);
        await _app.DisposeAsync();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
    }

    public async ValueTask DisposeAsync()
    {
        try { await StopAsync(); } catch (ObjectDisposedException) { }
        if (_ownsDataDir) { Persistence.TestDatabase.Drop(DataDir); try { Directory.Delete(DataDir, true); } catch (IOException) { } }
    }
}

/// <summary>Small helpers so tests read as the wire they check.</summary>
public static class Changes
{
    /// <summary>The next change of <paramref name="sandboxId"/> that <paramref name="match"/> accepts (fails after 10 s).</summary>
    public static async Task<SandboxChange> NextAsync(this SandboxSubscription sub, string sandboxId, Func<SandboxChange, bool> match)
    {
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        limit.CancelAfter(TimeSpan.FromSeconds(10));
        try
        {
            await foreach (var c in sub.Changes.ReadAllAsync(limit.Token))
                if (c.Sandbox.SandboxId == sandboxId && match(c)) return c;
        }
        catch (OperationCanceledException) when (!TestContext.Current.CancellationToken.IsCancellationRequested) { }
        Assert.Fail($"no such change of sandbox '{sandboxId}' within 10 s");
        return null!;
    }
}

public static class Http
{
    public static CancellationToken Ct => TestContext.Current.CancellationToken;

    public static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    public static async Task<(int Status, JsonNode? Body)> SendAsync(this HttpClient c, HttpMethod method, string url, string? json = null, string? contentType = "application/json")
    {
        using var req = new HttpRequestMessage(method, url);
        if (json is not null)
        {
            req.Content = new StringContent(json, Encoding.UTF8);
            req.Content.Headers.ContentType = contentType is null ? null : new System.Net.Http.Headers.MediaTypeHeaderValue(contentType);
        }
        using var res = await c.SendAsync(req, Ct);
        var text = await res.Content.ReadAsStringAsync(Ct);
        JsonNode? body = null;
        if (text.Length > 0)
        {
            try { body = JsonNode.Parse(text); } catch (JsonException) { body = JsonValue.Create(text); }
        }
        return ((int)res.StatusCode, body);
    }

    public static Task<(int Status, JsonNode? Body)> PostJsonAsync(this HttpClient c, string url, string json = "{}") => c.SendAsync(HttpMethod.Post, url, json);
    public static Task<(int Status, JsonNode? Body)> GetJsonAsync(this HttpClient c, string url) => c.SendAsync(HttpMethod.Get, url);
    public static Task<(int Status, JsonNode? Body)> DeleteJsonAsync(this HttpClient c, string url) => c.SendAsync(HttpMethod.Delete, url);

    /// <summary>Creates a sandbox through v2 and returns its JSON.</summary>
    public static async Task<JsonNode> CreateSandboxAsync(this HttpClient c, string body = """{"templateID":"base"}""")
    {
        var (status, json) = await c.PostJsonAsync("/v2/sandboxes", body);
        Assert.True(status == 201, $"create answered {status}: {json?.ToJsonString()}");
        return json!;
    }

    /// <summary>Asserts E2B's error shape: {"code": status, "message": non-empty}.</summary>
    public static void AssertError((int Status, JsonNode? Body) r, int status, string? messageContains = null)
    {
        Assert.True(r.Status == status, $"expected {status}, got {r.Status}: {r.Body?.ToJsonString()}");
        Assert.NotNull(r.Body);
        Assert.Equal(status, (int)r.Body!["code"]!);
        var message = (string?)r.Body["message"];
        Assert.False(string.IsNullOrEmpty(message));
        if (messageContains is not null) Assert.Contains(messageContains, message, StringComparison.OrdinalIgnoreCase);
    }
}
