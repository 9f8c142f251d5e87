using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.DependencyInjection;
using Portal.Core.Runtime;
using Portal.Tests.Api;
using Portal.Tests.Web.Proxy;
using Portal.Web.Proxy;
using Portal.Web.Transport;
using static Portal.Tests.Api.Http;

namespace Portal.Tests.Web.Transport;

/// <summary>
/// The portal on its epoll transport (the default) and on Kestrel's socket transport
/// (<c>Portal:Transport=sockets</c>): the same traffic — the proxy's fast path, Kestrel's path with
/// large bodies both ways, the API — and where sandbox connections live. Every other test that
/// starts a <see cref="PortalHost"/> runs on the epoll transport too.
/// </summary>
public class EpollTransportTests
{
    public static TheoryData<string> Transports => new() { "epoll", "sockets" };

    [Theory]
    [MemberData(nameof(Transports))]
    public async Task BothTransports_CarryTheFastPath_KestrelsPath_AndTheApi(string transport)
    {
        var download = RandomNumberGenerator.GetBytes(6 << 20);
        await using var backend = RawBackend.Start(async c =>
        {
            while (await c.ReadRequestAsync() is { } request)
            {
                if (request.Head.StartsWith("GET /big", StringComparison.Ordinal))
                {
                    await c.WriteAsync($"HTTP/1.1 200 OK\r\nContent-Length: {download.Length}\r\n\r\n");
                    await c.WriteBytesAsync(download);
                }
                else await c.WriteAsync($"HTTP/1.1 200 OK\r\nContent-Length: {request.Body.Length}\r\n\r\n{request.Body}");
            }
        });
        await using var host = await PortalHost.StartAsync(config: new Dictionary<string, string?> { ["Portal:Transport"] = transport });
        host.Runtime.Backends[SandboxPorts.Envd] = backend.Port;
        var id = (string)(await host.Admin.CreateSandboxAsync())["sandboxID"]!;
        Assert.Equal(transport == "epoll", host.Services.GetServices<IConnectionListenerFactory>().Any(f => f is EpollTransportFactory));

        var client = host.Client(null);
        // Fast path: a small request.
        Assert.Equal("hi", await SendAsync(client, id, HttpMethod.Post, "/echo", new StringContent("hi")));
        // Kestrel's path: a chunked upload of 3 MB (the fast path hands it over), echoed back.
        var upload = new string('u', 3 << 20);
        var unsized = new StreamContent(new MemoryStream(Encoding.ASCII.GetBytes(upload)));
        unsized.Headers.ContentLength = null;
        using (var request = Routed(HttpMethod.Post, "/echo", id, unsized))
        {
            request.Headers.TransferEncodingChunked = true;
            using var response = await client.SendAsync(request, Ct);
            Assert.Equal(upload, await response.Content.ReadAsStringAsync(Ct));
        }
        // A 6 MB download read slowly: the portal's sends wait for room.
        using (var request = Routed(HttpMethod.Get, "/big", id))
        {
            using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, Ct);
            await using var body = await response.Content.ReadAsStreamAsync(Ct);
            await Task.Delay(200, Ct);
            var got = new MemoryStream();
            await body.CopyToAsync(got, Ct);
            Assert.Equal(SHA256.HashData(download), SHA256.HashData(got.ToArray()));
        }
        // The API on the same client.
        Assert.Equal(200, (await host.Admin.GetJsonAsync($"/sandboxes/{id}")).Status);

        // Sandbox connections join the portal's event loop with the epoll transport, not without.
        var pool = host.Services.GetRequiredService<UpstreamPool>();
        Assert.True(pool.OpenCount > 0);
        Assert.Equal(transport == "epoll" ? pool.OpenCount : 0, pool.DirectCount);
    }

    [Fact]
    public async Task RuntimeWithoutDirectEndpoints_IsReachedThroughItsStreams()
    {
        await using var backend = RawBackend.Start(async c =>
        {
            while (await c.ReadRequestAsync() is { } request)
                await c.WriteAsync($"HTTP/1.1 200 OK\r\nContent-Length: {request.Body.Length}\r\n\r\n{request.Body}");
        });
        await using var host = await PortalHost.StartAsync();
        host.Runtime.StreamsOnly = true;
        host.Runtime.Backends[SandboxPorts.Envd] = backend.Port;
        var id = (string)(await host.Admin.CreateSandboxAsync())["sandboxID"]!;
        var client = host.Client(null);
        Assert.Equal("small", await SendAsync(client, id, HttpMethod.Post, "/echo", new StringContent("small")));
        var large = new string('l', 100_000);
        Assert.Equal(large, await SendAsync(client, id, HttpMethod.Post, "/echo", new StringContent(large)));
        var pool = host.Services.GetRequiredService<UpstreamPool>();
        Assert.True(pool.OpenCount > 0);
        Assert.Equal(0, pool.DirectCount);
    }

    [Fact]
    public async Task KilledSandbox_CutsItsDirectConnections()
    {
        await using var backend = RawBackend.Start(async c =>
        {
            while (await c.ReadRequestAsync() is not null) await c.WriteAsync("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
        });
        await using var host = await PortalHost.StartAsync();
        host.Runtime.Backends[SandboxPorts.Envd] = backend.Port;
        var id = (string)(await host.Admin.CreateSandboxAsync())["sandboxID"]!;
        Assert.Equal("ok", await SendAsync(host.Client(null), id, HttpMethod.Get, "/x"));
        var pool = host.Services.GetRequiredService<UpstreamPool>();
        Assert.Equal(1, pool.DirectCount);
        Assert.Equal(204, (await host.Admin.DeleteJsonAsync($"/sandboxes/{id}")).Status);
        for (var i = 0; i < 200 && pool.OpenCount > 0; i++) await Task.Delay(10, Ct);
        Assert.Equal(0, pool.OpenCount);
    }

    private static HttpRequestMessage Routed(HttpMethod method, string path, string id, HttpContent? content = null)
    {
        var request = new HttpRequestMessage(method, path) { Content = content };
        request.Headers.Add("E2b-Sandbox-Id", id);
        request.Headers.Add("E2b-Sandbox-Port", SandboxPorts.Envd.ToString());
        return request;
    }

    private static async Task<string> SendAsync(HttpClient client, string id, HttpMethod method, string path, HttpContent? content = null)
    {
        using var request = Routed(method, path, id, content);
        using var response = await client.SendAsync(request, Ct);
        Assert.Equal(System.Net.HttpStatusCode.OK, response.StatusCode);
        return await response.Content.ReadAsStringAsync(Ct);
    }
}
