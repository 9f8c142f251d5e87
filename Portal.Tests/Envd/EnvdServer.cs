using System.Buffers.Binary;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Portal.Envd;

namespace Portal.Tests.Envd;

/// <summary>
/// A real envd (Kestrel on a free loopback port, in-process) plus a tiny Connect-over-JSON
/// client, so tests speak the exact wire format the E2B SDKs speak.
/// </summary>
public sealed class EnvdServer : IAsyncDisposable
{
    private readonly WebApplication _app;

    private EnvdServer(WebApplication app, Uri baseAddress)
    {
        _app = app;
        BaseAddress = baseAddress;
        Http = new HttpClient { BaseAddress = baseAddress, Timeout = TimeSpan.FromSeconds(60) };
    }

    public Uri BaseAddress { get; }
    public HttpClient Http { get; }
    public IServiceProvider Services => _app.Services;

    public static async Task<EnvdServer> StartAsync(EnvdOptions? options = null)
    {
        options = (options ?? new EnvdOptions()) with { Host = "127.0.0.1", Port = 0 };
        var app = EnvdApp.Build(options);
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new EnvdServer(app, new Uri(address));
    }

    public static string Basic(string user) => "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes(user + ":"));

    /// <summary>Unary call; returns HTTP status and the parsed JSON body (message or error).</summary>
    public async Task<(int Status, JsonNode? Body)> UnaryAsync(string procedure, object request, string? user = null, IDictionary<string, string>? headers = null)
    {
        using var msg = new HttpRequestMessage(HttpMethod.Post, "/" + procedure)
        {
            Content = new StringContent(JsonSerializer.Serialize(request), Encoding.UTF8, "application/json"),
        };
        msg.Headers.Add("Connect-Protocol-Version", "1");
        if (user is not null) msg.Headers.Authorization = AuthenticationHeaderValue.Parse(Basic(user));
        foreach (var (k, v) in headers ?? new Dictionary<string, string>()) msg.Headers.TryAddWithoutValidation(k, v);
        using var res = await Http.SendAsync(msg);
        var text = await res.Content.ReadAsStringAsync();
        return ((int)res.StatusCode, string.IsNullOrEmpty(text) ? null : JsonNode.Parse(text));
    }

    /// <summary>Server-streaming call; returns every message and the end-stream JSON.</summary>
    public async Task<StreamResult> StreamAsync(string procedure, object request, string? user = null, int? timeoutMs = null, CancellationToken ct = default)
    {
        using var msg = StreamRequest(procedure, request, user, timeoutMs);
        using var res = await Http.SendAsync(msg, HttpCompletionOption.ResponseHeadersRead, ct);
        var messages = new List<JsonNode?>();
        JsonNode? end = null;
        await using var body = await res.Content.ReadAsStreamAsync(ct);
        await foreach (var (flags, json) in ReadEnvelopesAsync(body, ct))
        {
            if ((flags & 0x02) != 0) { end = JsonNode.Parse(json); break; }
            messages.Add(JsonNode.Parse(json));
        }
        return new StreamResult((int)res.StatusCode, res.Content.Headers.ContentType?.MediaType, messages, end);
    }

    public static HttpRequestMessage StreamRequest(string procedure, object request, string? user = null, int? timeoutMs = null)
    {
        var payload = JsonSerializer.SerializeToUtf8Bytes(request);
        var msg = new HttpRequestMessage(HttpMethod.Post, "/" + procedure) { Content = new ByteArrayContent(Frame(0, payload)) };
        msg.Content.Headers.ContentType = new MediaTypeHeaderValue("application/connect+json");
        msg.Headers.Add("Connect-Protocol-Version", "1");
        if (timeoutMs is { } t) msg.Headers.Add("Connect-Timeout-Ms", t.ToString(System.Globalization.CultureInfo.InvariantCulture));
        if (user is not null) msg.Headers.Authorization = AuthenticationHeaderValue.Parse(Basic(user));
        return msg;
    }

    public static byte[] Frame(byte flags, byte[] payload)
    {
        var frame = new byte[5 + payload.Length];
        frame[0] = flags;
        BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(1), (uint)payload.Length);
        payload.CopyTo(frame, 5);
        return frame;
    }

    public static async IAsyncEnumerable<(byte Flags, string Json)> ReadEnvelopesAsync(Stream body, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct = default)
    {
        var header = new byte[5];
        while (true)
        {
            if (!await ReadExactlyOrEofAsync(body, header, ct)) yield break;
            var length = (int)BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(1));
            var payload = new byte[length];
            if (!await ReadExactlyOrEofAsync(body, payload, ct)) yield break;
            yield return (header[0], Encoding.UTF8.GetString(payload));
        }
    }

    private static async Task<bool> ReadExactlyOrEofAsync(Stream s, byte[] buffer, CancellationToken ct)
    {
        var total = 0;
        while (total < buffer.Length)
        {
            var n = await s.ReadAsync(buffer.AsMemory(total), ct);
            if (n == 0) return false;
            total += n;
        }
        return true;
    }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}

public sealed record StreamResult(int Status, string? ContentType, List<JsonNode?> Messages, JsonNode? End)
{
    public string? ErrorCode => End?["error"]?["code"]?.GetValue<string>();
}
