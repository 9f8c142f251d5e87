using System.ComponentModel;
using System.Diagnostics;
using System.IO.Pipes;
using System.Runtime.InteropServices;
using Portal.Envd.Connect;
using Portal.Envd.Native;
using SysProcess = System.Diagnostics.Process;

namespace Portal.Envd.Process;

/// <summary>
/// One command started by envd: the child (via <see cref="PtyExec"/>, as the run-as user),
/// its output pump, the streams subscribed to it, its stdin or terminal, and its end.
/// The child outlives every stream; only a signal or the Start request's deadline ends it.
/// </summary>
public sealed class ManagedProcess
{
    private readonly SysProcess _process;
    private readonly Pty? _pty;
    private readonly Stream? _stdout;
    private readonly Stream? _stderr;
    private Stream? _stdin;
    private readonly SemaphoreSlim _inputLock = new(1, 1);
    private readonly object _gate = new();
    private readonly List<Subscription> _subscribers = [];
    private readonly ManualResetEventSlim _reaped;
    private readonly TaskCompletionSource<EndEvent> _ended = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private CancellationTokenSource? _lifetime;
    private EndEvent? _end;
    private long _signalsSent;
    private readonly string _tempDir;

    private ManagedProcess(SysProcess process, Pty? pty, LaunchSpec spec, ManualResetEventSlim reaped)
    {
        _process = process;
        _pty = pty;
        _reaped = reaped;
        Pid = (uint)process.Id;
        Tag = spec.Tag;
        Config = spec.Config;
        _tempDir = spec.Environment.LastOrDefault(kv => kv.Key == "TMPDIR").Value is { Length: > 0 } tmp ? tmp : "/tmp";
        if (pty is null)
        {
            _stdout = process.StandardOutput.BaseStream;
            _stderr = process.StandardError.BaseStream;
            _stdin = spec.Stdin ? process.StandardInput.BaseStream : null;
        }
    }

    public uint Pid { get; }
    public string? Tag { get; }
    public ProcessConfig Config { get; }
    public bool IsPty => _pty is not null;
    public bool IsRunning => Volatile.Read(ref _end) is null;
    public Task<EndEvent> Ended => _ended.Task;

    /// <summary>Starts the child; output is buffered in the kernel until <see cref="BeginPump"/>.</summary>
    public static ManagedProcess Start(LaunchSpec spec)
    {
        Pty? pty = null;
        try
        {
            if (spec.Pty is { } size)
                pty = Pty.Open((ushort)size.Cols, (ushort)size.Rows, spec.User.Uid, spec.User.Gid);
        }
        catch (IOException e)
        {
            throw ConnectException.Internal($"error creating a terminal: {e.Message}");
        }

        var psi = new ProcessStartInfo(SelfCommand.File)
        {
            UseShellExecute = false,
            WorkingDirectory = spec.Cwd,
            RedirectStandardOutput = pty is null,
            RedirectStandardError = pty is null,
            RedirectStandardInput = pty is null && spec.Stdin,
        };
        foreach (var a in SelfCommand.Prefix) psi.ArgumentList.Add(a);
        psi.ArgumentList.Add(PtyExec.Verb);
        if (pty is not null)
        {
            psi.ArgumentList.Add("--tty");
            psi.ArgumentList.Add(pty.SlavePath);
        }
        else if (!spec.Stdin)
        {
            psi.ArgumentList.Add("--null-stdin");
        }
        psi.ArgumentList.Add("--");
        psi.ArgumentList.Add(spec.Cmd);
        foreach (var a in spec.Args) psi.ArgumentList.Add(a);
        psi.Environment.Clear();
        foreach (var (k, v) in spec.Environment) psi.Environment[k] = v;
        // .NET switches uid, gid and supplementary groups in the child before exec.
        if (spec.SwitchUser) psi.UserName = spec.User.Name;

        var process = new SysProcess { StartInfo = psi, EnableRaisingEvents = true };
        var reaped = new ManualResetEventSlim();
        process.Exited += (_, _) => reaped.Set();
        try
        {
            process.Start();
        }
        catch (Win32Exception e)
        {
            // Typically the user may not enter the cwd. E2B's envd answers start failures
            // with invalid_argument. (The exception text is a resource key under AOT: use errno.)
            pty?.Dispose();
            process.Dispose();
            throw ConnectException.InvalidArgument(
                $"error starting process '{spec.Cmd}' in '{spec.Cwd}' as user '{spec.User.Name}': {Marshal.GetPInvokeErrorMessage(e.NativeErrorCode)}");
        }
        catch (Exception e) when (e is InvalidOperationException or IOException)
        {
            pty?.Dispose();
            process.Dispose();
            throw ConnectException.Internal($"error starting process '{spec.Cmd}': {e.Message}");
        }
        return new ManagedProcess(process, pty, spec, reaped);
    }

