using Portal.Core.Envd;
using Bunit;
using Microsoft.AspNetCore.Components.Forms;
using Portal.Tests.Api;
using Portal.Web.Dashboard.Components.Shared;
using Portal.Web.Dashboard.Envd;

namespace Portal.Tests.Web.Dashboard.Pages;

/// <summary>
/// The file browser over a real envd (in-process, so the sandbox's files are this machine's): a
/// temporary directory the sandbox user may write stands in for its home.
/// </summary>
public sealed class SandboxFilesTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("portal-files-");

    public SandboxFilesTests()
    {
        _dir.UnixFileMode = (UnixFileMode)0b111_111_111; // the envd user (not the test's) writes here
        Directory.CreateDirectory(Path.Combine(_dir.FullName, "sub"));
        File.WriteAllText(Path.Combine(_dir.FullName, "sub", "inner.txt"), "inner");
        File.WriteAllText(Path.Combine(_dir.FullName, "readme.txt"), "hello files");
    }

    [Fact]
    public async Task Lists_Navigates_Uploads_AndLinksDownloadsThroughThePortal()
    {
        await using var t = await DashboardPageContext.StartAsync(runtime: new FakeSandboxRuntime { RealEnvd = true });
        t.SignInAs(t.Admin);
        var (_, snackbars) = t.RenderProviders();
        var id = (string)(await t.Host.Admin.CreateSandboxAsync())["sandboxID"]!;
        var sandbox = await t.Sandboxes.GetAsync(t.Admin, id, CancellationToken.None);
        var files = t.Bunit.Render<SandboxFiles>(p => p.Add(x => x.Sandbox, sandbox).Add(x => x.Start, _dir.FullName));

        files.WaitForAssertion(() => Assert.Equal(["sub/", "readme.txt"], Names(files)), TimeSpan.FromSeconds(10)); // directories first
        var link = files.Find("[data-testid=download]");
        Assert.Equal(FileDownloadEndpoint.PathFor(id, Path.Combine(_dir.FullName, "readme.txt")), link.GetAttribute("href"));
        Assert.Equal("readme.txt", link.GetAttribute("download"));

        await files.Find("[data-testid=open-dir]").ClickAsync(new());
        files.WaitForAssertion(() => Assert.Equal(["inner.txt"], Names(files)));
        await files.Find("[data-testid=files-up]").ClickAsync(new());
        files.WaitForAssertion(() => Assert.Equal(["sub/", "readme.txt"], Names(files)));

        files.FindComponent<InputFile>().UploadFiles(InputFileContent.CreateFromText("uploaded through the circuit", "../../note.txt"));
        snackbars.WaitForAssertion(() => Assert.Contains("Uploaded", snackbars.Markup), TimeSpan.FromSeconds(10));
        files.WaitForAssertion(() => Assert.Contains("note.txt", Names(files)));
        // The browser's name only: "../" does not leave the directory shown.
        Assert.Equal("uploaded through the circuit", await File.ReadAllTextAsync(Path.Combine(_dir.FullName, "note.txt"), Xunit.TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task MissingDirectory_ShowsEnvdsError()
    {
        await using var t = await DashboardPageContext.StartAsync(runtime: new FakeSandboxRuntime { RealEnvd = true });
        t.SignInAs(t.Admin);
        var id = (string)(await t.Host.Admin.CreateSandboxAsync())["sandboxID"]!;
        var sandbox = await t.Sandboxes.GetAsync(t.Admin, id, CancellationToken.None);
        var files = t.Bunit.Render<SandboxFiles>(p => p.Add(x => x.Sandbox, sandbox).Add(x => x.Start, Path.Combine(_dir.FullName, "nope")));
        files.WaitForAssertion(() => Assert.Contains("nope", files.Find("[data-testid=files-error]").TextContent), TimeSpan.FromSeconds(10));
        Assert.Empty(files.FindAll("[data-testid=file-table]"));
    }

    private static List<string> Names(IRenderedComponent<SandboxFiles> files) =>
        files.FindAll("[data-testid=file-name]").Select(e => e.TextContent.Trim()).ToList();

    public void Dispose() => _dir.Delete(true);
}
