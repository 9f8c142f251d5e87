using Portal.Core.Sandboxes;

namespace Portal.Web.Dashboard.Model;

/// <summary>
/// Feeds a <see cref="SandboxListModel"/> from the change stream for one page: the snapshot at
/// once, then the changes, applied on the page's renderer (through <c>InvokeAsync</c>) in
/// batches at most every <see cref="RenderInterval"/>, so a burst of thousands of changes is a
/// few renders. A reader that fell behind (overflow) subscribes again and starts from a fresh
/// snapshot. Prerendering takes the snapshot only.
/// </summary>
public sealed class LiveSandboxFeed : IDisposable
{
    public static readonly TimeSpan RenderInterval = TimeSpan.FromMilliseconds(100);

    private readonly SandboxChangeStream _stream;
    private readonly Func<SandboxRecord, bool> _filter;
    private readonly SandboxListModel _model;
    private readonly Func<Func<Task>, Task> _invoke;
    private readonly Action _changed;
    private readonly CancellationTokenSource _stop = new();
    private SandboxSubscription? _subscription;

    private LiveSandboxFeed(SandboxChangeStream stream, Func<SandboxRecord, bool> filter, SandboxListModel model, Func<Func<Task>, Task> invoke, Action changed)
    {
        _stream = stream; _filter = filter; _model = model; _invoke = invoke; _changed = changed;
    }

    /// <summary>How many times the list was rebuilt from a snapshot after falling behind.</summary>
    public int Resyncs { get; private set; }

    /// <param name="invoke">The component's <c>InvokeAsync</c>.</param>
    /// <param name="changed">The component's <c>StateHasChanged</c>.</param>
    /// <param name="live">Follow changes (interactive); false = the snapshot only (prerendering).</param>
    public static LiveSandboxFeed Start(SandboxChangeStream stream, Func<SandboxRecord, bool> filter, SandboxListModel model,
        Func<Func<Task>, Task> invoke, Action changed, bool live)
    {
        var feed = new LiveSandboxFeed(stream, filter, model, invoke, changed);
        var subscription = stream.Subscribe(filter);
        model.Reset(subscription.Snapshot);
        if (!live) { subscription.Dispose(); return feed; }
        feed._subscription = subscription;
        _ = feed.RunAsync(subscription);
        return feed;
    }

    private async Task RunAsync(SandboxSubscription subscription)
    {
        var ct = _stop.Token;
        var batch = new List<SandboxChange>();
        while (!ct.IsCancellationRequested)
        {
            try
            {
                if (!await subscription.Changes.WaitToReadAsync(ct)) return; // disposed
                await Task.Delay(RenderInterval, ct); // let a burst gather into one render
                while (subscription.Changes.TryRead(out var change)) batch.Add(change);
                await _invoke(() =>
                {
                    foreach (var c in batch) _model.Apply(c);
                    _changed();
                    return Task.CompletedTask;
                });
                batch.Clear();
            }
            catch (SandboxChangeStreamOverflowException)
            {
                subscription.Dispose();
                subscription = _subscription = _stream.Subscribe(_filter);
                var fresh = subscription;
                Resyncs++;
                batch.Clear();
                await _invoke(() => { _model.Reset(fresh.Snapshot); _changed(); return Task.CompletedTask; });
            }
            catch (OperationCanceledException) { return; }
            catch (ObjectDisposedException) { return; } // the circuit went away
        }
    }

    public void Dispose()
    {
        _stop.Cancel();
        _subscription?.Dispose();
    }
}
