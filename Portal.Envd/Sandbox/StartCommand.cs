using System.Diagnostics;
using Portal.Envd.Process;
using SysProcess = System.Diagnostics.Process;

namespace Portal.Envd.Sandbox;

/// <summary>
/// The template's start and ready commands (template.json <c>startCommand</c>/<c>readyCommand</c>):
/// the start command (e.g. the code interpreter's server) runs as root through <c>/bin/sh -c</c>
/// from envd's start, and is started again whenever it exits, like a service under systemd with
/// <c>Restart=always</c>; the ready command is run until it exits 0, and again after each restart.
/// <c>GET /_portal/ready</c> answers 204 once it did (at once with no ready command) and 503
/// before: the portal hands a sandbox out only when it is ready. envd supervises rather than an
/// init system because a sandbox has none, and envd is the one process every runtime starts.
/// </summary>
public sealed class StartCommand
{
    private static readonly TimeSpan FirstRestartDelay = TimeSpan.FromMilliseconds(200);
    private static readonly TimeSpan MaxRestartDelay = TimeSpan.FromSeconds(5);
    /// <summary>A start command that ran this long is healthy: its next restart is quick again.</summary>
    private static readonly TimeSpan StableAfter = TimeSpan.FromSeconds(10);

    private readonly string _start;
    private readonly string? _ready;
    private volatile bool _isReady;
    private int _generation;

    public StartCommand(string start, string? ready)
    {
        _start = start;
        _ready = ready;
    }

    public bool IsReady => _isReady;

    /// <summary>How many times the start command was started (the first start is 1).</summary>
    public int Starts => Volatile.Read(ref _generation);

    public void Run(CancellationToken stopping) => _ = Task.Run(() => SuperviseAsync(stopping), stopping);

    private async Task SuperviseAsync(CancellationToken stopping)
    {
        var delay = FirstRestartDelay;
        while (!stopping.IsCancellationRequested)
        {
            var started = Stopwatch.StartNew();
            SysProcess? child = null;
            try
            {
                child = Spawn(_start);
                var generation = Interlocked.Increment(ref _generation);
                _ = Task.Run(() => WaitReadyAsync(generation, stopping), stopping);
                await child.WaitForExitAsync(stopping);
                Console.Error.WriteLine($"envd: start command exited with status {child.ExitCode}; starting it again");
            }
            catch (OperationCanceledException)
            {
                // envd is stopping (in a sandbox the sandbox ends with it; in tests it must not leak).
                try { child?.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
                return;
            }
            catch (Exception e)
            {
                Console.Error.WriteLine($"envd: start command could not be started: {e.Message}");
            }
            finally
            {
                _isReady = false;
                child?.Dispose();
            }
            delay = started.Elapsed > StableAfter ? FirstRestartDelay : TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, MaxRestartDelay.Ticks));
            try { await Task.Delay(delay, stopping); }
            catch (OperationCanceledException) { return; }
        }
    }

    /// <summary>Polls the ready command (every 50 ms, then slower) while this start is the current one.</summary>
    private async Task WaitReadyAsync(int generation, CancellationToken stopping)
    {
        var pause = TimeSpan.FromMilliseconds(50);
        while (!stopping.IsCancellationRequested && Volatile.Read(ref _generation) == generation)
        {
            if (_ready is null)
            {
                _isReady = true;
                return;
            }
            try
            {
                using var probe = Spawn(_ready, quiet: true);
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stopping);
                timeout.CancelAfter(TimeSpan.FromSeconds(10));
                try { await probe.WaitForExitAsync(timeout.Token); }
                catch (OperationCanceledException) when (!stopping.IsCancellationRequested) { probe.Kill(entireProcessTree: true); }
                if (probe.HasExited && probe.ExitCode == 0 && Volatile.Read(ref _generation) == generation)
                {
                    _isReady = true;
                    return;
                }
            }
            catch (OperationCanceledException) { return; }
            catch (Exception e)
            {
                Console.Error.WriteLine($"envd: ready command could not be run: {e.Message}");
            }
            try { await Task.Delay(pause, stopping); }
            catch (OperationCanceledException) { return; }
            pause = TimeSpan.FromTicks(Math.Min(pause.Ticks * 2, TimeSpan.FromMilliseconds(400).Ticks));
        }
    }

    private static SysProcess Spawn(string command, bool quiet = false)
    {
        var psi = new ProcessStartInfo("/bin/sh") { UseShellExecute = false, WorkingDirectory = "/" };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add(command);
        // The start command's output goes where envd's own does (the sandbox's log); the ready
        // command's would repeat every poll.
        psi.RedirectStandardOutput = quiet;
        psi.RedirectStandardError = quiet;
        var child = UserCgroup.Spawn(() => OomScore.Spawn(() => SysProcess.Start(psi)))
            ?? throw new InvalidOperationException("/bin/sh did not start");
        if (quiet)
        {
            _ = child.StandardOutput.BaseStream.CopyToAsync(Stream.Null);
            _ = child.StandardError.BaseStream.CopyToAsync(Stream.Null);
        }
        return child;
    }

    public static void Map(IEndpointRouteBuilder app, StartCommand? start)
    {
        app.MapGet("/_portal/ready", (HttpContext http) =>
        {
            http.Response.StatusCode = start is null || start.IsReady ? 204 : 503;
            return Task.CompletedTask;
        });
    }
}
