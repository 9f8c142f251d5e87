using System.Collections.Concurrent;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Portal.Tests.Templates.Images;

/// <summary>
/// A small OCI distribution registry on 127.0.0.1 (plain HTTP) serving the images the test puts in
/// it. With <see cref="RequireToken"/> it answers like Docker Hub: 401 with a Bearer challenge whose
/// realm is its own /token endpoint, which hands out a token (checking basic credentials when
/// <see cref="Username"/> is set).
/// </summary>
public sealed class FakeRegistry : IAsyncDisposable
{
    private const string Token = "fake-registry-token";
    private readonly WebApplication _app;
    private readonly Dictionary<string, OciTestImage> _repos = [];
    public ConcurrentQueue<string> Requests { get; } = new();
    public bool RequireToken { get; set; }
    public string? Username { get; set; }
    public string? Password { get; set; }
    /// <summary>Blobs served with one byte changed (a registry or network that corrupts content).</summary>
    public bool CorruptBlobs { get; set; }
    public string Host { get; private set; } = "";

    private FakeRegistry()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        _app = builder.Build();
        _app.Run(HandleAsync);
    }

    public static async Task<FakeRegistry> StartAsync()
    {
        var r = new FakeRegistry();
        await r._app.StartAsync(TestContext.Current.CancellationToken);
        r.Host = new Uri(r._app.Urls.First()).Authority;
        return r;
    }

    public void Push(string repository, OciTestImage image) => _repos[repository] = image;

    private async Task HandleAsync(HttpContext ctx)
    {
        var path = ctx.Request.Path.Value ?? "";
        Requests.Enqueue($"{ctx.Request.Method} {path}");
        if (path == "/token")
        {
            if (Username is not null)
            {
                var expected = "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes($"{Username}:{Password}"));
                if (ctx.Request.Headers.Authorization != expected) { ctx.Response.StatusCode = 401; return; }
            }
            if (ctx.Request.Query["service"] != "fake-registry" || !ctx.Request.Query["scope"].ToString().StartsWith("repository:", StringComparison.Ordinal))
            { ctx.Response.StatusCode = 400; return; }
            await ctx.Response.WriteAsJsonAsync(new { token = Token });
            return;
        }
        if (!path.StartsWith("/v2/", StringComparison.Ordinal)) { ctx.Response.StatusCode = 404; return; }
        if (RequireToken && ctx.Request.Headers.Authorization != "Bearer " + Token)
        {
            ctx.Response.StatusCode = 401;
            ctx.Response.Headers.WWWAuthenticate = $"Bearer realm=\"http://{Host}/token\",service=\"fake-registry\",scope=\"repository:{RepoOf(path)}:pull\"";
            return;
        }
        var kind = path.Contains("/manifests/") ? "manifests" : path.Contains("/blobs/") ? "blobs" : null;
        if (kind is null || !_repos.TryGetValue(RepoOf(path), out var image)) { ctx.Response.StatusCode = 404; return; }
        var reference = path[(path.LastIndexOf('/') + 1)..];
        byte[]? body = kind == "manifests" && !reference.StartsWith("sha256:", StringComparison.Ordinal)
            ? image.Index
            : image.Blobs.GetValueOrDefault(reference);
        if (body is null) { ctx.Response.StatusCode = 404; return; }
        if (kind == "blobs" && CorruptBlobs) { body = (byte[])body.Clone(); body[^1] ^= 0xff; }
        ctx.Response.ContentType = kind == "manifests" ? (body == image.Index ? "application/vnd.oci.image.index.v1+json" : "application/vnd.oci.image.manifest.v1+json") : "application/octet-stream";
        ctx.Response.ContentLength = body.Length;
        await ctx.Response.Body.WriteAsync(body);
    }

    private static string RepoOf(string path)
    {
        var rest = path["/v2/".Length..];
        var cut = rest.IndexOf("/manifests/", StringComparison.Ordinal);
        if (cut < 0) cut = rest.IndexOf("/blobs/", StringComparison.Ordinal);
        return cut < 0 ? rest : rest[..cut];
    }

    public async ValueTask DisposeAsync() => await _app.DisposeAsync();
}
