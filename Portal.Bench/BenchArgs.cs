using System.Globalization;

namespace Portal.Bench;

/// <summary>The verbs' flags: <c>--name value</c> pairs, read where each verb starts.</summary>
internal static class BenchArgs
{
    public static string? Value(string[] args, string name)
    {
        var i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
    }

    /// <summary>The flag's number, or <paramref name="fallback"/> when the flag is absent; a value that is not a number is refused.</summary>
    public static int Int(string[] args, string name, int fallback) => Value(args, name) switch
    {
        null => fallback,
        var v when int.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) => n,
        var v => throw new ArgumentException($"{name}: '{v}' is not a whole number"),
    };
}