    /// <summary>
    /// Adds a stream. After the end it gets just the end event (Connect right after exit).
    /// </summary>
    public Subscription Subscribe()
    {
        var sub = new Subscription(Unsubscribe);
        lock (_gate)
        {
            if (_end is null)
            {
                _subscribers.Add(sub);
                return sub;
            }
        }
        sub.Deliver(new ProcessStreamResponse { Event = new ProcessEvent { End = _end } });
        sub.Complete();
        return sub;
    }

    private void Unsubscribe(Subscription sub)
    {
        lock (_gate) _subscribers.Remove(sub);
    }

    /// <summary>Kills the process group when <paramref name="lifetime"/> passes, with or without a stream.</summary>
    public void KillAfter(TimeSpan lifetime)
    {
        _lifetime = new CancellationTokenSource(lifetime);
        _lifetime.Token.Register(() => Signal(Libc.SIGKILL));
    }

    public void BeginPump()
    {
        var thread = new Thread(PumpMain) { IsBackground = true, Name = $"envd process {Pid}" };
        thread.Start();
    }

    /// <summary>
    /// Signals the whole process group (the child leads its own session), and the child itself
    /// in case it has not reached setsid yet. SIGKILL goes to the whole session: an interactive
    /// shell on a PTY puts each job in a process group of its own. No-op once the child is
    /// reaped, so a recycled pid is never hit.
    /// </summary>
    public void Signal(int signal)
    {
        Interlocked.Or(ref _signalsSent, 1L << signal);
        if (_reaped.IsSet) return;
        var pid = (int)Pid;
        Libc.kill(-pid, signal);
        Libc.kill(pid, signal);
        if (signal == Libc.SIGKILL) KillSession(pid);
    }

