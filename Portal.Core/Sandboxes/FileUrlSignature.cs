using System.Security.Cryptography;
using System.Text;

// One source, two assemblies: Portal.Core compiles it here, and Portal.Envd (NativeAOT, no
// reference to Core) links this same file with PORTAL_ENVD defined, under its own namespace
// so a project referencing both sees two distinct types.
#if PORTAL_ENVD
namespace Portal.Envd.Files;
#else
namespace Portal.Core.Sandboxes;
#endif

/// <summary>
/// The signature of envd's signed <c>/files</c> URLs (docs/envd.md), as the SDKs
/// make them for <c>uploadUrl()</c>/<c>downloadUrl()</c>: <c>v1_</c> + unpadded base64
/// SHA-256 of <c>path:operation:user:token[:expiration]</c>.
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
        return CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(expected), Encoding.UTF8.GetBytes(presented));
    }
}
