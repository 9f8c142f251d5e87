using System.Buffers.Text;
using System.Globalization;
using System.Text;

namespace Portal.Core;

/// <summary>
/// The cursor of every paged list (E2B's <c>nextToken</c> / <c>X-Next-Token</c>): URL-safe base64 of
/// <c>unixMs:id</c> of the last item returned. Lists are ordered by (time, ID), so a page continues
/// after that pair and items added meanwhile neither repeat nor shift the next page.
/// </summary>
public static class PageToken
{
    public static string Encode(DateTimeOffset at, string id) =>
        Base64Url.EncodeToString(Encoding.UTF8.GetBytes($"{at.ToUnixTimeMilliseconds()}:{id}"));

    /// <summary>The pair a token names; a token this list did not issue is an invalid argument.</summary>
    public static (long Ms, string Id) Decode(string token, Func<string, bool> isWellFormedId)
    {
        try
        {
            var text = Encoding.UTF8.GetString(Base64Url.DecodeFromChars(token));
            var colon = text.IndexOf(':');
            if (colon > 0 && long.TryParse(text[..colon], NumberStyles.None, CultureInfo.InvariantCulture, out var ms)
                && isWellFormedId(text[(colon + 1)..]))
                return (ms, text[(colon + 1)..]);
        }
        catch (FormatException) { }
        throw DomainException.InvalidArgument("invalid nextToken: pass the X-Next-Token value of the previous page unchanged");
    }
}
