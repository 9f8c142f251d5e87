using System.Diagnostics;
using System.Threading.Channels;
using Portal.Envd.Connect;

namespace Portal.Envd.Process;

/// <summary>
/// One process started through envd: its output fanned out to every attached stream
/// (the Start stream and any Connect streams), its stdin or terminal, and its end.
/// The process outlives its streams; only a signal or its deadline ends it. The deadline
/// belongs to the process, not to the Start request: the SDKs abort the request at the same
/// moment the deadline passes (often a little before), and the process must die all the same.
/// </summary>
public sealed class ManagedProcess : IDisposable
{
    /// <summary>envd sends output in chunks of at most 32 KiB.</summary>
    public const int ChunkSize = 32 * 1024;

    private readonly System.Diagnostics.Process _process;
    private readonly PseudoTerminal? _pty;
    private readonly object _gate = new();
    private readonly List<Channel<ProcessEvent>> _subscribers = [];
    private readonly TaskCompletionSource<EndEvent> _ended = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Stream? _stdin;
    private int _signalSent;
    private Timer? _deadline;
    private int _deadlinePassed;

    public ManagedProcess(System.Diagnostics.Process process, ProcessConfig config, string? tag, PseudoTerminal? pty, bool keepStdin)
    {
        _process = process;
        _pty = pty;
        Config = config;
        Tag = tag;
        Pid = (uint)process.Id;
        if (pty is null && keepStdin) _stdin = process.StandardInput.BaseStream;
    }

    public uint Pid { get; }
    public string? Tag { get; }
    public ProcessConfig Config { get; }
    public bool IsPty => _pty is not null;
    public Task<EndEvent> Ended => _ended.Task;

    /// <summary>True once the deadline has passed and killed the process.</summary>
    public bool DeadlinePassed => Volatile.Read(ref _deadlinePassed) != 0;

    /// <summary>Kills the process (its whole tree) when <paramref name="timeout"/> passes; call once, right after the start.</summary>
    public void KillAfter(TimeSpan timeout)
    {
        _deadline = new Timer(static state =>
        {
            var self = (ManagedProcess)state!;
            if (self._ended.Task.IsCompleted) return;
            Volatile.Write(ref self._deadlinePassed, 1);
            self.Signal(Process.Signal.Sigkill);
        }, this, timeout, Timeout.InfiniteTimeSpan);
    }

    /// <summary>Starts pumping output; call once, after the first subscriber is attached.</summary>
    public void Run()
    {
        Task[] pumps = _pty is { } pty
            ? [Task.Factory.StartNew(() => PumpPty(pty), TaskCreationOptions.LongRunning)]
            : [PumpAsync(_process.StandardOutput.BaseStream, isStderr: false), PumpAsync(_process.StandardError.BaseStream, isStderr: true)];
        _ = FinishAsync(pumps);
    }

    /// <summary>Attaches a stream; it gets live events from now on (no replay), then the end.</summary>
    public ChannelReader<ProcessEvent> Subscribe()
    {
        var channel = Channel.CreateUnbounded<ProcessEvent>(new UnboundedChannelOptions { SingleReader = true });
        lock (_gate)
        {
            if (_ended.Task.IsCompleted)
            {
                channel.Writer.TryWrite(new ProcessEvent { End = _ended.Task.Result });
                channel.Writer.TryComplete();
            }
            else
            {
                _subscribers.Add(channel);
            }
        }
        return channel.Reader;
    }

    public void Unsubscribe(ChannelReader<ProcessEvent> reader)
    {
        lock (_gate) _subscribers.RemoveAll(c => c.Reader == reader);
    }

    public void WriteInput(ProcessInput input)
    {
        if (input.Pty is { } ptyData)
        {
            if (_pty is null) throw ConnectException.InvalidArgument($"process {Pid} has no terminal; send stdin instead");
            _pty.Write(ptyData);
            return;
        }
        if (input.Stdin is { } data)
        {
            if (_pty is not null)
            {
                _pty.Write(data); // a terminal's input is its stdin
                return;
            }
            var stdin = _stdin ?? throw ConnectException.Internal($"stdin of process {Pid} is closed");
            lock (stdin)
            {
                stdin.Write(data);
                stdin.Flush();
            }
        }
    }

