using Portal.Core;
using System.Formats.Tar;
using System.Text.Json.Nodes;
using Portal.Core.Runtime.Local;
using Portal.Core.Templates;
using Portal.Core.Templates.Images;

namespace Portal.Tests.Templates.Images;

public sealed class OciLayoutUnpackTests : IDisposable
{
    private readonly ImageTestDirs _dirs = new();
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => _dirs.Dispose();

    private static OciTestImage.LayerWriter Shell(OciTestImage.LayerWriter w) => w.Dir("bin").File("bin/sh", "#!fake shell", 0x1ED);

    [Fact]
    public async Task Layout_LayersApplyInOrder_WithWhiteouts_ModesOwnersAndLinksKept()
    {
        var image = new OciTestImage()
            .Layer(w => Shell(w)
                .Dir("etc").File("etc/removed", "x").File("etc/kept", "1")
                .Dir("opq").File("opq/old", "old").Dir("opq/sub").File("opq/sub/deep", "d")
                .Dir("srv", 0x1E8 /* 0750 */, 1234, 1234)
                .File("srv/app.sh", "echo app", 0x9ED /* 04755 */, 1234, 1235)
                .Symlink("srv/link", "/etc/kept")
                .HardLink("srv/hard", "srv/app.sh")
                .CharDevice("srv/console", 5, 1))
            .Layer(w => w
                .File("etc/.wh.removed", "")
                .File("opq/.wh..wh..opq", "")
                .File("opq/new", "new")           // same layer as the opaque whiteout: kept
                .File("etc/kept", "2"), gzip: false)
            .Build("PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8");
        image.WriteLayout(Path.Combine(_dirs.Layouts, "tiny"), "v1");

        var resolved = await _dirs.Resolver().ResolveImageAsync("oci-layout:tiny:v1", null, _dirs.Progress, Ct);

        Assert.Equal(image.ManifestDigest, resolved.ManifestDigest);
        Assert.Equal("image-" + image.ManifestDigest[7..39], resolved.TemplateId);
        Assert.Equal(["PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8"], resolved.Env);
        Assert.Equal("/srv", resolved.WorkingDir);
        var defaults = _dirs.Resolver().DefaultsOf(resolved.TemplateId); // what the builder starts its state with
        Assert.Equal("/srv", defaults!.WorkingDir);
        Assert.Equal(resolved.Env, defaults.Env);
        Assert.Null(_dirs.Resolver().DefaultsOf("base"));
        var root = Path.Combine(_dirs.Templates, resolved.TemplateId, "rootfs");
        Assert.False(File.Exists(Path.Combine(root, "etc/removed")));
        Assert.Equal("2", File.ReadAllText(Path.Combine(root, "etc/kept")));
        Assert.Equal(["new"], Directory.GetFileSystemEntries(Path.Combine(root, "opq")).Select(Path.GetFileName));
        Assert.Equal("750 1234:1234", ImageTestDirs.Stat(Path.Combine(root, "srv"), "%a %u:%g"));
        Assert.Equal("4755 1234:1235 2", ImageTestDirs.Stat(Path.Combine(root, "srv/app.sh"), "%a %u:%g %h")); // set-uid kept, two links
        Assert.Equal("/etc/kept", new FileInfo(Path.Combine(root, "srv/link")).LinkTarget);
        Assert.Equal(ImageTestDirs.Stat(Path.Combine(root, "srv/app.sh"), "%i"), ImageTestDirs.Stat(Path.Combine(root, "srv/hard"), "%i"));
        Assert.False(File.Exists(Path.Combine(root, "srv/console")));
        Assert.Contains(_dirs.Log, l => l.Contains("skipped 1 device node"));

        // What a sandbox needs was added.
        Assert.Contains("user:x:1000:1000::/home/user:/bin/sh", File.ReadAllLines(Path.Combine(root, "etc/passwd")));
        Assert.Equal("1000:1000", ImageTestDirs.Stat(Path.Combine(root, "home/user"), "%u:%g"));
        Assert.Equal(0, new FileInfo(Path.Combine(root, "usr/local/bin/portal-envd")).Length);
        Assert.True(Directory.Exists(Path.Combine(root, "run/portal")));
        Assert.Equal("1777", ImageTestDirs.Stat(Path.Combine(root, "tmp"), "%a"));

        // A plain template of the runtime's catalog, hidden from listings; no build leftovers.
        var catalog = new LocalTemplateCatalog(_dirs.Templates);
        Assert.True((await catalog.FindAsync(resolved.TemplateId, Ct))!.Hidden);
        Assert.Empty(await catalog.ListAsync(Ct));
        Assert.Equal([resolved.TemplateId], _dirs.TemplateEntries());
        Assert.True(File.Exists(Path.Combine(_dirs.Templates, resolved.TemplateId, "image.json")));

        // Cached by manifest digest: a second resolve unpacks nothing.
        var stamp = Directory.GetLastWriteTimeUtc(root);
        var again = await _dirs.Resolver().ResolveImageAsync("oci-layout:tiny:v1", null, _dirs.Progress, Ct);
        Assert.Equal(resolved, again with { Env = resolved.Env });
        Assert.Equal(resolved.Env, again.Env);
        Assert.Contains(_dirs.Log, l => l.Contains("unpacked already"));
        Assert.Equal(stamp, Directory.GetLastWriteTimeUtc(root));
    }

