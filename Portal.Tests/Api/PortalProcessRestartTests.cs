using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using static Portal.Tests.Api.Http;

namespace Portal.Tests.Api;

/// <summary>
/// The real portal process with the real local runtime: sandboxes created, the portal
/// SIGKILLed and started again on the same data dir; the same sandboxes are listed and
/// usable, keys still valid.
/// </summary>
[Collection(nameof(Portal.Tests.Runtime.Local.LocalRuntimeCollection))] // one set of real sandboxes at a time
public class PortalProcessRestartTests
{
    [Fact]
    public async Task SigkillAndRestart_SandboxesAndKeysSurvive()
    {
        var dir = PortalHost.NewDataDir();
        var port = FreePort();
        try
        {
            var first = await PortalProcess.StartAsync(dir, port);
            PortalProcess? second = null;
            try
            {
                await RunAsync(first, port, async () => second = await PortalProcess.StartAsync(dir, port));
                // A graceful stop takes the restarted portal's warm sandboxes along (the first
                // portal's were cleared by the restart): nothing of the test keeps running.
                Assert.True(await second!.StopAsync(), "the portal did not stop on SIGTERM");
                Assert.Empty(Directory.GetDirectories(Path.Combine(dir, "sandboxes")));
            }
            catch (Exception e)
            {
                throw new Xunit.Sdk.XunitException($"{e.Message}\n--- portal log (first run) ---\n{first.Log}\n--- portal log (second run) ---\n{second?.Log}");
            }
            finally
            {
                await first.DisposeAsync();
                if (second is not null) await second.DisposeAsync();
            }
        }
        finally { try { Directory.Delete(dir, true); } catch (IOException) { } }
    }

    private static async Task RunAsync(PortalProcess first, int port, Func<Task> restart)
    {
        {
            string[] ids;
            string token;
            string teamKey;
            using (var admin = Client(port, PortalHost.AdminKey))
            {
                var a = await admin.CreateSandboxAsync("""{"templateID":"base","metadata":{"n":"1"}}""");
                var b = await admin.CreateSandboxAsync("""{"templateID":"base","metadata":{"n":"2"}}""");
                ids = [(string)a["sandboxID"]!, (string)b["sandboxID"]!];
                token = (string)a["envdAccessToken"]!;
                var team = (await admin.PostJsonAsync("/teams", """{"name":"restart"}""")).Body!;
                teamKey = (string)(await admin.PostJsonAsync("/api-keys", $$"""{"name":"k","teamID":"{{team["teamID"]}}"}""")).Body!["key"]!;
            }
            first.Kill(); // SIGKILL: no graceful shutdown

            await restart();
            using var admin2 = Client(port, PortalHost.AdminKey);
            var listed = (await admin2.GetJsonAsync("/v2/sandboxes")).Body!.AsArray().Select(x => (string)x!["sandboxID"]!).Order();
            Assert.Equal(ids.Order(), listed);
            Assert.Equal(200, (await Client(port, teamKey).GetJsonAsync("/v2/sandboxes")).Status);

            // Usable: envd answers through the proxy with the token issued before the restart.
            using var envs = new HttpRequestMessage(HttpMethod.Get, "/envs");
            envs.Headers.Add("E2b-Sandbox-Id", ids[0]);
            envs.Headers.Add("E2b-Sandbox-Port", "49983");
            envs.Headers.Add("X-Access-Token", token);
            using var res = await Client(port, null).SendAsync(envs, Ct);
            Assert.Equal(HttpStatusCode.OK, res.StatusCode);

            foreach (var id in ids) Assert.Equal(204, (await admin2.DeleteJsonAsync($"/sandboxes/{id}")).Status);
        }
    }

    internal static HttpClient Client(int port, string? key)
    {
        var c = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(60) };
        if (key is not null) c.DefaultRequestHeaders.Add("X-API-Key", key);
        return c;
    }

    internal static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }
}
