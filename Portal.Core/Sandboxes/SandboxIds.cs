using System.Security.Cryptography;

namespace Portal.Core.Sandboxes;

public static class SandboxIds
{
    public const int Length = 20;
    private const string Alphabet = "abcdefghijklmnopqrstuvwxyz0123456789";

    /// <summary>20 characters of <c>[a-z0-9]</c>, like E2B's (no <c>-</c> or <c>.</c>: hosts are split on them).</summary>
    public static string New() => RandomNumberGenerator.GetString(Alphabet, Length);

    /// <summary>Shape check only: lowercase letters and digits, at most 64 characters.</summary>
    public static bool IsWellFormed(string? id)
    {
        if (string.IsNullOrEmpty(id) || id.Length > 64) return false;
        foreach (var c in id)
            if (c is not ((>= 'a' and <= 'z') or (>= '0' and <= '9'))) return false;
        return true;
    }

    /// <summary>envd access tokens: 32 random bytes, hex.</summary>
    public static string NewAccessToken() => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));
}
