using System.Security.Cryptography;
using System.Text;

namespace Portal.Core.Auth;

/// <summary>E2B-shaped keys: <c>e2b_</c> + 40 lowercase hex digits; stored as their SHA-256.</summary>
public static class ApiKeyFormat
{
    public const string Prefix = "e2b_";
    public const int HexLength = 40;

    public static string Generate() => Prefix + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(HexLength / 2));

    public static bool IsWellFormed(string? key)
    {
        if (key is null || key.Length != Prefix.Length + HexLength || !key.StartsWith(Prefix, StringComparison.Ordinal)) return false;
        foreach (var c in key.AsSpan(Prefix.Length))
            if (c is not ((>= '0' and <= '9') or (>= 'a' and <= 'f'))) return false;
        return true;
    }

    public static byte[] HashBytes(string key) => SHA256.HashData(Encoding.UTF8.GetBytes(key));

    public static string Hash(string key) => Convert.ToHexStringLower(HashBytes(key));
}
