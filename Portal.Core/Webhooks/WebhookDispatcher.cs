using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Portal.Core.Persistence;
using Portal.Core.Sandboxes;

namespace Portal.Core.Webhooks;

/// <summary>
/// Delivers the webhook outbox. Deliveries are grouped in lanes, one per (webhook, sandbox): a
/// lane sends its oldest delivery and nothing else until that one is delivered or given up, so a
/// sandbox's events reach a receiver in order and a failing one holds back only the later events
/// of the same sandbox for the same webhook. Every attempt is recorded (delivery log, outbox row
/// removed or rescheduled) before the lane moves on, so after a crash at most the attempts in
/// flight are sent again. The API never waits on any of this: it only writes rows.
/// </summary>
public sealed class WebhookDispatcher : IDisposable
{
    /// <summary>Undelivered events held in memory at once; more wait in the outbox until lanes drain.</summary>
    internal const int MaxInMemory = 20_000;

    private readonly IPortalStore _store;
    private readonly WebhookOptions _options;
    private readonly TimeProvider _clock;
    private readonly ILogger _log;
    private readonly HttpClient _http;
    private readonly SandboxChangeStream _changes;

    private readonly object _gate = new();
    private readonly Dictionary<(string WebhookId, string SandboxId), Lane> _lanes = new();
    private readonly SemaphoreSlim _wake = new(0);
    private Channel<(WebhookAttempt Attempt, TaskCompletionSource Recorded)> _records = NewRecords();
    private readonly HashSet<Task> _inFlight = [];
    private long _cursor;
    private int _held;
    private Dictionary<string, Webhook> _webhooks = new();
    private long _webhooksGeneration;
    private ulong _rotation;
    private volatile bool _webhooksDirty = true;
    private volatile bool _newRows = true;

    public WebhookDispatcher(IPortalStore store, SandboxChangeStream changes, IOptions<WebhookOptions> options, TimeProvider clock, ILogger<WebhookDispatcher> log)
    {
        _store = store;
        _changes = changes;
        _options = options.Value;
        _clock = clock;
        _log = log;
        var allowPrivate = _options.AllowPrivateTargets;
        var handler = new SocketsHttpHandler
        {
            // Every connection goes through the target guard, against the address actually dialled.
            ConnectCallback = (ctx, ct) => WebhookTargetGuard.ConnectAsync(ctx.DnsEndPoint, allowPrivate, ct),
            ConnectTimeout = _options.ConnectTimeout,
            // A proxy would be dialled instead of the receiver (and bypass the guard); a redirect is a failure, not a new target.
            UseProxy = false,
            AllowAutoRedirect = false,
            UseCookies = false,
            MaxConnectionsPerServer = _options.MaxConcurrency,
            PooledConnectionLifetime = TimeSpan.FromMinutes(1), // receivers' DNS changes are picked up
        };
        _http = new HttpClient(handler) { Timeout = Timeout.InfiniteTimeSpan };
        _http.DefaultRequestHeaders.UserAgent.ParseAdd("sandbox-portal-webhooks/1");
    }

    /// <summary>Deliveries waiting in memory (for tests and metrics).</summary>
    public int Held { get { lock (_gate) return _held; } }

    /// <summary>A webhook was created, changed or deleted: re-read them before the next delivery.</summary>
    public void WebhooksChanged()
    {
        _webhooksDirty = true;
        NewRows();
    }

    /// <summary>New outbox rows may be there: look now rather than at the next poll.</summary>
    public void NewRows()
    {
        _newRows = true;
        Wake();
    }

    private void Wake()
    {
        if (_wake.CurrentCount == 0) _wake.Release();
    }

    private static Channel<(WebhookAttempt, TaskCompletionSource)> NewRecords() =>
        Channel.CreateUnbounded<(WebhookAttempt, TaskCompletionSource)>(new UnboundedChannelOptions { SingleReader = true });

