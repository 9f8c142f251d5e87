using System.Threading.Channels;

namespace Portal.Envd.Process;

/// <summary>
/// One stream's view of a process: data events and the final end event, in order.
/// Bounded, so a slow client slows the output pump (and in turn the child, through its
/// full pipe) instead of growing memory; disposing it (the client left) releases the pump.
/// </summary>
public sealed class Subscription : IDisposable
{
    private const int Capacity = 64; // × 32 KiB chunks
    private readonly Channel<ProcessStreamResponse> _channel =
        Channel.CreateBounded<ProcessStreamResponse>(new BoundedChannelOptions(Capacity) { SingleReader = true, SingleWriter = true, FullMode = BoundedChannelFullMode.Wait });
    private readonly Action<Subscription> _onDispose;

    internal Subscription(Action<Subscription> onDispose) => _onDispose = onDispose;

    public ChannelReader<ProcessStreamResponse> Reader => _channel.Reader;

    /// <summary>Blocks the (dedicated) pump thread until the event is queued or the reader is gone.</summary>
    internal void Deliver(ProcessStreamResponse message)
    {
        while (!_channel.Writer.TryWrite(message))
        {
            var wait = _channel.Writer.WaitToWriteAsync();
            if (!(wait.IsCompleted ? wait.Result : wait.AsTask().GetAwaiter().GetResult()))
                return; // completed: the stream is gone
        }
    }

    internal void Complete() => _channel.Writer.TryComplete();

    public void Dispose()
    {
        _channel.Writer.TryComplete();
        _onDispose(this);
    }
}
