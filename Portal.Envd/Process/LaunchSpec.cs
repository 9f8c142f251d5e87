using Portal.Envd.Connect;
using Portal.Envd.Native;
using Portal.Envd.Users;

namespace Portal.Envd.Process;

/// <summary>
/// Everything needed to start one command, validated up front so that bad requests fail
/// with <c>invalid_argument</c> before anything runs (as E2B's envd does for a missing cwd).
/// </summary>
public sealed record LaunchSpec(
    string Cmd,
    IReadOnlyList<string> Args,
    IReadOnlyList<KeyValuePair<string, string>> Environment,
    string Cwd,
    EnvdUser User,
    bool SwitchUser,
    PtySize? Pty,
    bool Stdin,
    string? Tag,
    ProcessConfig Config)
{
    /// <summary>envd's own PATH is whatever started it (often systemd's minimal one); commands get a full one.</summary>
    public const string DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

    private static readonly bool EnvdIsRoot = Libc.geteuid() == 0;

    public static LaunchSpec Create(StartRequest request, EnvdUser user, EnvdState state)
    {
        var config = request.Process ?? throw ConnectException.InvalidArgument("process config is required");
        if (string.IsNullOrEmpty(config.Cmd))
            throw ConnectException.InvalidArgument("process.cmd must not be empty");
        if (!EnvdIsRoot && user.Uid != Libc.geteuid())
            throw ConnectException.PermissionDenied($"envd is not running as root and cannot start processes as user '{user.Name}'");

        var cwd = ResolveCwd(config.Cwd, user, state.DefaultWorkdir);
        var env = BuildEnvironment(user, state.EnvVars, config.Envs);
        var path = env.Last(kv => kv.Key == "PATH").Value;
        RequireExecutable(config.Cmd, path, cwd);

        PtySize? pty = null;
        if (request.Pty is { } p)
        {
            var cols = p.Size?.Cols ?? 0;
            var rows = p.Size?.Rows ?? 0;
            pty = new PtySize { Cols = Math.Clamp(cols == 0 ? 80 : cols, 1, ushort.MaxValue), Rows = Math.Clamp(rows == 0 ? 24 : rows, 1, ushort.MaxValue) };
        }

        return new LaunchSpec(
            config.Cmd,
            config.Args ?? [],
            env,
            cwd,
            user,
            SwitchUser: EnvdIsRoot && user.Uid != Libc.geteuid(),
            pty,
            Stdin: request.Stdin ?? true,
            request.Tag,
            config);
    }

    /// <summary>
    /// Empty → the sandbox's default workdir, else the user's home; <c>~</c> expands to the
    /// home; relative paths are taken against the home (not against envd's own cwd).
    /// </summary>
    public static string ResolveCwd(string? requested, EnvdUser user, string? defaultWorkdir)
    {
        var path = string.IsNullOrEmpty(requested) ? defaultWorkdir ?? user.Home : requested;
        if (path == "~") path = user.Home;
        else if (path.StartsWith("~/", StringComparison.Ordinal)) path = user.Home + path[1..];
        if (!Path.IsPathRooted(path)) path = Path.Combine(user.Home, path);
        path = Path.GetFullPath(path);
        if (!Directory.Exists(path))
            throw ConnectException.InvalidArgument(File.Exists(path) ? $"cwd '{path}' is not a directory" : $"cwd '{path}' does not exist");
        return path;
    }

    /// <summary>
    /// PATH, then the user's HOME/USER/LOGNAME/SHELL, then the sandbox-wide variables from
    /// /init, then the call's own (later entries win). Nothing of envd's own environment leaks in.
    /// </summary>
    public static List<KeyValuePair<string, string>> BuildEnvironment(EnvdUser user, IReadOnlyDictionary<string, string> global, IReadOnlyDictionary<string, string>? perCall)
    {
        var env = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["PATH"] = DefaultPath,
            ["HOME"] = user.Home,
            ["USER"] = user.Name,
            ["LOGNAME"] = user.Name,
            ["SHELL"] = user.Shell,
        };
        foreach (var (k, v) in global) env[k] = v;
        foreach (var (k, v) in perCall ?? new Dictionary<string, string>())
        {
            if (k.Length == 0 || k.Contains('=') || k.Contains('\0') || v.Contains('\0'))
                throw ConnectException.InvalidArgument($"invalid environment variable '{k}'");
            env[k] = v;
        }
        return [.. env];
    }

    /// <summary>Fails early, like Go's exec.LookPath in envd, instead of a late exit 127.</summary>
    private static void RequireExecutable(string cmd, string path, string cwd)
    {
        if (cmd.Contains('/'))
        {
            var full = Path.IsPathRooted(cmd) ? cmd : Path.Combine(cwd, cmd);
            if (!File.Exists(full))
                throw ConnectException.InvalidArgument($"exec: \"{cmd}\": stat {full}: no such file or directory");
            return;
        }
        foreach (var dir in path.Split(':'))
        {
            var baseDir = dir.Length == 0 ? cwd : Path.IsPathRooted(dir) ? dir : Path.Combine(cwd, dir);
            if (File.Exists(Path.Combine(baseDir, cmd))) return;
        }
        throw ConnectException.InvalidArgument($"exec: \"{cmd}\": executable file not found in $PATH");
    }
}