    /// <summary>
    /// Runs until <paramref name="ct"/> is cancelled; resumes whatever the outbox holds (after a
    /// restart too). May run again after it ended (a replica that regains the delivery lease):
    /// each run starts from the outbox, nothing of the last run's memory.
    /// </summary>
    public async Task RunAsync(CancellationToken ct)
    {
        lock (_gate) { _lanes.Clear(); _held = 0; _cursor = 0; }
        _records = NewRecords();
        _webhooksDirty = true;
        _newRows = true;
        var recorder = RecordLoopAsync();
        var follower = FollowChangesAsync(ct);
        var lastLoad = DateTimeOffset.MinValue;
        var full = false;
        try
        {
            while (!ct.IsCancellationRequested)
            {
                var wait = _options.PollInterval;
                try
                {
                    if (_webhooksDirty)
                    {
                        _webhooksDirty = false;
                        var hooks = (await _store.ListWebhooksAsync(null, ct)).ToDictionary(w => w.Id);
                        lock (_gate) { _webhooks = hooks; _webhooksGeneration++; }
                    }
                    // New rows come with a change (or, for anything else, by the next poll); an
                    // attempt finishing only needs its lane looked at again.
                    if (_newRows || _clock.GetUtcNow() - lastLoad >= _options.PollInterval || (full && Held < MaxInMemory))
                    {
                        _newRows = false;
                        lastLoad = _clock.GetUtcNow();
                        full = await LoadAsync(ct);
                    }
                    var nextDue = StartDue(ct);
                    if (nextDue is { } due)
                    {
                        var untilDue = due - _clock.GetUtcNow();
                        if (untilDue < wait) wait = untilDue < TimeSpan.FromMilliseconds(1) ? TimeSpan.FromMilliseconds(1) : untilDue;
                    }
                }
                catch (OperationCanceledException) when (ct.IsCancellationRequested) { break; }
                catch (Exception e) { _log.LogWarning(e, "Webhook dispatch round failed; trying again"); }
                try { await _wake.WaitAsync(wait, ct); }
                catch (OperationCanceledException) { break; }
            }
        }
        finally
        {
            // Attempts cut by the shutdown are not recorded: their rows stay, and are sent again after the restart.
            Task[] running;
            lock (_gate) running = [.. _inFlight];
            try { await Task.WhenAll(running); } catch { /* each logged its own */ }
            _records.Writer.TryComplete();
            await recorder;
            await follower;
        }
    }

