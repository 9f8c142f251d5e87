using System.Text;
using System.Text.RegularExpressions;

namespace Portal.Core.Templates;

/// <summary>The shell each step type runs in the build sandbox (as root unless said), and ENV's expansion.</summary>
internal static partial class StepScripts
{
    public static string Quote(string s) => "'" + s.Replace("'", "'\\''") + "'";

    /// <summary>USER: the user exists afterwards (made like E2B makes it: home directory, bash).</summary>
    public static string EnsureUser(string user) =>
        $"id -u {Quote(user)} >/dev/null 2>&1 || useradd --create-home --shell /bin/bash {Quote(user)}";

    /// <summary>WORKDIR: the directory exists and belongs to the current user.</summary>
    public static string MakeWorkdir(string path, string user) =>
        $"mkdir -p {Quote(path)} && chown {Quote(user + ":")} {Quote(path)}";

    /// <summary>
    /// COPY: unpack the uploaded archive next to the destination, then Docker's semantics: the
    /// source's static prefix names a file (copied to dest, or into it when dest ends in '/' or is
    /// a directory) or a directory (its contents merged into dest); owner and mode set on what is
    /// copied; links stay links.
    /// </summary>
    public const string Copy = """
        set -eu
        T=$(mktemp -d /.portal-build/unpack.XXXXXX)
        tar -xf "$PORTAL_COPY_ARCHIVE" -C "$T" --no-same-owner
        rm -f "$PORTAL_COPY_ARCHIVE"
        S="$T${PORTAL_COPY_PREFIX:+/$PORTAL_COPY_PREFIX}"
        if [ ! -e "$S" ] && [ ! -L "$S" ]; then echo "COPY: '$PORTAL_COPY_SRC' matched nothing in the uploaded files" >&2; rm -rf "$T"; exit 1; fi
        chown -R -h "$PORTAL_COPY_OWNER" "$S"
        if [ -n "$PORTAL_COPY_MODE" ] && [ ! -L "$S" ]; then chmod -R "$PORTAL_COPY_MODE" "$S"; fi
        D="$PORTAL_COPY_DEST"
        if [ -d "$S" ] && [ ! -L "$S" ]; then
          mkdir -p "$D"
          cp -a "$S/." "$D/"
        else
          case "$D" in
            */) mkdir -p "$D"; D="$D$(basename "$S")" ;;
            *) if [ -d "$D" ] && [ ! -L "$D" ]; then D="$D/$(basename "$S")"; else mkdir -p "$(dirname "$D")"; fi ;;
          esac
          cp -a "$S" "$D"
        fi
        rm -rf "$T"
        """;

    /// <summary>
    /// ENV values expand <c>$NAME</c> and <c>${NAME}</c> from the variables set so far (and HOME,
    /// USER, PATH as the build sees them), as E2B's shell expansion does for plain references;
    /// <c>\$</c> keeps a literal dollar. Unknown names expand to nothing.
    /// </summary>
    public static string Expand(string value, IReadOnlyDictionary<string, string> env, string user) =>
        Reference().Replace(value, m =>
        {
            if (m.Value.StartsWith('\\')) return m.Value[1..];
            var name = m.Groups["a"].Success ? m.Groups["a"].Value : m.Groups["b"].Value;
            if (env.TryGetValue(name, out var v)) return v;
            return name switch
            {
                "HOME" => CopySource.HomeOf(user),
                "USER" => user,
                "PATH" => DefaultPath,
                _ => "",
            };
        });

    public const string DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

    [GeneratedRegex(@"\\\$|\$\{(?<a>[A-Za-z_][A-Za-z0-9_]*)\}|\$(?<b>[A-Za-z_][A-Za-z0-9_]*)")]
    private static partial Regex Reference();

    /// <summary>
    /// The start (or ready) command as the template's sandboxes run it: the runtime starts it as
    /// root, so it switches to the template's user, directory and variables first.
    /// </summary>
    public static string AsTemplateUser(string command, BuildState state)
    {
        var sb = new StringBuilder();
        sb.Append("export HOME=").Append(Quote(CopySource.HomeOf(state.User))).Append(" USER=").Append(Quote(state.User)).Append("; ");
        foreach (var (k, v) in state.Env) sb.Append("export ").Append(k).Append('=').Append(Quote(v)).Append("; ");
        var dir = state.Workdir ?? CopySource.HomeOf(state.User);
        sb.Append("cd ").Append(Quote(dir)).Append(" 2>/dev/null; ");
        if (state.User == "root") sb.Append("exec /bin/bash -c ").Append(Quote(command));
        else sb.Append("exec runuser -p -u ").Append(Quote(state.User)).Append(" -- /bin/bash -c ").Append(Quote(command));
        return sb.ToString();
    }
}
