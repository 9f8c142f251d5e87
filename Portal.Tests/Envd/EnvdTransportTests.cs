using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Security.Cryptography;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.DependencyInjection;
using Portal.Envd;
using Portal.Envd.Transport;

namespace Portal.Tests.Envd;

/// <summary>
/// envd's Kestrel runs on the portal's epoll transport (linked into envd) on its Unix socket, as
/// the local runtime starts it, and on TCP, as a pod would: every connection below is counted by
/// that transport, and large bodies go both ways (a send that must wait for the reader, a receive
/// that pauses on a full input pipe). Every other envd test runs over it too (TCP).
/// </summary>
public class EnvdTransportTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task UnixSocket_CarriesUnaryStreamingAndLargeBodies_OnTheEpollTransport()
    {
        var dir = Directory.CreateTempSubdirectory("envd-epoll-").FullName;
        var path = Path.Combine(dir, "envd.sock");
        try
        {
            var app = EnvdApp.Build(new EnvdOptions { Socket = path });
            await app.StartAsync(Ct);
            try
            {
                using var http = new HttpClient(new SocketsHttpHandler
                {
                    ConnectCallback = async (_, token) =>
                    {
                        var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                        await s.ConnectAsync(new UnixDomainSocketEndPoint(path), token);
                        return new NetworkStream(s, ownsSocket: true);
                    },
                }) { BaseAddress = new Uri("http://envd") };
                await ExerciseAsync(http, dir);
                Assert.True(Transport(app.Services).Accepted >= 1);
            }
            finally
            {
                await app.StopAsync(Ct);
                await app.DisposeAsync();
            }
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public async Task Tcp_CarriesUnaryStreamingAndLargeBodies_OnTheEpollTransport()
    {
        var dir = Directory.CreateTempSubdirectory("envd-epoll-").FullName;
        try
        {
            await using var envd = await EnvdServer.StartAsync();
            await ExerciseAsync(envd.Http, dir);
            Assert.True(Transport(envd.Services).Accepted >= 1);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    private static EpollTransportFactory Transport(IServiceProvider services) =>
        services.GetServices<IConnectionListenerFactory>().OfType<EpollTransportFactory>().Single();

    private static async Task ExerciseAsync(HttpClient http, string dir)
    {
        Assert.Equal(HttpStatusCode.NoContent, (await http.GetAsync("/health", Ct)).StatusCode);

        // Unary Connect call.
        using (var stat = new HttpRequestMessage(HttpMethod.Post, "/filesystem.Filesystem/Stat")
        {
            Content = new StringContent($"{{\"path\":\"{dir}\"}}", System.Text.Encoding.UTF8, "application/json"),
        })
        {
            stat.Headers.Add("Connect-Protocol-Version", "1");
            stat.Headers.Authorization = AuthenticationHeaderValue.Parse(EnvdServer.Basic("root"));
            using var res = await http.SendAsync(stat, Ct);
            Assert.Equal(HttpStatusCode.OK, res.StatusCode);
            Assert.Contains("FILE_TYPE_DIRECTORY", await res.Content.ReadAsStringAsync(Ct));
        }

        // Server-streaming Connect call: a process's output, then its end.
        using (var start = EnvdServer.StreamRequest("process.Process/Start",
                   new { process = new { cmd = "/bin/sh", args = new[] { "-c", "echo streamed" } } }, user: "root"))
        {
            using var res = await http.SendAsync(start, HttpCompletionOption.ResponseHeadersRead, Ct);
            var body = await res.Content.ReadAsByteArrayAsync(Ct);
            var text = System.Text.Encoding.UTF8.GetString(body);
            Assert.Contains(Convert.ToBase64String("streamed\n"u8.ToArray()), text);
            Assert.Contains("{\"event\":{\"end\":", text, StringComparison.Ordinal);
        }

        // 8 MB up and down.
        var data = RandomNumberGenerator.GetBytes(8 << 20);
        var file = Path.Combine(dir, "big.bin");
        var content = new ByteArrayContent(data);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        using (var up = new HttpRequestMessage(HttpMethod.Post, $"/files?path={file}&username=root") { Content = content })
        {
            up.Headers.Authorization = AuthenticationHeaderValue.Parse(EnvdServer.Basic("root"));
            using var res = await http.SendAsync(up, Ct);
            Assert.Equal(HttpStatusCode.OK, res.StatusCode);
        }
        using (var down = new HttpRequestMessage(HttpMethod.Get, $"/files?path={file}&username=root"))
        {
            down.Headers.Authorization = AuthenticationHeaderValue.Parse(EnvdServer.Basic("root"));
            using var res = await http.SendAsync(down, HttpCompletionOption.ResponseHeadersRead, Ct);
            await using var stream = await res.Content.ReadAsStreamAsync(Ct);
            var read = new MemoryStream();
            var buffer = new byte[16 * 1024];
            int n;
            while ((n = await stream.ReadAsync(buffer, Ct)) > 0)
            {
                read.Write(buffer, 0, n);
                if (read.Length % (1 << 20) < n) await Task.Delay(5, Ct); // a slow reader: envd's sends wait for room
            }
            Assert.True(data.AsSpan().SequenceEqual(read.ToArray()));
        }
    }
}