    /// <summary>
    /// Wakes the loop on every committed sandbox change: each one that carries an event has just
    /// written its outbox rows, which are then read at once instead of at the next poll.
    /// </summary>
    private async Task FollowChangesAsync(CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            using var subscription = _changes.Subscribe(static _ => true);
            try
            {
                await foreach (var _ in subscription.Changes.ReadAllAsync(ct)) NewRows();
            }
            catch (SandboxChangeStreamOverflowException) { NewRows(); } // fell behind: subscribe again
            catch (OperationCanceledException) { return; }
        }
    }

    /// <summary>Reads outbox rows past the cursor into their lanes; true when it stopped for lack of room.</summary>
    private async Task<bool> LoadAsync(CancellationToken ct)
    {
        while (true)
        {
            int room;
            long cursor;
            lock (_gate) { room = MaxInMemory - _held; cursor = _cursor; }
            if (room <= 0) return true;
            var rows = await _store.ListWebhookOutboxAsync(cursor, Math.Min(room, 1000), ct);
            if (rows.Count == 0) return false;
            lock (_gate)
            {
                foreach (var d in rows)
                {
                    var key = (d.WebhookId, d.SandboxId);
                    if (!_lanes.TryGetValue(key, out var lane)) _lanes[key] = lane = new Lane();
                    lane.Queue.AddLast(d);
                    lane.Generation = _webhooksGeneration;
                    _held++;
                }
                _cursor = rows[^1].Id;
            }
            if (rows.Count < 1000) return false;
        }
    }

    /// <summary>Starts the head of every idle lane that is due, up to the concurrency limit; returns the next due time.</summary>
    private DateTimeOffset? StartDue(CancellationToken ct)
    {
        var now = _clock.GetUtcNow();
        DateTimeOffset? next = null;
        lock (_gate)
        {
            List<(string, string)>? dropped = null;
            // Round robin: each round starts one lane further on, so when the concurrency limit
            // cuts a round short, the lanes after the cut are not always the ones left waiting.
            var count = _lanes.Count;
            var start = count == 0 ? 0 : (int)(_rotation++ % (ulong)count);
            var full = false;
            for (var pass = 0; pass < 2 && !full; pass++)
            {
                var i = -1;
                foreach (var (key, lane) in _lanes)
                {
                    i++;
                    if (pass == 0 ? i < start : i >= start) continue;
                    if (lane.Busy) continue;
                    var head = lane.Queue.First!.Value;
                    if (!_webhooks.TryGetValue(head.WebhookId, out var hook) || !hook.Enabled)
                    {
                        // Deleted or disabled (its outbox rows went with it) once the list is newer than the lane's rows;
                        // otherwise the list may predate the webhook: read it again.
                        if (_webhooksGeneration > lane.Generation) (dropped ??= []).Add(key);
                        else _webhooksDirty = true;
                        continue;
                    }
                    if (head.NextAttemptAt > now)
                    {
                        if (next is null || head.NextAttemptAt < next) next = head.NextAttemptAt;
                        continue;
                    }
                    if (_inFlight.Count >= _options.MaxConcurrency) { full = true; break; } // a finishing attempt wakes the loop
                    lane.Busy = true;
                    Task task = null!;
                    task = Task.Run(async () =>
                    {
                        try { await AttemptAsync(lane, hook, head, ct); }
                        finally { lock (_gate) _inFlight.Remove(task!); Wake(); }
                    }, CancellationToken.None);
                    _inFlight.Add(task);
                }
            }
            foreach (var key in dropped ?? [])
            {
                _held -= _lanes[key].Queue.Count;
                _lanes.Remove(key);
            }
        }
        return next;
    }

    private async Task AttemptAsync(Lane lane, Webhook hook, WebhookDelivery d, CancellationToken ct)
    {
        WebhookAttempt attempt;
        try
        {
            attempt = await SendAsync(hook, d, ct);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            lock (_gate) lane.Busy = false;
            return;
        }
        var recorded = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await _records.Writer.WriteAsync((attempt, recorded), CancellationToken.None);
        await recorded.Task;
        lock (_gate)
        {
            if (attempt.Outcome == WebhookDeliveryOutcome.Failed)
                lane.Queue.First!.Value = d with { Attempts = attempt.Attempt, NextAttemptAt = attempt.NextAttemptAt!.Value };
            else
            {
                lane.Queue.RemoveFirst();
                _held--;
            }
            lane.Busy = false;
            if (lane.Queue.Count == 0) _lanes.Remove((d.WebhookId, d.SandboxId));
        }
    }

    private async Task<WebhookAttempt> SendAsync(Webhook hook, WebhookDelivery d, CancellationToken ct)
    {
        var number = d.Attempts + 1;
        var deliveryId = Guid.NewGuid().ToString();
        var body = Encoding.UTF8.GetBytes(d.EventJson);
        using var request = new HttpRequestMessage(HttpMethod.Post, hook.Url) { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        request.Headers.Add("e2b-webhook-id", hook.Id);
        request.Headers.Add("e2b-delivery-id", deliveryId);
        request.Headers.Add("e2b-signature-version", WebhookSignature.Version);
        request.Headers.Add("e2b-signature", WebhookSignature.Compute(hook.SignatureSecret, body));
        var started = Stopwatch.GetTimestamp();
        int? status = null;
        string? error = null;
        using (var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct))
        {
            timeout.CancelAfter(_options.RequestTimeout);
            try
            {
                using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
                status = (int)response.StatusCode;
                if (!response.IsSuccessStatusCode) error = $"the receiver answered {status} {response.ReasonPhrase}".TrimEnd();
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                error = $"no answer within {_options.RequestTimeout.TotalSeconds:0.###} s (Portal:Webhooks:RequestTimeout)";
            }
            catch (HttpRequestException e)
            {
                error = Describe(e);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // Anything else about this one request (a URL the client cannot send to, ...) is its failure, never the lane's end.
                error = e.Message;
            }
        }
        var latency = (long)Stopwatch.GetElapsedTime(started).TotalMilliseconds;
        var now = _clock.GetUtcNow();
        if (error is null)
            return Attempt(d, deliveryId, number, now, WebhookDeliveryOutcome.Delivered, status, latency, null, null);

        var deadline = d.CreatedAt + _options.GiveUpAfter;
        if (now >= deadline)
        {
            _log.LogWarning("Webhook {WebhookId}: event {EventId} given up after {Attempts} attempts: {Error}", hook.Id, d.EventId, number, error);
            return Attempt(d, deliveryId, number, now, WebhookDeliveryOutcome.GivenUp, status, latency,
                $"{error}; given up after {number} attempts over {_options.GiveUpAfter} (Portal:Webhooks:GiveUpAfter)", null);
        }
        var nextAt = now + Backoff(number);
        if (nextAt > deadline) nextAt = deadline;
        return Attempt(d, deliveryId, number, now, WebhookDeliveryOutcome.Failed, status, latency, error, nextAt);
    }

    /// <summary>Wait after the <paramref name="attempt"/>-th failure: doubling from the initial delay up to the cap, ±20% jitter.</summary>
    internal TimeSpan Backoff(int attempt)
    {
        var exp = Math.Min(attempt - 1, 30);
        var ms = Math.Min(_options.RetryMaxDelay.TotalMilliseconds, _options.RetryInitialDelay.TotalMilliseconds * Math.Pow(2, exp));
        return TimeSpan.FromMilliseconds(ms * (0.8 + 0.4 * Random.Shared.NextDouble()));
    }

    private static WebhookAttempt Attempt(WebhookDelivery d, string deliveryId, int number, DateTimeOffset at, WebhookDeliveryOutcome outcome,
        int? status, long latency, string? error, DateTimeOffset? nextAt) => new()
    {
        OutboxId = d.Id, WebhookId = d.WebhookId, EventId = d.EventId, SandboxId = d.SandboxId, DeliveryId = deliveryId,
        Attempt = number, At = Clock.TruncateToMs(at), Outcome = outcome, StatusCode = status, LatencyMs = latency, Error = error,
        NextAttemptAt = nextAt is { } n ? Clock.TruncateToMs(n) : null,
    };

    private static string Describe(HttpRequestException e)
    {
        for (Exception? x = e; x is not null; x = x.InnerException)
            if (x is WebhookTargetRefusedException refused) return refused.Message;
        var inner = e.InnerException is { } i && i.Message != e.Message ? $" ({i.Message})" : "";
        return e.Message + inner;
    }

    /// <summary>Writes attempts in batches: one transaction for all that queued up meanwhile.</summary>
    private async Task RecordLoopAsync()
    {
        var batch = new List<(WebhookAttempt Attempt, TaskCompletionSource Recorded)>();
        while (await _records.Reader.WaitToReadAsync(CancellationToken.None))
        {
            batch.Clear();
            while (batch.Count < 1000 && _records.Reader.TryRead(out var r)) batch.Add(r);
            for (var delay = 100; ; delay = Math.Min(delay * 2, 5000))
            {
                try
                {
                    await _store.RecordWebhookAttemptsAsync(batch.Select(b => b.Attempt).ToList(), _options.DeliveryLogSize, CancellationToken.None);
                    break;
                }
                catch (Exception e)
                {
                    _log.LogWarning(e, "Recording {Count} webhook attempts failed; trying again in {Delay} ms", batch.Count, delay);
                    await Task.Delay(delay);
                }
            }
            foreach (var b in batch) b.Recorded.TrySetResult();
        }
    }

    public void Dispose()
    {
        _http.Dispose();
        _wake.Dispose();
    }

    private sealed class Lane
    {
        public readonly LinkedList<WebhookDelivery> Queue = new();
        public bool Busy;
        /// <summary>The webhook list's generation when rows were last added to this lane.</summary>
        public long Generation;
    }
}
