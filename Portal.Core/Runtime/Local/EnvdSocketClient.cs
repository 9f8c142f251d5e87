using System.Net.Sockets;
using System.Text;

namespace Portal.Core.Runtime.Local;

/// <summary>Talks to a sandbox's envd over its Unix socket: health, init, and port tunnels.</summary>
public static class EnvdSocketClient
{
    public static async Task<Stream> OpenAsync(string socketPath, CancellationToken ct)
    {
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            await socket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath), ct);
            return new NetworkStream(socket, ownsSocket: true);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    public static HttpClient HttpClient(string socketPath) => new(new SocketsHttpHandler
    {
        ConnectCallback = async (_, ct) => await OpenAsync(socketPath, ct),
        PooledConnectionLifetime = TimeSpan.FromMinutes(1),
    })
    { BaseAddress = new Uri("http://envd"), Timeout = TimeSpan.FromSeconds(30) };

    public static Task<bool> IsHealthyAsync(string socketPath, CancellationToken ct) => Answers204Async(socketPath, "/health", ct);

    /// <summary>Whether the template's start command is ready (envd's <c>GET /_portal/ready</c>).</summary>
    public static Task<bool> IsReadyAsync(string socketPath, CancellationToken ct) => Answers204Async(socketPath, "/_portal/ready", ct);

    private static async Task<bool> Answers204Async(string socketPath, string path, CancellationToken ct)
    {
        try
        {
            await using var stream = await OpenAsync(socketPath, ct);
            var response = await ExchangeAsync(stream, $"GET {path} HTTP/1.1\r\nHost: envd\r\nConnection: close\r\n\r\n", ct);
            return response.StartsWith("HTTP/1.1 204", StringComparison.Ordinal);
        }
        catch (Exception e) when (e is SocketException or IOException or OperationCanceledException)
        {
            return false;
        }
    }

    /// <summary>Opens a byte stream to TCP <paramref name="port"/> inside the sandbox via envd's tunnel.</summary>
    public static async Task<Stream> TunnelAsync(string socketPath, int port, string? accessToken, string sandboxId, CancellationToken ct)
    {
        var stream = await OpenAsync(socketPath, ct);
        try
        {
            var token = accessToken is null ? "" : $"X-Access-Token: {accessToken}\r\n";
            var head = await ExchangeAsync(stream, $"GET /_portal/tunnel/{port} HTTP/1.1\r\nHost: envd\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n{token}\r\n", ct);
            if (head.StartsWith("HTTP/1.1 101", StringComparison.Ordinal)) return stream;
            if (head.StartsWith("HTTP/1.1 502", StringComparison.Ordinal)) throw new SandboxPortClosedException(sandboxId, port);
            throw new IOException($"envd refused the tunnel to port {port}: {head.Split("\r\n")[0]}");
        }
        catch
        {
            await stream.DisposeAsync();
            throw;
        }
    }

    /// <summary>Writes a request head and reads the response head byte by byte (nothing past it is consumed).</summary>
    private static async Task<string> ExchangeAsync(Stream stream, string request, CancellationToken ct)
    {
        await stream.WriteAsync(Encoding.ASCII.GetBytes(request), ct);
        var head = new StringBuilder();
        var one = new byte[1];
        while (head.Length < 16 * 1024)
        {
            if (await stream.ReadAsync(one, ct) == 0) break;
            head.Append((char)one[0]);
            if (head.Length >= 4 && head[^1] == '\n' && head[^2] == '\r' && head[^3] == '\n' && head[^4] == '\r') break;
        }
        return head.ToString();
    }
}
