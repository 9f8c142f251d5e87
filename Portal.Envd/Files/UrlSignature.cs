namespace Portal.Envd.Files;

/// <summary>
/// Checks signed <c>/files</c> URLs. The formula is <see cref="FileUrlSignature"/>, the same
/// source file the portal compiles (linked from Portal.Core, see Portal.Envd.csproj).
/// </summary>
public static class UrlSignature
{
    public static string Compute(string path, string operation, string user, string token, long? expiration) =>
        FileUrlSignature.Compute(path, operation, user, token, expiration?.ToString(System.Globalization.CultureInfo.InvariantCulture));

    /// <summary>Null when the request may proceed, else the exact 401 message the SDK tests expect.</summary>
    public static string? Check(HttpRequest request, string operation, string token, DateTimeOffset now)
    {
        var signature = request.Query["signature"].ToString();
        if (string.IsNullOrEmpty(signature)) return "missing signature query parameter";
        long? expiration = null;
        var rawExp = request.Query["signature_expiration"].ToString();
        if (!string.IsNullOrEmpty(rawExp))
        {
            if (!long.TryParse(rawExp, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var exp))
                return "invalid signature expiration";
            expiration = exp;
        }
        if (!FileUrlSignature.Matches(signature, request.Query["path"].ToString(), operation, request.Query["username"].ToString(), token, expiration?.ToString(System.Globalization.CultureInfo.InvariantCulture)))
            return "invalid signature";
        if (expiration is { } e && e < now.ToUnixTimeSeconds()) return "signature is already expired";
        return null;
    }
}
