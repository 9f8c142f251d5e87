using System.Net;
using System.Net.Sockets;
using Portal.Envd;

namespace Portal.Tests.Envd;

public class EnvdSocketTests
{
    [Fact]
    public async Task Socket_ServesHealthOverUnixSocket_OwnerOnly()
    {
        var ct = TestContext.Current.CancellationToken;
        var dir = Directory.CreateTempSubdirectory("envd-sock-").FullName;
        var path = Path.Combine(dir, "envd.sock");
        try
        {
            var app = EnvdApp.Build(new EnvdOptions { Socket = path });
            await app.StartAsync(ct);
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
                });
                var res = await http.GetAsync("http://envd/health", ct);
                Assert.Equal(HttpStatusCode.NoContent, res.StatusCode);
                Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
            }
            finally
            {
                await app.StopAsync(ct);
                await app.DisposeAsync();
            }
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }
}
