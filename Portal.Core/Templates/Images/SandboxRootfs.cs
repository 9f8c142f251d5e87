namespace Portal.Core.Templates.Images;

/// <summary>
/// Adds to an unpacked image what a sandbox needs of its root filesystem, as E2B adds its own
/// agent and user when it converts an image:
/// real directories where the launcher mounts (<c>/proc</c>, <c>/dev</c>, <c>/tmp</c>, <c>/run/portal</c>)
/// and binds envd (<c>/usr/local/bin/portal-envd</c>, an empty placeholder file); the account
/// <c>user</c> (uid 1000, or the next free uid when the image gives 1000 to someone else, e.g. node's
/// <c>node</c>) with home <c>/home/user</c>. It requires <c>/bin/sh</c> (envd starts commands with it)
/// and says when <c>/bin/bash</c> (what the SDK's commands use) or <c>sudo</c> are missing: it does not
/// install packages into an image.
/// </summary>
internal static class SandboxRootfs
{
    private static readonly string[] MountPoints = ["proc", "dev", "tmp", "run", "run/portal", "etc", "home", "usr", "usr/local", "usr/local/bin"];

    public static void Prepare(string root, IProgress<string> log)
    {
        if (RootfsPaths.ResolveInside(root, "bin/sh") is null)
            throw ImageErrors.Refused("the image has no /bin/sh: sandboxes start their commands with a shell");
        if (RootfsPaths.ResolveInside(root, "bin/bash") is null)
            log.Report("the image has no /bin/bash: commands that ask for bash (the SDK's commands.run does) will fail until it is installed");
        if (RootfsPaths.ResolveInside(root, "usr/bin/sudo") is null)
            log.Report("the image has no sudo: 'user' cannot become root in its sandboxes");

        foreach (var dir in MountPoints)
        {
            var path = Path.Combine(root, dir);
            // The launcher mounts onto these before it leaves the host's tree: a link here would
            // point its mounts at host paths.
            switch (RootfsPaths.KindOf(path))
            {
                case RootfsPaths.Kind.None: Directory.CreateDirectory(path); File.SetUnixFileMode(path, (UnixFileMode)0x1ED /* 0755 */); break;
                case RootfsPaths.Kind.Directory: break;
                default: throw ImageErrors.Refused($"the image's /{dir} is not a directory (a symlink or file); sandboxes mount there");
            }
        }
        File.SetUnixFileMode(Path.Combine(root, "tmp"), (UnixFileMode)0x3FF /* 1777 */);

        var envd = Path.Combine(root, "usr/local/bin/portal-envd");
        RootfsPaths.Remove(envd);
        File.WriteAllBytes(envd, []);
        File.SetUnixFileMode(envd, (UnixFileMode)0x1ED);
        RootfsPaths.Lchown(envd, 0, 0);

        AddUser(root, log);
    }

    private static void AddUser(string root, IProgress<string> log)
    {
        var passwd = Path.Combine(root, "etc/passwd");
        var group = Path.Combine(root, "etc/group");
        foreach (var f in new[] { passwd, group })
            if (RootfsPaths.KindOf(f) is not (RootfsPaths.Kind.File or RootfsPaths.Kind.None))
                throw ImageErrors.Refused($"the image's /{Path.GetRelativePath(root, f)} is not a plain file");
        var users = Lines(passwd);
        var groups = Lines(group);
        if (!users.Any(l => l.StartsWith("root:", StringComparison.Ordinal))) users.Insert(0, "root:x:0:0:root:/root:/bin/sh");
        if (!groups.Any(l => l.StartsWith("root:", StringComparison.Ordinal))) groups.Insert(0, "root:x:0:");
        // envd starts root's commands in root's home.
        if (Field(users.First(l => l.StartsWith("root:", StringComparison.Ordinal)), 5) is ['/', ..] rootHome
            && RootfsPaths.PrepareParents(root, RootfsPaths.Components(rootHome[1..], "root's home"), "root's home") is { } rootHomePath
            && RootfsPaths.KindOf(rootHomePath) == RootfsPaths.Kind.None)
        {
            Directory.CreateDirectory(rootHomePath);
            File.SetUnixFileMode(rootHomePath, (UnixFileMode)0x1C0 /* 0700 */);
        }
        if (users.Any(l => l.StartsWith("user:", StringComparison.Ordinal)))
        {
            File.WriteAllLines(passwd, users);
            File.WriteAllLines(group, groups);
            return;
        }

        var uid = FreeId(users, 2);
        var gid = groups.Any(l => Field(l, 2) == uid) ? FreeId(groups, 2) : uid;
        var shell = RootfsPaths.ResolveInside(root, "bin/bash") is null ? "/bin/sh" : "/bin/bash";
        users.Add($"user:x:{uid}:{gid}::/home/user:{shell}");
        groups.Add($"user:x:{gid}:");
        File.WriteAllLines(passwd, users);
        File.WriteAllLines(group, groups);
        var home = Path.Combine(root, "home/user");
        if (RootfsPaths.KindOf(home) != RootfsPaths.Kind.None) RootfsPaths.Remove(home);
        Directory.CreateDirectory(home);
        RootfsPaths.Lchown(home, int.Parse(uid), int.Parse(gid));
        if (uid != "1000") log.Report($"uid 1000 belongs to another account of the image: 'user' got uid {uid}");
        log.Report($"added the account 'user' (uid {uid}, home /home/user, shell {shell})");
    }

    private static List<string> Lines(string path) =>
        RootfsPaths.KindOf(path) == RootfsPaths.Kind.File ? File.ReadAllLines(path).Where(l => l.Length > 0).ToList() : [];

    private static string? Field(string line, int index) => line.Split(':') is { } f && f.Length > index ? f[index] : null;

    private static string FreeId(List<string> lines, int field)
    {
        var used = lines.Select(l => Field(l, field)).ToHashSet();
        for (var id = 1000; ; id++) if (!used.Contains(id.ToString())) return id.ToString();
    }
}
