using System.Security.Cryptography;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.Tokens;

namespace Portal.Web.Auth;

/// <summary>
/// Configuration section <c>Portal:Auth:Jwt</c>: bearer tokens from an identity provider, as a
/// second way to sign in next to API keys. Off unless <see cref="Authority"/> or
/// <see cref="SigningKeys"/> is set.
/// </summary>
public sealed class JwtOptions
{
    public const string Section = "Portal:Auth:Jwt";

    /// <summary>An OpenID Connect issuer URL: issuer and signing keys come from its discovery document.</summary>
    public string? Authority { get; set; }
    /// <summary>The <c>iss</c> every token must carry (required without <see cref="Authority"/>).</summary>
    public string? Issuer { get; set; }
    /// <summary>The <c>aud</c> every token must carry (required).</summary>
    public string? Audience { get; set; }
    /// <summary>
    /// Keys that sign tokens, each a PEM public key (RSA or EC, <c>-----BEGIN PUBLIC KEY-----</c>)
    /// or a base64 shared secret of at least 32 bytes (HMAC). Required without <see cref="Authority"/>.
    /// </summary>
    public List<string> SigningKeys { get; set; } = [];
    /// <summary>The claim naming the caller's team (a team ID of this portal).</summary>
    public string TeamClaim { get; set; } = "team_id";
    /// <summary>The claim naming the caller's role in it: <c>admin</c> or <c>member</c> (absent: member).</summary>
    public string RoleClaim { get; set; } = "role";
    /// <summary>The claim shown as the user's name (e.g. as an API key's creator).</summary>
    public string NameClaim { get; set; } = "email";
    /// <summary>Clock skew allowed on <c>exp</c>/<c>nbf</c>.</summary>
    public TimeSpan ClockSkew { get; set; } = TimeSpan.FromSeconds(30);

    public bool Enabled => !string.IsNullOrWhiteSpace(Authority) || SigningKeys.Count > 0;

    /// <summary>The configured keys as signing keys; throws <see cref="FormatException"/> naming the bad one.</summary>
    public IReadOnlyList<SecurityKey> ParseSigningKeys()
    {
        var keys = new List<SecurityKey>();
        for (var i = 0; i < SigningKeys.Count; i++)
            keys.Add(ParseKey(SigningKeys[i], $"{Section}:SigningKeys:{i}"));
        return keys;
    }

    private static SecurityKey ParseKey(string text, string key)
    {
        text = text.Trim();
        if (text.StartsWith("-----BEGIN", StringComparison.Ordinal))
        {
            if (!text.Contains("PUBLIC KEY", StringComparison.Ordinal))
                throw new FormatException($"{key} must be a public key (-----BEGIN PUBLIC KEY-----), never a private one.");
            try
            {
                var rsa = RSA.Create();
                rsa.ImportFromPem(text);
                return new RsaSecurityKey(rsa);
            }
            catch (Exception e) when (e is ArgumentException or CryptographicException)
            {
                try
                {
                    var ec = ECDsa.Create();
                    ec.ImportFromPem(text);
                    return new ECDsaSecurityKey(ec);
                }
                catch (Exception e2) when (e2 is ArgumentException or CryptographicException)
                {
                    throw new FormatException($"{key} is neither an RSA nor an EC public key in PEM: {e2.Message}");
                }
            }
        }
        byte[] secret;
        try { secret = Convert.FromBase64String(text); }
        catch (FormatException) { throw new FormatException($"{key} must be a PEM public key or a base64 shared secret."); }
        if (secret.Length < 32) throw new FormatException($"{key}: a shared secret must be at least 32 bytes (got {secret.Length}).");
        return new SymmetricSecurityKey(secret);
    }
}

internal sealed class JwtOptionsValidator : IValidateOptions<JwtOptions>
{
    public ValidateOptionsResult Validate(string? name, JwtOptions o)
    {
        const string s = JwtOptions.Section;
        if (!o.Enabled) return ValidateOptionsResult.Success;
        var errors = new List<string>();
        if (string.IsNullOrWhiteSpace(o.Audience)) errors.Add($"{s}:Audience must name the audience (aud) tokens are issued for.");
        if (!string.IsNullOrWhiteSpace(o.Authority) && !Uri.TryCreate(o.Authority, UriKind.Absolute, out _))
            errors.Add($"{s}:Authority must be an absolute URL (got '{o.Authority}').");
        if (string.IsNullOrWhiteSpace(o.Authority))
        {
            if (string.IsNullOrWhiteSpace(o.Issuer)) errors.Add($"{s}:Issuer must name the issuer (iss) when {s}:Authority is not set.");
            if (o.SigningKeys.Count == 0) errors.Add($"{s}:SigningKeys must list at least one key when {s}:Authority is not set.");
        }
        try { o.ParseSigningKeys(); }
        catch (FormatException e) { errors.Add(e.Message); }
        foreach (var (value, key) in new[] { (o.TeamClaim, "TeamClaim"), (o.RoleClaim, "RoleClaim"), (o.NameClaim, "NameClaim") })
            if (string.IsNullOrWhiteSpace(value)) errors.Add($"{s}:{key} must name a claim.");
        if (o.ClockSkew < TimeSpan.Zero || o.ClockSkew > TimeSpan.FromMinutes(10))
            errors.Add($"{s}:ClockSkew must be between 00:00:00 and 00:10:00 (got '{o.ClockSkew}').");
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
