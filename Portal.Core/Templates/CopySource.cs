namespace Portal.Core.Templates;

/// <summary>What a COPY step takes from its uploaded files, and where it puts it (Docker's COPY semantics).</summary>
public static class CopySource
{
    private static readonly char[] GlobChars = ['*', '?', '[', '{'];

    /// <summary>Absolute or climbing out with <c>..</c>: not a path inside the build context.</summary>
    public static bool IsOutside(string src)
    {
        var s = src.Replace('\\', '/');
        return s.StartsWith('/') || s.Split('/').Any(p => p == "..");
    }

    /// <summary>
    /// The glob-free leading part of <paramref name="src"/>, relative to the archive's root: the whole
    /// path when it has no pattern (<c>app</c>, <c>src/main.py</c>), else the directories before the
    /// first pattern (<c>src/*.py</c> → <c>src</c>, <c>*.txt</c> → empty = the archive's root).
    /// What it names is copied: a file as the file, a directory by merging its contents into the
    /// destination.
    /// </summary>
    public static string StaticPrefix(string src)
    {
        var s = src.Replace('\\', '/');
        while (s.StartsWith("./", StringComparison.Ordinal)) s = s[2..];
        if (s == ".") s = "";
        var meta = s.IndexOfAny(GlobChars);
        if (meta >= 0)
        {
            var slash = s.LastIndexOf('/', meta);
            s = slash < 0 ? "" : s[..slash];
        }
        return s.Trim('/');
    }

    /// <summary>A destination made absolute: relative ones against the working directory, else the user's home.</summary>
    public static string ResolveDestination(string dest, string? workdir, string user)
    {
        if (dest.StartsWith('/')) return dest;
        var root = workdir ?? HomeOf(user);
        var d = dest == "." ? "" : dest.StartsWith("./", StringComparison.Ordinal) ? dest[2..] : dest;
        return d.Length == 0 ? root.TrimEnd('/') + "/" : root.TrimEnd('/') + "/" + d;
    }

    public static string HomeOf(string user) => user == "root" ? "/root" : "/home/" + user;
}