    public static TheoryData<string, string> HostileLayers() => new()
    {
        { "dotdot", "climbs out with '..'" },
        { "absolute", "has an absolute path" },
        { "through-symlink", "goes through the symlink 'evil'" },
        { "whiteout-through-symlink", "goes through the symlink 'evil'" },
        { "hardlink-out", "climbs out with '..'" },
        { "hardlink-absolute", "has an absolute path" },
        { "hardlink-to-dir", "must point at a file" },
        { "mountpoint-symlink", "/run is not a directory" },
        { "huge", "larger than 16 MB unpacked" },
        { "no-shell", "has no /bin/sh" },
    };

    [Theory]
    [MemberData(nameof(HostileLayers))]
    public async Task HostileLayers_RefuseTheImage_AndTouchNothingOutside(string kind, string message)
    {
        var outside = _dirs.Outside;
        var image = new OciTestImage().Layer(w =>
        {
            if (kind != "no-shell") Shell(w);
            switch (kind)
            {
                case "dotdot": w.File("../../../outside/dropped", "x"); break;
                case "absolute": w.File(outside + "/dropped", "x"); break;
                case "through-symlink": w.Symlink("evil", outside).File("evil/dropped", "x"); break;
                case "whiteout-through-symlink": w.Symlink("evil", outside); break;
                case "hardlink-out": w.HardLink("stolen", "../../../outside/victim"); break;
                case "hardlink-absolute": w.HardLink("stolen", outside + "/victim"); break;
                case "hardlink-to-dir": w.HardLink("stolen", "bin"); break;
                case "mountpoint-symlink": w.Symlink("run", outside); break;
                case "huge": w.File("big", new byte[17 << 20]); break;
                case "no-shell": w.Dir("etc"); break;
            }
        });
        if (kind == "whiteout-through-symlink") image.Layer(w => w.File("evil/.wh.victim", ""));
        image.Build().WriteLayout(Path.Combine(_dirs.Layouts, "hostile"));

        var e = await Assert.ThrowsAsync<DomainException>(() => _dirs.Resolver(new ImageOptions { OciLayoutDirectory = _dirs.Layouts, MaxImageSizeMB = 16 })
            .ResolveImageAsync("oci-layout:hostile", null, _dirs.Progress, Ct));
        Assert.Contains(message, e.Message);
        Assert.Equal(["victim"], Directory.GetFileSystemEntries(outside).Select(Path.GetFileName));
        Assert.Equal("host file", File.ReadAllText(Path.Combine(outside, "victim")));
        Assert.Empty(_dirs.TemplateEntries()); // no template, no half-built leftovers
    }

