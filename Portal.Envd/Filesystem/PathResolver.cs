using Portal.Envd.Connect;
using Portal.Envd.Users;

namespace Portal.Envd.Filesystem;

/// <summary>Relative paths and <c>~</c> resolve against the user's home, as envd does.</summary>
public static class PathResolver
{
    public static string Resolve(string? path, EnvdUser user)
    {
        if (string.IsNullOrEmpty(path)) throw ConnectException.InvalidArgument("path is required");
        if (path.Contains('\0')) throw ConnectException.InvalidArgument("path must not contain NUL");
        if (path == "~") path = user.Home;
        else if (path.StartsWith("~/", StringComparison.Ordinal)) path = Path.Combine(user.Home, path[2..]);
        else if (!path.StartsWith('/')) path = Path.Combine(user.Home, path);
        var full = Path.GetFullPath(path);
        return full.Length > 1 ? full.TrimEnd('/') : full;
    }
}
