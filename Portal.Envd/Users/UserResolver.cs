using System.Text;
using Portal.Envd.Connect;

namespace Portal.Envd.Users;

/// <summary>
/// Picks the OS user a request acts as: the username of <c>Authorization: Basic</c>
/// (password ignored, as in E2B's envd), else the sandbox's default user.
/// </summary>
public sealed class UserResolver(UserDirectory directory, EnvdState state)
{
    public UserDirectory Directory { get; } = directory;

    public EnvdUser FromAuthorization(string? authorization)
    {
        if (string.IsNullOrEmpty(authorization)) return Default();
        const string prefix = "Basic ";
        if (!authorization.StartsWith(prefix, StringComparison.OrdinalIgnoreCase))
            throw ConnectException.Unauthenticated("unsupported Authorization scheme; use Basic with the username");
        string decoded;
        try
        {
            decoded = Encoding.UTF8.GetString(Convert.FromBase64String(authorization[prefix.Length..].Trim()));
        }
        catch (FormatException)
        {
            throw ConnectException.Unauthenticated("malformed Basic credentials");
        }
        var name = decoded.Split(':', 2)[0];
        return string.IsNullOrEmpty(name) ? Default() : ByName(name);
    }

    /// <summary>For <c>/files?username=</c>: empty means the default user.</summary>
    public EnvdUser FromName(string? name) => string.IsNullOrEmpty(name) ? Default() : ByName(name);

    public EnvdUser Default() => ByName(state.DefaultUser);

    private EnvdUser ByName(string name) =>
        Directory.Find(name) ?? throw ConnectException.Unauthenticated($"invalid username: '{name}'");
}
