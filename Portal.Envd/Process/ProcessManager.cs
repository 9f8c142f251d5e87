using System.Collections.Concurrent;
using System.ComponentModel;
using System.Diagnostics;
using Portal.Envd.Connect;
using Portal.Envd.Users;

namespace Portal.Envd.Process;

/// <summary>Starts processes as sandbox users and keeps track of them by pid and tag.</summary>
public sealed class ProcessManager(EnvdState state)
{
    /// <summary>How long an ended process can still be connected to (start + end only).</summary>
    public static readonly TimeSpan ExitRetention = TimeSpan.FromSeconds(30);

    private const int EAGAIN = 11;
    private const string DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    private readonly ConcurrentDictionary<uint, ManagedProcess> _processes = new();

    /// <summary>Starts a process; a <paramref name="deadline"/> kills it when it passes, whoever is still listening.</summary>
    public ManagedProcess Start(StartRequest request, EnvdUser user, TimeSpan? deadline)
    {
        var config = request.Process ?? throw ConnectException.InvalidArgument("process is required");
        if (string.IsNullOrEmpty(config.Cmd)) throw ConnectException.InvalidArgument("process.cmd is required");
        var cwd = ResolveCwd(config.Cwd, user);

        PseudoTerminal? pty = null;
        var psi = new ProcessStartInfo
        {
            UseShellExecute = false,
            WorkingDirectory = cwd,
            UserName = user.Name,
        };
        if (request.Pty is { } ptyConfig)
        {
            var size = ptyConfig.Size ?? new PtySize { Cols = 80, Rows = 24 };
            pty = PseudoTerminal.Open(size.Cols, size.Rows, user.Uid, user.Gid);
            var (self, prefix) = PtyExec.SelfCommand();
            psi.FileName = self;
            foreach (var a in prefix) psi.ArgumentList.Add(a);
            psi.ArgumentList.Add(pty.SlavePath);
            psi.ArgumentList.Add(config.Cmd);
        }
        else
        {
            psi.FileName = config.Cmd;
            // Without stdin the child inherits envd's own, which Program.cs points at /dev/null.
            psi.RedirectStandardInput = request.Stdin ?? true;
            psi.RedirectStandardOutput = true;
            psi.RedirectStandardError = true;
        }
        foreach (var a in config.Args ?? []) psi.ArgumentList.Add(a);
        BuildEnvironment(psi.Environment, user, config.Envs);

        System.Diagnostics.Process child;
        try
        {
            child = UserCgroup.Spawn(() => OomScore.Spawn(() => System.Diagnostics.Process.Start(psi))) ?? throw ConnectException.Internal("process did not start");
        }
        catch (Win32Exception e) when (e.NativeErrorCode == EAGAIN)
        {
            pty?.Dispose();
            throw new ConnectException(ConnectCode.ResourceExhausted, $"cannot start '{config.Cmd}': the sandbox's processes have reached their limit (fork: {e.Message})");
        }
        catch (Win32Exception e)
        {
            pty?.Dispose();
            throw new ConnectException(ConnectCode.InvalidArgument, $"cannot start '{config.Cmd}': {e.Message}");
        }
        catch
        {
            pty?.Dispose();
            throw;
        }

        // Absent `stdin` (older clients) keeps the pipe open, as envd does.
        var managed = new ManagedProcess(child, config, request.Tag, pty, keepStdin: request.Stdin ?? true);
        if (deadline is { } timeout) managed.KillAfter(timeout);
        _processes[managed.Pid] = managed;
        _ = ForgetLaterAsync(managed);
        return managed;
    }

    public ManagedProcess Find(ProcessSelector? selector)
    {
        if (selector is null || (selector.Pid is null && string.IsNullOrEmpty(selector.Tag)))
            throw ConnectException.InvalidArgument("process selector needs a pid or a tag");
        if (selector.Pid is { } pid)
            return _processes.TryGetValue(pid, out var p) ? p : throw ConnectException.NotFound($"process with pid {pid} not found");
        return _processes.Values.FirstOrDefault(p => p.Tag == selector.Tag && !p.Ended.IsCompleted)
            ?? _processes.Values.FirstOrDefault(p => p.Tag == selector.Tag)
            ?? throw ConnectException.NotFound($"process with tag '{selector.Tag}' not found");
    }

    /// <summary>Ends every process still running (envd is shutting down).</summary>
    public void KillAll()
    {
        foreach (var p in List()) p.Signal(Signal.Sigkill);
    }

    /// <summary>Live processes only.</summary>
    public IEnumerable<ManagedProcess> List() => _processes.Values.Where(p => !p.Ended.IsCompleted).OrderBy(p => p.Pid);

    private async Task ForgetLaterAsync(ManagedProcess p)
    {
        await p.Ended;
        await Task.Delay(ExitRetention);
        if (_processes.TryGetValue(p.Pid, out var current) && current == p)
            _processes.TryRemove(p.Pid, out _);
        p.Dispose();
    }

    private string ResolveCwd(string? requested, EnvdUser user)
    {
        var cwd = string.IsNullOrEmpty(requested) ? state.DefaultWorkdir ?? user.Home : requested;
        if (cwd == "~") cwd = user.Home;
        else if (cwd.StartsWith("~/", StringComparison.Ordinal)) cwd = Path.Combine(user.Home, cwd[2..]);
        else if (!cwd.StartsWith('/')) cwd = Path.Combine(user.Home, cwd);
        cwd = Path.GetFullPath(cwd);
        var exists = FsIdentity.RunAs(user, () => Directory.Exists(cwd));
        if (!exists) throw ConnectException.InvalidArgument($"cwd '{cwd}' does not exist");
        return cwd;
    }

    private void BuildEnvironment(IDictionary<string, string?> env, EnvdUser user, Dictionary<string, string>? callEnvs)
    {
        env.Clear();
        env["PATH"] = DefaultPath;
        env["HOME"] = user.Home;
        env["USER"] = user.Name;
        env["LOGNAME"] = user.Name;
        env["SHELL"] = user.Shell;
        foreach (var (k, v) in state.EnvVars) env[k] = v;
        foreach (var (k, v) in callEnvs ?? []) env[k] = v;
    }
}