    public void CloseStdin()
    {
        if (_pty is not null) throw ConnectException.InvalidArgument($"process {Pid} is a terminal; send EOF (Ctrl-D) as input instead");
        var stdin = Interlocked.Exchange(ref _stdin, null);
        try { stdin?.Dispose(); } catch (IOException) { }
    }

    public void Resize(uint cols, uint rows)
    {
        if (_pty is null) throw ConnectException.InvalidArgument($"process {Pid} has no terminal to resize");
        _pty.Resize(cols, rows);
    }

    public void Signal(Signal signal)
    {
        if (_ended.Task.IsCompleted) return;
        switch (signal)
        {
            case Process.Signal.Sigkill:
                Interlocked.Exchange(ref _signalSent, 9);
                try { _process.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
                break;
            case Process.Signal.Sigterm:
                Interlocked.Exchange(ref _signalSent, 15);
                Native.Libc.kill((int)Pid, 15);
                break;
            default:
                throw ConnectException.InvalidArgument("signal must be SIGNAL_SIGKILL or SIGNAL_SIGTERM");
        }
    }

    private void Publish(ProcessEvent e)
    {
        lock (_gate)
            foreach (var s in _subscribers) s.Writer.TryWrite(e);
    }

    private async Task PumpAsync(Stream stream, bool isStderr)
    {
        var buffer = new byte[ChunkSize];
        try
        {
            int n;
            while ((n = await stream.ReadAsync(buffer)) > 0)
            {
                var chunk = buffer.AsSpan(0, n).ToArray();
                Publish(new ProcessEvent { Data = isStderr ? new DataEvent { Stderr = chunk } : new DataEvent { Stdout = chunk } });
            }
        }
        catch (IOException) { }
        catch (ObjectDisposedException) { }
    }

    private void PumpPty(PseudoTerminal pty)
    {
        var buffer = new byte[ChunkSize];
        int n;
        while ((n = pty.Read(buffer)) > 0)
            Publish(new ProcessEvent { Data = new DataEvent { Pty = buffer.AsSpan(0, n).ToArray() } });
    }

    private async Task FinishAsync(Task[] pumps)
    {
        await _process.WaitForExitAsync();
        _deadline?.Dispose();
        // Output still in the pipes belongs before the end. A background grandchild can hold a
        // pipe open forever, so wait for the rest only briefly.
        await Task.WhenAny(Task.WhenAll(pumps), Task.Delay(TimeSpan.FromSeconds(2)));
        var end = EndOf(_process.ExitCode, Volatile.Read(ref _signalSent));
        lock (_gate)
        {
            _ended.TrySetResult(end);
            foreach (var s in _subscribers)
            {
                s.Writer.TryWrite(new ProcessEvent { End = end });
                s.Writer.TryComplete();
            }
            _subscribers.Clear();
        }
        CloseStdinQuietly();
        _pty?.Dispose();
        if (_pty is null)
        {
            // Hand the pipes back now; the Process object itself stays for exit retention.
            try { _process.StandardOutput.Dispose(); } catch (IOException) { }
            try { _process.StandardError.Dispose(); } catch (IOException) { }
        }
    }

    /// <summary>Go's wording, which the SDKs show: "exit status 1", "signal: killed".</summary>
    internal static EndEvent EndOf(int exitCode, int signalSent)
    {
        // .NET reports death by signal N as 128+N; trust that reading when we sent N ourselves.
        if (signalSent != 0 && exitCode == 128 + signalSent)
        {
            var status = signalSent == 9 ? "signal: killed" : "signal: terminated";
            return new EndEvent { ExitCode = -1, Exited = false, Status = status, Error = status };
        }
        var text = $"exit status {exitCode}";
        return new EndEvent { ExitCode = exitCode, Exited = true, Status = text, Error = exitCode == 0 ? null : text };
    }

    private void CloseStdinQuietly()
    {
        var stdin = Interlocked.Exchange(ref _stdin, null);
        try { stdin?.Dispose(); } catch (IOException) { }
    }

    public void Dispose()
    {
        _deadline?.Dispose();
        CloseStdinQuietly();
        _pty?.Dispose();
        _process.Dispose();
    }
}
