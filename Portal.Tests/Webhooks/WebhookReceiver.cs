using System.Collections.Concurrent;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Portal.Core.Webhooks;

namespace Portal.Tests.Webhooks;

/// <summary>
/// A webhook receiver on 127.0.0.1 for tests: it checks each delivery's signature the way an E2B
/// receiver does (over the raw bytes received), records what arrived, and answers
/// <see cref="Status"/> (or whatever <see cref="Answer"/> decides). <see cref="StopAsync"/> and
/// <see cref="StartAsync(int)"/> on the same port make it refuse connections for a while.
/// </summary>
public sealed class WebhookReceiver : IAsyncDisposable
{
    public sealed record Delivery(string WebhookId, string DeliveryId, string SignatureVersion, string Signature, bool SignatureValid, string Body, DateTimeOffset At)
    {
        public JsonNode Event => JsonNode.Parse(Body)!;
        public string EventId => (string)Event["id"]!;
        public string SandboxId => (string)Event["sandboxId"]!;
        public string Type => (string)Event["type"]!;
    }

    private WebApplication? _app;
    private CancellationTokenSource _stopping = new();
    private readonly string _secret;

    private WebhookReceiver(string secret) => _secret = secret;

    public ConcurrentQueue<Delivery> Received { get; } = new();
    /// <summary>Every request, answered or not (a 503 included), in arrival order.</summary>
    public ConcurrentQueue<Delivery> Attempts { get; } = new();
    public int Port { get; private set; }
    public string Url => $"http://127.0.0.1:{Port}/hook";
    public volatile int Status = 200;
    /// <summary>Decides the answer per delivery (overrides <see cref="Status"/>); null = use Status.</summary>
    public Func<Delivery, int>? Answer;
    /// <summary>While set and not completed, requests are held (after being counted in <see cref="Attempts"/>).</summary>
    public TaskCompletionSource? Gate;
    /// <summary>Held before answering (a slow receiver).</summary>
    public TimeSpan Delay = TimeSpan.Zero;

    public static async Task<WebhookReceiver> StartAsync(string secret, int port = 0)
    {
        var r = new WebhookReceiver(secret);
        await r.StartAsync(port);
        return r;
    }

    public async Task StartAsync(int port)
    {
        var b = WebApplication.CreateSlimBuilder();
        b.Logging.ClearProviders();
        b.WebHost.UseKestrel(k => k.Listen(IPAddress.Loopback, port));
        var app = b.Build();
        app.MapPost("/hook", async (HttpContext ctx) =>
        {
            using var ms = new MemoryStream();
            await ctx.Request.Body.CopyToAsync(ms);
            var raw = ms.ToArray();
            var h = ctx.Request.Headers;
            var sig = h["e2b-signature"].ToString();
            var d = new Delivery(h["e2b-webhook-id"].ToString(), h["e2b-delivery-id"].ToString(), h["e2b-signature-version"].ToString(), sig,
                sig == WebhookSignature.Compute(_secret, raw) && ctx.Request.ContentType == "application/json",
                Encoding.UTF8.GetString(raw), DateTimeOffset.UtcNow);
            Attempts.Enqueue(d);
            // A delivery the portal gave up on is still processed (as a real receiver would); only stopping ends the wait.
            try
            {
                if (Gate is { } gate) await gate.Task.WaitAsync(_stopping.Token);
                if (Delay > TimeSpan.Zero) await Task.Delay(Delay, _stopping.Token);
            }
            catch (OperationCanceledException) { return Results.StatusCode(503); }
            var status = Answer?.Invoke(d) ?? Status;
            if (status is >= 200 and < 300) Received.Enqueue(d);
            return Results.StatusCode(status);
        });
        await app.StartAsync();
        _app = app;
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        Port = new Uri(address).Port;
    }

    /// <summary>Stops listening: connections are refused until started again on <see cref="Port"/>.</summary>
    public async Task StopAsync()
    {
        if (_app is null) return;
        await _stopping.CancelAsync();
        await _app.StopAsync();
        _stopping = new CancellationTokenSource();
        await _app.DisposeAsync();
        _app = null;
    }

    /// <summary>Waits (bounded) until <paramref name="done"/> holds for what was received.</summary>
    public async Task WaitForAsync(Func<IReadOnlyList<Delivery>, bool> done, TimeSpan within, string what)
    {
        var until = DateTime.UtcNow + within;
        while (!done(Received.ToArray()))
        {
            if (DateTime.UtcNow > until)
                Assert.Fail($"{what}: not within {within.TotalSeconds} s; received {Received.Count}: {string.Join(", ", Received.Select(d => d.Type[18..] + "@" + d.SandboxId))}");
            await Task.Delay(50, TestContext.Current.CancellationToken);
        }
    }

    public async ValueTask DisposeAsync() => await StopAsync();
}
