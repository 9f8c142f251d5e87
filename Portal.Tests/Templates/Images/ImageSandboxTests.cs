using System.Diagnostics;
using Portal.Core.Runtime;
using Portal.Core.Runtime.Local;
using Portal.Core.Templates.Images;
using Portal.Tests.Runtime.Local;

namespace Portal.Tests.Templates.Images;

/// <summary>A sandbox of the real local runtime started from an image the test built and unpacked.</summary>
[Collection(nameof(LocalRuntimeCollection))]
public sealed class ImageSandboxTests(LocalRuntimeFixture fx) : IDisposable
{
    private readonly ImageTestDirs _dirs = new();
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => _dirs.Dispose();

    [Fact]
    public async Task Sandbox_StartsFromAnUnpackedImage_AndRunsACommandAsUser()
    {
        // A two-layer image of this host's bash and dash with their libraries and the libraries
        // envd links against: nothing else, so whatever the sandbox needs beyond that came from
        // the resolver (the user account, envd's mount point, /run/portal).
        var added = new HashSet<string>();
        var image = new OciTestImage()
            .Layer(w =>
            {
                foreach (var path in new[] { "/bin/bash", "/bin/sh" }.Concat(Libraries("/bin/bash", "/bin/sh", fx.Options.EnvdPath)))
                    w.HostFile(path, added);
                w.Dir("etc").File("etc/removed", "lower layer");
            })
            .Layer(w => w.File("etc/.wh.removed", "").File("etc/message", "hello from an OCI image"))
            .Build("PATH=/usr/bin:/bin");
        image.WriteLayout(Path.Combine(_dirs.Layouts, "hostbash"), "1");
        var resolved = await _dirs.Resolver().ResolveImageAsync("oci-layout:hostbash:1", null, _dirs.Progress, Ct);

        var options = new LocalRuntimeOptions
        {
            SandboxesDirectory = Path.Combine(_dirs.Root, "sandboxes"),
            TemplatesDirectory = _dirs.Templates,
            EnvdPath = fx.Options.EnvdPath,
            CgroupGroup = "portal-image-" + Path.GetFileName(_dirs.Root)[^6..],
            Network = { Uplink = "none" },
        };
        using var runtime = new LocalSandboxRuntime(options);
        try
        {
            var sbx = await runtime.CreateAsync(new SandboxSpec { SandboxId = LocalRuntimeFixture.NewId(), TemplateId = resolved.TemplateId }, Ct);
            Assert.Equal(SandboxState.Running, sbx.State);
            var (exit, stdout, stderr) = await fx.RunAsync(sbx.SandboxId,
                "read -r m < /etc/message; echo \"$m\"; echo $EUID $HOME; [ -e /etc/removed ] && echo present || echo gone", runtime: runtime);
            Assert.True(exit == 0, stderr);
            Assert.Equal("hello from an OCI image\n1000 /home/user\ngone\n", stdout);
            var (_, root, _) = await fx.RunAsync(sbx.SandboxId, "echo $EUID", user: "root", runtime: runtime);
            Assert.Equal("0\n", root);

            // A build's layer stands on the image template like on any other (what the builds engine makes).
            var child = Path.Combine(_dirs.Templates, "built-on-image");
            Directory.CreateDirectory(Path.Combine(child, "rootfs", "etc"));
            File.WriteAllText(Path.Combine(child, "rootfs", "etc", "step"), "from a build step");
            LocalTemplateCatalog.Save(child, new SandboxTemplate { TemplateId = "built-on-image", ParentTemplateId = resolved.TemplateId });
            var built = await runtime.CreateAsync(new SandboxSpec { SandboxId = LocalRuntimeFixture.NewId(), TemplateId = "built-on-image" }, Ct);
            var (_, both, _) = await fx.RunAsync(built.SandboxId, "read -r a < /etc/message; read -r b < /etc/step; echo \"$a / $b\"", runtime: runtime);
            Assert.Equal("hello from an OCI image / from a build step\n", both);
            Assert.Equal(["built-on-image"], (await runtime.Templates.ListAsync(Ct)).Select(t => t.TemplateId)); // the image itself is not listed

            // Removable like any template once nothing stands on it; the next resolve unpacks it again.
            await Assert.ThrowsAsync<TemplateInUseException>(() => runtime.DeleteTemplateAsync(resolved.TemplateId, Ct));
            foreach (var s in await runtime.ListAsync(Ct)) await runtime.KillAsync(s.SandboxId, Ct);
            Assert.True(await runtime.DeleteTemplateAsync("built-on-image", Ct));
            Assert.True(await runtime.DeleteTemplateAsync(resolved.TemplateId, Ct));
            Assert.Null(await runtime.Templates.FindAsync(resolved.TemplateId, Ct));
            _dirs.Log.Clear();
            Assert.Equal(resolved.TemplateId, (await _dirs.Resolver().ResolveImageAsync("oci-layout:hostbash:1", null, _dirs.Progress, Ct)).TemplateId);
            Assert.DoesNotContain(_dirs.Log, l => l.Contains("unpacked already"));
        }
        finally
        {
            foreach (var s in await runtime.ListAsync(CancellationToken.None)) await runtime.KillAsync(s.SandboxId, CancellationToken.None);
            runtime.Dispose();
            // The runtime keeps its (now empty) group cgroup; this test's group is its own.
            foreach (var group in Directory.GetDirectories("/sys/fs/cgroup").Append("/sys/fs/cgroup").Select(c => Path.Combine(c, options.CgroupGroup)).Where(Directory.Exists))
                try { Directory.Delete(group); } catch (IOException) { }
        }
    }

    /// <summary>The shared libraries (and loader) the binaries load, as ldd names them.</summary>
    private static IEnumerable<string> Libraries(params string[] binaries)
    {
        var result = new SortedSet<string>();
        foreach (var binary in binaries)
        {
            using var p = Process.Start(new ProcessStartInfo("ldd", [binary]) { RedirectStandardOutput = true })!;
            foreach (var line in p.StandardOutput.ReadToEnd().Split('\n'))
            {
                var path = line.Contains("=>") ? line.Split("=>")[1].Trim().Split(' ')[0] : line.Trim().Split(' ')[0];
                if (path.StartsWith('/')) result.Add(path);
            }
            p.WaitForExit();
        }
        return result;
    }
}
