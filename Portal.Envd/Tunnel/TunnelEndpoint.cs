using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Http.Features;
using Portal.Envd.Sandbox;

namespace Portal.Envd.Tunnel;

/// <summary>
/// <c>GET /_portal/tunnel/{port}</c> with <c>Connection: Upgrade</c>, <c>Upgrade: tcp</c>:
/// after <c>101</c>, the connection carries raw bytes to <c>127.0.0.1:{port}</c> inside the
/// sandbox. The portal reaches every sandbox port this way, over envd's socket, so sandbox
/// ports never need host ports or routable addresses. Behind the access token like every
/// other route.
/// </summary>
public static class TunnelEndpoint
{
    public const string PathPrefix = "/_portal/tunnel/";

    public static void MapTunnel(this IEndpointRouteBuilder app)
    {
        app.MapGet(PathPrefix + "{port}", async http =>
        {
            var raw = http.Request.RouteValues["port"]?.ToString();
            if (!int.TryParse(raw, NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port is < 1 or > 65535)
            {
                await HttpErrors.WriteAsync(http.Response, 400, $"'{raw}' is not a port 1-65535");
                return;
            }
            var upgrade = http.Features.Get<IHttpUpgradeFeature>();
            if (upgrade is null || !upgrade.IsUpgradableRequest)
            {
                await HttpErrors.WriteAsync(http.Response, 400, "a tunnel needs 'Connection: Upgrade' and 'Upgrade: tcp'");
                return;
            }
            var target = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            try
            {
                await target.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port), http.RequestAborted);
            }
            catch (SocketException)
            {
                target.Dispose();
                await HttpErrors.WriteAsync(http.Response, 502, $"The sandbox is running but port is not open: {port}");
                return;
            }
            using (target)
            {
                http.Response.Headers.Upgrade = "tcp";
                await using var client = await upgrade.UpgradeAsync();
                await using var server = new NetworkStream(target, ownsSocket: false);
                var up = PumpAsync(client, server, () => target.Shutdown(SocketShutdown.Send));
                var down = PumpAsync(server, client, null);
                // The client ending first (a half-close) may still be owed the server's answer: wait
                // for it. The server ending first ends the tunnel at once: the portal keeps idle
                // tunnels for reuse and only sees the close once this connection closes; kept open
                // (the client direction idle), a dead server's tunnel would take the next request.
                if (await Task.WhenAny(up, down) == up)
                    await down.WaitAsync(TimeSpan.FromSeconds(30)).ContinueWith(_ => { });
            }
        });
    }

    private static async Task PumpAsync(Stream from, Stream to, Action? onEnd)
    {
        try
        {
            await from.CopyToAsync(to, 64 * 1024);
            await to.FlushAsync();
        }
        catch (IOException) { }
        catch (ObjectDisposedException) { }
        catch (OperationCanceledException) { }
        finally
        {
            try { onEnd?.Invoke(); } catch (SocketException) { } catch (ObjectDisposedException) { }
        }
    }
}