    /// <summary>SIGKILLs every process whose session id is <paramref name="sid"/> (field 6 of /proc/N/stat).</summary>
    private static void KillSession(int sid)
    {
        var wanted = sid.ToString(System.Globalization.CultureInfo.InvariantCulture);
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            var name = Path.GetFileName(dir);
            if (name.Length == 0 || !char.IsAsciiDigit(name[0])) continue;
            try
            {
                var stat = File.ReadAllText(dir + "/stat");
                // "pid (comm) state ppid pgrp session ..."; comm may contain spaces and parens.
                var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ', 5);
                if (fields.Length > 3 && fields[3] == wanted && int.TryParse(name, out var member))
                    Libc.kill(member, Libc.SIGKILL);
            }
            catch (IOException) { } // gone meanwhile
            catch (UnauthorizedAccessException) { }
        }
    }

    public async Task WriteStdinAsync(byte[] data, CancellationToken ct)
    {
        if (_pty is not null)
            throw ConnectException.Internal("error writing to stdin: the process has a terminal; send input as pty");
        await _inputLock.WaitAsync(ct);
        try
        {
            if (_stdin is null)
                throw ConnectException.Internal("error writing to stdin: stdin is not enabled or already closed");
            await _stdin.WriteAsync(data, ct);
            await _stdin.FlushAsync(ct);
        }
        catch (IOException e)
        {
            throw ConnectException.Internal($"error writing to stdin of process {Pid}: {e.Message}");
        }
        finally
        {
            _inputLock.Release();
        }
    }

    public async Task WritePtyAsync(byte[] data, CancellationToken ct)
    {
        var pty = _pty ?? throw ConnectException.Internal("error writing to tty: the process has no terminal; send input as stdin");
        await _inputLock.WaitAsync(ct);
        try
        {
            if (pty.Master < 0) throw ConnectException.Internal("error writing to tty: the terminal is closed");
            // A full terminal input queue blocks write(2): keep that off the request thread.
            await Task.Run(() => pty.Write(data), ct);
        }
        catch (IOException e)
        {
            throw ConnectException.Internal($"error writing to tty of process {Pid}: {e.Message}");
        }
        finally
        {
            _inputLock.Release();
        }
    }

    /// <summary>EOF on stdin. No-op when stdin is already closed or was never open.</summary>
    public async Task CloseStdinAsync()
    {
        if (_pty is not null)
            throw new ConnectException(ConnectCode.FailedPrecondition, "cannot close stdin of a PTY process; send Ctrl+D (0x04) instead");
        await _inputLock.WaitAsync();
        try
        {
            var stdin = _stdin;
            _stdin = null;
            if (stdin is not null) await stdin.DisposeAsync();
        }
        catch (IOException)
        {
            // the reader is gone already: stdin is closed either way
        }
        finally
        {
            _inputLock.Release();
        }
    }

    public async Task ResizeAsync(uint cols, uint rows)
    {
        var pty = _pty ?? throw ConnectException.Internal("error resizing tty: the process has no terminal");
        await _inputLock.WaitAsync();
        try
        {
            if (pty.Master < 0) throw ConnectException.Internal("error resizing tty: the terminal is closed");
            pty.Resize((ushort)Math.Clamp(cols, 1, ushort.MaxValue), (ushort)Math.Clamp(rows, 1, ushort.MaxValue));
        }
        catch (IOException e)
        {
            throw ConnectException.Internal($"error resizing tty: {e.Message}");
        }
        finally
        {
            _inputLock.Release();
        }
    }

    private void PumpMain()
    {
        EndEvent end;
        try
        {
            OutputPump.Run(OutputSources(), () => _reaped.IsSet, Publish);
            _process.WaitForExit();
            end = ExitStatus.From(_process.ExitCode, (ulong)Interlocked.Read(ref _signalsSent));
        }
        catch (Exception e)
        {
            end = new EndEvent { ExitCode = -1, Status = "unknown", Error = $"envd lost track of the process: {e.Message}" };
        }
        ReleaseResources();
        Finish(end);
    }

    private List<(int, OutputKind)> OutputSources()
    {
        if (_pty is not null) return [(_pty.Master, OutputKind.Pty)];
        return [(Fd(_stdout!), OutputKind.Stdout), (Fd(_stderr!), OutputKind.Stderr)];
    }

    /// <summary>The pipe's fd; the stream stays alive (and unread by .NET) until the pump is done.</summary>
    private static int Fd(Stream s) => s switch
    {
        PipeStream p => (int)p.SafePipeHandle.DangerousGetHandle(),
        FileStream f => (int)f.SafeFileHandle.DangerousGetHandle(),
        _ => throw new NotSupportedException($"unexpected redirected stream type {s.GetType()}"),
    };

    private void Publish(OutputKind kind, byte[] chunk)
    {
        var data = kind switch
        {
            OutputKind.Stdout => new DataEvent { Stdout = chunk },
            OutputKind.Stderr => new DataEvent { Stderr = chunk },
            _ => new DataEvent { Pty = chunk },
        };
        var message = new ProcessStreamResponse { Event = new ProcessEvent { Data = data } };
        Subscription[] targets;
        lock (_gate) targets = [.. _subscribers];
        foreach (var sub in targets) sub.Deliver(message);
    }

    private void ReleaseResources()
    {
        _lifetime?.Dispose();
        _stdout?.Dispose();
        _stderr?.Dispose();
        _inputLock.Wait();
        try
        {
            try { _stdin?.Dispose(); } catch (IOException) { }
            _stdin = null;
            _pty?.Dispose(); // closing the master hangs up any stray holder of the terminal
        }
        finally
        {
            _inputLock.Release();
        }
        _process.Dispose();
        if (SelfCommand.Prefix.Count > 0) // a JIT-mode helper: see PtyExec.RemoveDiagnosticsSocket
            PtyExec.RemoveDiagnosticsSocket((int)Pid, _tempDir);
    }

    private void Finish(EndEvent end)
    {
        Subscription[] targets;
        lock (_gate)
        {
            Volatile.Write(ref _end, end);
            targets = [.. _subscribers];
            _subscribers.Clear();
        }
        var message = new ProcessStreamResponse { Event = new ProcessEvent { End = end } };
        foreach (var sub in targets)
        {
            sub.Deliver(message);
            sub.Complete();
        }
        _ended.TrySetResult(end);
    }
}
