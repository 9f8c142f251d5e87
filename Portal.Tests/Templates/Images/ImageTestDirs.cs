using System.Diagnostics;
using Portal.Core.Templates.Images;

namespace Portal.Tests.Templates.Images;

/// <summary>A private templates directory, layouts directory and "outside" directory, removed afterwards.</summary>
public sealed class ImageTestDirs : IDisposable
{
    public string Root { get; } = Path.Combine("/var/tmp", $"portal-image-tests-{Guid.NewGuid():N}"[..32]);
    public string Templates => Path.Combine(Root, "templates");
    public string Layouts => Path.Combine(Root, "layouts");
    /// <summary>Stands for the host: nothing an image does may touch it.</summary>
    public string Outside => Path.Combine(Root, "outside");
    public List<string> Log { get; } = [];
    public IProgress<string> Progress { get; }

    public ImageTestDirs()
    {
        foreach (var d in new[] { Templates, Layouts, Outside }) Directory.CreateDirectory(d);
        File.WriteAllText(Path.Combine(Outside, "victim"), "host file");
        Progress = new SyncProgress(Log);
    }

    public ImageResolver Resolver(ImageOptions? options = null) =>
        new(options ?? new ImageOptions { OciLayoutDirectory = Layouts }, Templates);

    /// <summary>Directories in the templates directory: templates plus any leftover build.</summary>
    public string[] TemplateEntries() => Directory.GetFileSystemEntries(Templates).Select(Path.GetFileName).ToArray()!;

    public static string Stat(string path, string format)
    {
        using var p = Process.Start(new ProcessStartInfo("stat", ["-c", format, path]) { RedirectStandardOutput = true })!;
        var output = p.StandardOutput.ReadToEnd().Trim();
        p.WaitForExit();
        return output;
    }

    public void Dispose()
    {
        try { Directory.Delete(Root, true); } catch (IOException) { }
    }

    /// <summary>Progress&lt;T&gt; posts to the thread pool; tests want the lines at once.</summary>
    private sealed class SyncProgress(List<string> lines) : IProgress<string>
    {
        public void Report(string value) { lock (lines) lines.Add(value); }
    }
}
