using System.Buffers.Text;
using System.Globalization;
using System.Text;

namespace Portal.Core.Sandboxes;

public sealed record SandboxListQuery
{
    public IReadOnlyDictionary<string, string>? Metadata { get; init; }
    /// <summary>Running and/or Paused.</summary>
    public IReadOnlySet<SandboxStatus> States { get; init; } = new HashSet<SandboxStatus> { SandboxStatus.Running, SandboxStatus.Paused };
    public bool Ascending { get; init; }
    public DateTimeOffset? StartedAfter { get; init; }
    public string? Template { get; init; }
    /// <summary>Null = everything (no pagination).</summary>
    public int? Limit { get; init; }
    public string? NextToken { get; init; }
}

public sealed record SandboxPage(IReadOnlyList<SandboxRecord> Items, string? NextToken);

/// <summary>Opaque cursor: URL-safe base64 of <c>startedAtMs:sandboxId</c> of the last item returned.</summary>
public static class PageToken
{
    public static string Encode(SandboxRecord last) =>
        Base64Url.EncodeToString(Encoding.UTF8.GetBytes($"{last.StartedAt.ToUnixTimeMilliseconds()}:{last.SandboxId}"));

    public static (long StartedAtMs, string SandboxId) Decode(string token)
    {
        try
        {
            var text = Encoding.UTF8.GetString(Base64Url.DecodeFromChars(token));
            var colon = text.IndexOf(':');
            if (colon > 0 && long.TryParse(text[..colon], NumberStyles.None, CultureInfo.InvariantCulture, out var ms)
                && SandboxIds.IsWellFormed(text[(colon + 1)..]))
                return (ms, text[(colon + 1)..]);
        }
        catch (FormatException) { }
        throw DomainException.InvalidArgument("invalid nextToken: pass the X-Next-Token value of the previous page unchanged");
    }
}
