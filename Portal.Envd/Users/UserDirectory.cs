using System.Globalization;

namespace Portal.Envd.Users;

/// <summary>
/// Reads accounts straight from <c>/etc/passwd</c> and <c>/etc/group</c> (no NSS, so it works
/// in any image and under NativeAOT). Re-reads when either file changes.
/// </summary>
public sealed class UserDirectory(string etcDirectory = "/etc")
{
    private readonly object _gate = new();
    private (DateTime passwd, DateTime group) _stamp;
    private Dictionary<string, EnvdUser> _byName = new(StringComparer.Ordinal);
    private Dictionary<uint, string> _groupNames = [];
    private Dictionary<uint, string> _userNames = [];

    public EnvdUser? Find(string name)
    {
        Refresh();
        lock (_gate) return _byName.GetValueOrDefault(name);
    }

    public string UserName(uint uid)
    {
        Refresh();
        lock (_gate) return _userNames.TryGetValue(uid, out var n) ? n : uid.ToString(CultureInfo.InvariantCulture);
    }

    public string GroupName(uint gid)
    {
        Refresh();
        lock (_gate) return _groupNames.TryGetValue(gid, out var n) ? n : gid.ToString(CultureInfo.InvariantCulture);
    }

    private void Refresh()
    {
        var passwdPath = Path.Combine(etcDirectory, "passwd");
        var groupPath = Path.Combine(etcDirectory, "group");
        var stamp = (File.GetLastWriteTimeUtc(passwdPath), File.GetLastWriteTimeUtc(groupPath));
        lock (_gate)
        {
            if (stamp == _stamp && _byName.Count > 0) return;
        }

        var groupNames = new Dictionary<uint, string>();
        var members = new Dictionary<string, List<uint>>(StringComparer.Ordinal);
        foreach (var line in ReadLines(groupPath))
        {
            var f = line.Split(':');
            if (f.Length < 4 || !uint.TryParse(f[2], CultureInfo.InvariantCulture, out var gid)) continue;
            groupNames.TryAdd(gid, f[0]);
            foreach (var m in f[3].Split(',', StringSplitOptions.RemoveEmptyEntries))
            {
                if (!members.TryGetValue(m, out var list)) members[m] = list = [];
                list.Add(gid);
            }
        }

        var byName = new Dictionary<string, EnvdUser>(StringComparer.Ordinal);
        var userNames = new Dictionary<uint, string>();
        foreach (var line in ReadLines(passwdPath))
        {
            var f = line.Split(':');
            if (f.Length < 7) continue;
            if (!uint.TryParse(f[2], CultureInfo.InvariantCulture, out var uid) ||
                !uint.TryParse(f[3], CultureInfo.InvariantCulture, out var gid)) continue;
            var groups = new List<uint> { gid };
            if (members.TryGetValue(f[0], out var extra))
                groups.AddRange(extra.Where(g => g != gid));
            var home = string.IsNullOrEmpty(f[5]) ? "/" : f[5];
            var shell = string.IsNullOrEmpty(f[6]) ? "/bin/sh" : f[6];
            byName.TryAdd(f[0], new EnvdUser(f[0], uid, gid, home, shell, [.. groups]));
            userNames.TryAdd(uid, f[0]);
        }

        lock (_gate)
        {
            _byName = byName;
            _groupNames = groupNames;
            _userNames = userNames;
            _stamp = stamp;
        }
    }

    private static IEnumerable<string> ReadLines(string path) =>
        File.Exists(path) ? File.ReadLines(path).Where(l => l.Length > 0 && l[0] != '#') : [];
}
