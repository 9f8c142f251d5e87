using System.Security.Cryptography;
using System.Text;

namespace Portal.Core.Sandboxes;

/// <summary>
/// The signature of envd's signed <c>/files</c> URLs (e2b-protocol.md §3.6):
/// <c>v1_</c> + unpadded base64 SHA-256 of <c>path:operation:user:token[:expiration]</c>.
/// </summary>
public static class FileUrlSignature
{
    public static string Compute(string path, string operation, string user, string token, string? expiration)
    {
        var text = $"{path}:{operation}:{user}:{token}" + (string.IsNullOrEmpty(expiration) ? "" : ":" + expiration);
        return "v1_" + Convert.ToBase64String(SHA256.HashData(Encoding.UTF8.GetBytes(text))).TrimEnd('=');
    }

    public static bool Matches(string presented, string path, string operation, string user, string token, string? expiration)
    {
        var expected = Compute(path, operation, user, token, expiration);
        return CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(expected), Encoding.ASCII.GetBytes(presented));
    }
}
