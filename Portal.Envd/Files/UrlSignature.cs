using System.Security.Cryptography;
using System.Text;

namespace Portal.Envd.Files;

/// <summary>
/// Signed <c>/files</c> URLs, as the SDKs make them for <c>uploadUrl()</c>/<c>downloadUrl()</c>:
/// <c>v1_</c> + unpadded base64 of SHA-256("path:operation:user:token[:expiration]").
/// </summary>
public static class UrlSignature
{
    public static string Compute(string path, string operation, string user, string token, long? expiration)
    {
        var text = expiration is { } exp ? $"{path}:{operation}:{user}:{token}:{exp}" : $"{path}:{operation}:{user}:{token}";
        return "v1_" + Convert.ToBase64String(SHA256.HashData(Encoding.UTF8.GetBytes(text))).TrimEnd('=');
    }

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
        var expected = Compute(request.Query["path"].ToString(), operation, request.Query["username"].ToString(), token, expiration);
        if (!CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(signature), Encoding.UTF8.GetBytes(expected)))
            return "invalid signature";
        if (expiration is { } e && e < now.ToUnixTimeSeconds()) return "signature is already expired";
        return null;
    }
}