    [Fact]
    public async Task Layout_WithACorruptedBlob_IsRefused_ByDigest()
    {
        var image = new OciTestImage().Layer(w => Shell(w).File("etc/data", "payload")).Build();
        var layout = image.WriteLayout(Path.Combine(_dirs.Layouts, "corrupt"));
        var layer = JsonNode.Parse(image.Manifest)!["layers"]![0]!["digest"]!.GetValue<string>();
        var blob = Path.Combine(layout, "blobs", "sha256", layer[7..]);
        var bytes = File.ReadAllBytes(blob);
        bytes[^5] ^= 0x55;
        File.WriteAllBytes(blob, bytes);

        var e = await Assert.ThrowsAsync<DomainException>(() => _dirs.Resolver().ResolveImageAsync("oci-layout:corrupt", null, _dirs.Progress, Ct));
        Assert.Contains($"blob {layer} does not match its descriptor", e.Message);
        Assert.Empty(_dirs.TemplateEntries());
    }

    [Theory]
    [InlineData("oci-layout:../outside", "not a valid layout reference")]
    [InlineData("oci-layout:/etc", "not a valid layout reference")]
    [InlineData("oci-layout:missing", "OCI image layout 'missing' not found")]
    [InlineData("oci-layout:tiny:nope", "no image tagged 'nope'")]
    public async Task LayoutReferences_ResolveOnlyInsideTheLayoutDirectory(string image, string message)
    {
        new OciTestImage().Layer(w => Shell(w)).Build().WriteLayout(Path.Combine(_dirs.Layouts, "tiny"), "v1");
        var e = await Assert.ThrowsAsync<DomainException>(() => _dirs.Resolver().ResolveImageAsync(image, null, _dirs.Progress, Ct));
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public async Task Layouts_WhenNoDirectoryIsConfigured_SayWhichKeyToSet()
    {
        var e = await Assert.ThrowsAsync<DomainException>(() => _dirs.Resolver(new ImageOptions()).ResolveImageAsync("oci-layout:tiny", null, _dirs.Progress, Ct));
        Assert.Contains("Portal:Templates:Images:OciLayoutDirectory", e.Message);
    }

    [Fact]
    public async Task DebianImages_ResolveToTheBaseTemplate_OthersNeedAnAllowedRegistry()
    {
        Directory.CreateDirectory(Path.Combine(_dirs.Templates, "base", "rootfs"));
        File.WriteAllText(Path.Combine(_dirs.Templates, "base", "template.json"), "{}");
        var resolver = _dirs.Resolver();

        Assert.Equal("base", (await resolver.ResolveImageAsync("python:3", null, _dirs.Progress, Ct)).TemplateId);
        Assert.Contains(_dirs.Log, l => l.Contains("Python 3.11"));
        Assert.Equal("base", (await resolver.ResolveImageAsync("node:lts", null, _dirs.Progress, Ct)).TemplateId);

        var version = await Assert.ThrowsAsync<DomainException>(() => resolver.ResolveImageAsync("python:3.12", null, _dirs.Progress, Ct));
        Assert.Contains("Python 3.12 is not available", version.Message);
        Assert.Contains("python:3.11", version.Message);
        var fedora = await Assert.ThrowsAsync<DomainException>(() => resolver.ResolveImageAsync("fedora:40", null, _dirs.Progress, Ct));
        Assert.Contains("Portal:Templates:Images:AllowedRegistries", fedora.Message);
        var aws = await Assert.ThrowsAsync<DomainException>(() => resolver.ResolveImageAsync("python:3", new RegistryCredentials("aws", new Dictionary<string, string>()), _dirs.Progress, Ct));
        Assert.Contains("type 'aws' are not supported", aws.Message);
        var gcp = await Assert.ThrowsAsync<DomainException>(() => resolver.ResolveImageAsync("python:3", new RegistryCredentials("gcp", new Dictionary<string, string>()), _dirs.Progress, Ct));
        Assert.Contains("type 'gcp' are not supported", gcp.Message);
    }
}
