using System.Globalization;

namespace Portal.Envd;

/// <summary>Command-line options of the envd daemon.</summary>
public sealed record EnvdOptions
{
    public const int DefaultPort = 49983;

    public string Host { get; init; } = "0.0.0.0";
    public int Port { get; init; } = DefaultPort;
    /// <summary>Serve on this Unix socket instead of TCP (how the portal reaches a local sandbox).</summary>
    public string? Socket { get; init; }
    public string DefaultUser { get; init; } = "user";
    public string? AccessToken { get; init; }
    /// <summary>Where <c>/etc/passwd</c> and <c>/etc/group</c> are read from (tests point it elsewhere).</summary>
    public string EtcDirectory { get; init; } = "/etc";
    /// <summary>The template's start command, kept running by envd (Sandbox/StartCommand.cs).</summary>
    public string? StartCommand { get; init; }
    /// <summary>Exits 0 once the start command is ready; <c>GET /_portal/ready</c> says so.</summary>
    public string? ReadyCommand { get; init; }

    public const string Usage = """
        portal-envd — the Sandbox Portal in-sandbox agent (E2B envd compatible)

        Usage: portal-envd [options]
          --host ADDR            listen address (default 0.0.0.0)
          --port N               listen port (default 49983)
          --socket PATH          serve on a Unix socket instead of TCP
          --default-user NAME    user that requests without a username act as (default: user)
          --access-token TOKEN   require X-Access-Token on every route except /health and signed /files
          --start-command CMD    run CMD (sh -c, as root) and start it again whenever it exits
          --ready-command CMD    run until it exits 0; then GET /_portal/ready answers 204
          --help                 show this text
        """;

    /// <summary>Parses argv; throws <see cref="ArgumentException"/> naming the bad flag.</summary>
    public static EnvdOptions Parse(IReadOnlyList<string> args)
    {
        var o = new EnvdOptions();
        for (var i = 0; i < args.Count; i++)
        {
            var arg = args[i];
            string? inline = null;
            var eq = arg.IndexOf('=');
            if (arg.StartsWith("--", StringComparison.Ordinal) && eq > 0)
            {
                inline = arg[(eq + 1)..];
                arg = arg[..eq];
            }
            string Value()
            {
                if (inline is not null) return inline;
                if (i + 1 >= args.Count) throw new ArgumentException($"{arg} needs a value");
                return args[++i];
            }
            o = arg switch
            {
                "--host" => o with { Host = Value() },
                "--port" => o with { Port = ParsePort(Value()) },
                "--socket" => o with { Socket = Value() },
                "--default-user" => o with { DefaultUser = NonEmpty(arg, Value()) },
                "--access-token" => o with { AccessToken = NonEmpty(arg, Value()) },
                "--etc-dir" => o with { EtcDirectory = Value() },
                "--start-command" => o with { StartCommand = NonEmpty(arg, Value()) },
                "--ready-command" => o with { ReadyCommand = NonEmpty(arg, Value()) },
                _ => throw new ArgumentException($"unknown option '{args[i]}'"),
            };
        }
        return o;
    }

    private static int ParsePort(string v) =>
        int.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out var p) && p is > 0 and < 65536
            ? p
            : throw new ArgumentException($"--port must be 1-65535, got '{v}'");

    private static string NonEmpty(string flag, string v) =>
        string.IsNullOrWhiteSpace(v) ? throw new ArgumentException($"{flag} must not be empty") : v;
}
