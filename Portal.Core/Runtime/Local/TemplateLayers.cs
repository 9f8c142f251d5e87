using System.Diagnostics;
using Microsoft.Extensions.Logging;

namespace Portal.Core.Runtime.Local;

/// <summary>
/// Making and removing layered templates on disk (<see cref="LocalTemplateCatalog"/>): a sandbox's
/// overlay upper directory becomes a template's <c>rootfs/</c> as it is, whiteouts (character
/// devices 0/0) and opaque-directory xattrs included, which overlayfs honours in lower layers too.
/// That is why the copy is <c>cp -a</c>: it keeps device nodes, hard links, ownership, modes and
/// the <c>trusted.overlay.*</c> xattrs that .NET's file APIs cannot copy.
/// </summary>
public static class TemplateLayers
{
    private const string RetiredPrefix = ".retired-";
    private static readonly Lock RetireLock = new();

    /// <summary>A template ID is also a directory name: nothing that could leave the templates directory.</summary>
    public static bool IsValidId(string? id) =>
        id is { Length: > 0 and <= 64 } && id[0] is (>= 'a' and <= 'z') or (>= '0' and <= '9')
        && id.All(c => c is (>= 'a' and <= 'z') or (>= '0' and <= '9') or '-' or '_');

    /// <summary>
    /// Copies <paramref name="upperDirectory"/> into a new template folder and makes it appear at
    /// once (a rename), so a half-copied template is never found.
    /// </summary>
    public static void Capture(string upperDirectory, string templatesDirectory, SandboxTemplate template)
    {
        if (!Directory.Exists(upperDirectory)) throw new InvalidOperationException($"the sandbox's file changes are not at '{upperDirectory}'");
        Publish(templatesDirectory, template, "capture", rootfs => Copy(upperDirectory, rootfs));
    }

    /// <summary>A template with no files of its own (an empty layer over its parent), appearing at once.</summary>
    public static void Derive(string templatesDirectory, SandboxTemplate template) =>
        Publish(templatesDirectory, template, "derive", rootfs => Directory.CreateDirectory(rootfs));

    /// <summary>
    /// Makes the template in a hidden folder (<paramref name="makeRootfs"/> fills its <c>rootfs</c>)
    /// and renames it into place: it appears whole or not at all, and a taken ID is refused.
    /// </summary>
    private static void Publish(string templatesDirectory, SandboxTemplate template, string kind, Action<string> makeRootfs)
    {
        var target = Path.Combine(templatesDirectory, template.TemplateId);
        if (Directory.Exists(target)) throw new ArgumentException($"template '{template.TemplateId}' already exists");
        var work = Path.Combine(templatesDirectory, $".{kind}-{template.TemplateId}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(work);
        try
        {
            makeRootfs(Path.Combine(work, "rootfs"));
            LocalTemplateCatalog.Save(work, template);
            try { Directory.Move(work, target); }
            catch (IOException) when (Directory.Exists(target)) { throw new ArgumentException($"template '{template.TemplateId}' already exists"); }
        }
        finally
        {
            if (Directory.Exists(work)) Directory.Delete(work, recursive: true);
        }
    }

    private static void Copy(string from, string to)
    {
        var psi = new ProcessStartInfo("cp") { UseShellExecute = false, RedirectStandardError = true };
        foreach (var a in new[] { "-a", "--reflink=auto", "--", from, to }) psi.ArgumentList.Add(a);
        using var cp = Process.Start(psi) ?? throw new InvalidOperationException("could not start cp");
        var error = cp.StandardError.ReadToEnd();
        cp.WaitForExit();
        if (cp.ExitCode != 0) throw new IOException($"copying the sandbox's files failed: {error.Trim()}");
    }

    /// <summary>
    /// Moves the template out of sight and removes its files once no sandbox is mounted on them.
    /// False when it does not exist.
    /// </summary>
    public static bool Retire(LocalTemplateCatalog catalog, string templateId)
    {
        lock (RetireLock)
        {
            var dir = Path.Combine(catalog.Directory, templateId);
            if (!File.Exists(Path.Combine(dir, "template.json"))) return false;
            var children = catalog.ChildrenOf(templateId);
            if (children.Count > 0) throw new TemplateInUseException(templateId, children);
            Directory.Move(dir, Path.Combine(catalog.Directory, $"{RetiredPrefix}{templateId}-{DateTime.UtcNow.Ticks}"));
        }
        SweepRetired(catalog.Directory, null);
        return true;
    }

    /// <summary>
    /// Marks the template deleted in place (see <see cref="SandboxTemplate.Deleted"/>): a sandbox
    /// paused to disk needs its path when it boots again. False when it does not exist.
    /// </summary>
    public static bool MarkDeleted(LocalTemplateCatalog catalog, string templateId)
    {
        lock (RetireLock)
        {
            var dir = Path.Combine(catalog.Directory, templateId);
            var template = catalog.FindStoodOn(templateId) is { } t ? t with { TemplateId = templateId } : null;
            if (template is null || template.Deleted) return false;
            var children = catalog.ChildrenOf(templateId);
            if (children.Count > 0) throw new TemplateInUseException(templateId, children);
            LocalTemplateCatalog.Save(dir, template with { Deleted = true });
            catalog.Invalidate();
            return true;
        }
    }

    /// <summary>
    /// Deletes retired templates no overlay mount names any more. Overlayfs keeps the lower paths
    /// it was mounted with in its options even after a rename, so the original path tells whether
    /// a sandbox still stands on a retired template (scripts/build-template.sh does the same for <c>base</c>).
    /// </summary>
    public static void SweepRetired(string templatesDirectory, ILogger? log)
    {
        if (!Directory.Exists(templatesDirectory)) return;
        var retired = Directory.GetDirectories(templatesDirectory, RetiredPrefix + "*");
        if (retired.Length == 0) return;
        lock (RetireLock)
        {
            var mounts = File.ReadAllText("/proc/self/mountinfo");
            foreach (var dir in retired)
            {
                var name = Path.GetFileName(dir);
                var dash = name.LastIndexOf('-');
                if (dash <= RetiredPrefix.Length) continue;
                var original = Path.Combine(templatesDirectory, name[RetiredPrefix.Length..dash], "rootfs");
                if (Mentions(mounts, original)) continue;
                try { if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true); }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException) { log?.LogWarning(e, "could not remove retired template {Directory}", dir); }
            }
        }
    }

    /// <summary>The path as one whole entry of a mount's option list (<c>lowerdir=a:b,upperdir=...</c>).</summary>
    private static bool Mentions(string mountinfo, string path)
    {
        for (var i = mountinfo.IndexOf(path, StringComparison.Ordinal); i >= 0; i = mountinfo.IndexOf(path, i + 1, StringComparison.Ordinal))
        {
            var before = i > 0 ? mountinfo[i - 1] : ' ';
            var after = i + path.Length < mountinfo.Length ? mountinfo[i + path.Length] : '\n';
            if (before is '=' or ':' && after is ':' or ',' or ' ' or '\n') return true;
        }
        return false;
    }
}
