using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

namespace Portal.Envd.Connect;

/// <summary>
/// The response side of a Connect server-streaming call: enveloped JSON messages,
/// flushed one by one, keepalive messages after idle periods, and one end-stream frame.
/// Safe to call from several producers at once.
/// </summary>
public sealed class ServerStream<T> : IAsyncDisposable
{
    private readonly HttpResponse _response;
    private readonly JsonTypeInfo<T> _typeInfo;
    private readonly SemaphoreSlim _lock = new(1, 1);
    private readonly CancellationTokenSource _keepaliveStop = new();
    private readonly Task _keepalive;
    private long _lastWriteTicks = Environment.TickCount64;
    private bool _completed;

    public ServerStream(HttpResponse response, JsonTypeInfo<T> typeInfo, T keepaliveMessage, TimeSpan keepaliveInterval)
    {
        _response = response;
        _typeInfo = typeInfo;
        _keepalive = keepaliveInterval > TimeSpan.Zero
            ? KeepaliveLoopAsync(keepaliveMessage, keepaliveInterval, _keepaliveStop.Token)
            : Task.CompletedTask;
    }

    public bool IsCompleted => _completed;

    public async Task WriteAsync(T message, CancellationToken ct = default)
    {
        var payload = JsonSerializer.SerializeToUtf8Bytes(message, _typeInfo);
        await WriteFrameAsync(0, payload, ct);
    }

    /// <summary>Sends the end-of-stream frame; later writes are ignored.</summary>
    public async Task CompleteAsync(ConnectException? error)
    {
        await WriteFrameAsync(Envelope.FlagEndStream, ConnectErrorWriter.EndStreamJson(error), CancellationToken.None);
    }

    private async Task WriteFrameAsync(byte flags, byte[] payload, CancellationToken ct)
    {
        await _lock.WaitAsync(ct);
        try
        {
            if (_completed) return;
            if (flags == Envelope.FlagEndStream) _completed = true;
            var frame = new byte[Envelope.HeaderSize + payload.Length];
            Envelope.WriteHeader(frame, flags, payload.Length);
            payload.CopyTo(frame, Envelope.HeaderSize);
            await _response.Body.WriteAsync(frame, ct);
            await _response.Body.FlushAsync(ct);
            Interlocked.Exchange(ref _lastWriteTicks, Environment.TickCount64);
        }
        finally
        {
            _lock.Release();
        }
    }

    private async Task KeepaliveLoopAsync(T keepalive, TimeSpan interval, CancellationToken ct)
    {
        try
        {
            while (!ct.IsCancellationRequested)
            {
                var idle = TimeSpan.FromMilliseconds(Environment.TickCount64 - Interlocked.Read(ref _lastWriteTicks));
                var wait = interval - idle;
                if (wait > TimeSpan.Zero)
                {
                    await Task.Delay(wait, ct);
                    continue;
                }
                await WriteAsync(keepalive, ct);
            }
        }
        catch (OperationCanceledException) { }
        catch (IOException) { }
        catch (ObjectDisposedException) { }
    }

    public async ValueTask DisposeAsync()
    {
        _keepaliveStop.Cancel();
        try { await _keepalive; } catch { /* already reported by the stream itself */ }
        _keepaliveStop.Dispose();
        _lock.Dispose();
    }
}
