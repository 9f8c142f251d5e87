namespace Portal.Envd;

/// <summary>
/// What <c>POST /init</c> (the portal handing a sandbox out) can change at run time:
/// the default user, the access token, and the sandbox-wide environment variables.
/// </summary>
public sealed class EnvdState
{
    private readonly object _gate = new();
    private Dictionary<string, string> _envVars = new(StringComparer.Ordinal);

    public EnvdState(string defaultUser, string? accessToken)
    {
        DefaultUser = defaultUser;
        AccessToken = string.IsNullOrEmpty(accessToken) ? null : accessToken;
    }

    public string DefaultUser { get; set; }

    /// <summary>Working directory for processes that name none; null = the user's home.</summary>
    public string? DefaultWorkdir { get; set; }

    /// <summary>When set, every route but the exempt ones requires <c>X-Access-Token</c>.</summary>
    public string? AccessToken { get; set; }

    public IReadOnlyDictionary<string, string> EnvVars
    {
        get { lock (_gate) return new Dictionary<string, string>(_envVars, StringComparer.Ordinal); }
    }

    public void MergeEnvVars(IReadOnlyDictionary<string, string> vars)
    {
        lock (_gate)
        {
            var next = new Dictionary<string, string>(_envVars, StringComparer.Ordinal);
            foreach (var (k, v) in vars) next[k] = v;
            _envVars = next;
        }
    }
}
