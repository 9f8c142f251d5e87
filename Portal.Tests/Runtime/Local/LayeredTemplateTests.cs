using Portal.Core.Runtime;
using Portal.Core.Runtime.Local;

namespace Portal.Tests.Runtime.Local;

/// <summary>
/// A sandbox's files copied into a template (<see cref="ISandboxRuntime.SnapshotAsync"/>) and
/// sandboxes started from it through the real local runtime: the template stacks only the changes
/// over its parent, deletions included.
/// </summary>
[Collection(nameof(LocalRuntimeCollection))]
public sealed class LayeredTemplateTests(LocalRuntimeFixture fx)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static string NewTemplateId() => "test-layer-" + Guid.NewGuid().ToString("N")[..12];

    private async Task<SandboxInstance> CreateFromAsync(string templateId) =>
        await fx.Runtime.CreateAsync(new SandboxSpec { SandboxId = LocalRuntimeFixture.NewId(), TemplateId = templateId, EnvVars = new Dictionary<string, string>() }, Ct);

    [Fact]
    public async Task Snapshot_KeepsWritesDeletionsAndDirectories_AndStacksOverItsParent()
    {
        var source = await fx.CreateAsync();
        await fx.RunAsync(source.SandboxId, "mkdir -p /home/user/project/sub && echo v1 > /home/user/project/sub/a.txt && sudo rm /etc/debian_version && sudo mkdir -p /opt/dir && echo x | sudo tee /opt/dir/x >/dev/null && echo in-tmp > /tmp/gone", user: "user");
        var first = NewTemplateId();
        var second = NewTemplateId();
        try
        {
            var snap = await fx.Runtime.SnapshotAsync(source.SandboxId, first, Ct);
            Assert.Equal("base", snap.ParentTemplateId);
            // The source runs on, thawed.
            Assert.Equal("alive", (await fx.RunAsync(source.SandboxId, "echo alive")).Stdout.Trim());

            var child = await CreateFromAsync(first);
            var (_, seen, _) = await fx.RunAsync(child.SandboxId, "cat /home/user/project/sub/a.txt; test -e /etc/debian_version && echo kept || echo deleted; cat /opt/dir/x; test -e /tmp/gone && echo tmp || echo no-tmp; stat -c %U /home/user/project");
            Assert.Equal(["v1", "deleted", "x", "no-tmp", "user"], seen.Trim().Split('\n'));

            // A snapshot of the snapshot's sandbox: two layers over base, an upper change over a lower one.
            await fx.RunAsync(child.SandboxId, "echo v2 > /home/user/project/sub/a.txt && rm -r /home/user/project/sub && mkdir /home/user/project/sub && echo b > /home/user/project/sub/b.txt");
            await fx.Runtime.SnapshotAsync(child.SandboxId, second, Ct);
            var grandchild = await CreateFromAsync(second);
            var (_, seen2, _) = await fx.RunAsync(grandchild.SandboxId, "ls /home/user/project/sub; test -e /etc/debian_version && echo kept || echo deleted");
            Assert.Equal(["b.txt", "deleted"], seen2.Trim().Split('\n'));

            // The parent cannot go while a template stands on it; a sandbox keeps running on a deleted template.
            await Assert.ThrowsAsync<TemplateInUseException>(() => fx.Runtime.DeleteTemplateAsync(first, Ct));
            Assert.True(await fx.Runtime.DeleteTemplateAsync(second, Ct));
            Assert.False(await fx.Runtime.DeleteTemplateAsync(second, Ct));
            Assert.Null(await fx.Runtime.Templates.FindAsync(second, Ct));
            await Assert.ThrowsAsync<TemplateNotFoundException>(() => CreateFromAsync(second));
            Assert.Equal("b.txt", (await fx.RunAsync(grandchild.SandboxId, "ls /home/user/project/sub")).Stdout.Trim());
            await fx.Runtime.KillAsync(grandchild.SandboxId, Ct);
            // With no sandbox on it any more, its files are gone too.
            Assert.Empty(Directory.GetDirectories(fx.Options.TemplatesDirectory, $".retired-{second}-*"));
            await fx.Runtime.KillAsync(child.SandboxId, Ct);
        }
        finally
        {
            await fx.Runtime.KillAsync(source.SandboxId, Ct);
            foreach (var id in new[] { second, first })
                try { await fx.Runtime.DeleteTemplateAsync(id, CancellationToken.None); } catch (TemplateInUseException) { }
        }
    }

    [Fact]
    public async Task Snapshot_CarriesTheSourcesDefaultUserDirectoryAndVariables_ACreatesOwnWin()
    {
        var source = await fx.Runtime.CreateAsync(new SandboxSpec
        {
            SandboxId = LocalRuntimeFixture.NewId(), TemplateId = "base", DefaultUser = "root", DefaultWorkdir = "/srv",
            EnvVars = new Dictionary<string, string> { ["A"] = "from-source", ["B"] = "kept" },
        }, Ct);
        var id = NewTemplateId();
        try
        {
            await fx.Runtime.SnapshotAsync(source.SandboxId, id, Ct);
            var plain = await fx.Runtime.CreateAsync(new SandboxSpec { SandboxId = LocalRuntimeFixture.NewId(), TemplateId = id }, Ct);
            Assert.Equal("root /srv from-source kept", (await fx.RunAsync(plain.SandboxId, "echo $(whoami) $PWD $A $B", user: null)).Stdout.Trim());
            var own = await fx.Runtime.CreateAsync(new SandboxSpec
            {
                SandboxId = LocalRuntimeFixture.NewId(), TemplateId = id, DefaultUser = "user",
                EnvVars = new Dictionary<string, string> { ["A"] = "mine" },
            }, Ct);
            Assert.Equal("user /srv mine kept", (await fx.RunAsync(own.SandboxId, "echo $(whoami) $PWD $A $B", user: null)).Stdout.Trim());
            await fx.Runtime.KillAsync(plain.SandboxId, Ct);
            await fx.Runtime.KillAsync(own.SandboxId, Ct);
        }
        finally
        {
            await fx.Runtime.KillAsync(source.SandboxId, Ct);
            try { await fx.Runtime.DeleteTemplateAsync(id, CancellationToken.None); } catch (TemplateInUseException) { }
        }
    }

    [Fact]
    public async Task Snapshot_OfAPausedSandbox_LeavesItPaused()
    {
        var source = await fx.CreateAsync();
        var id = NewTemplateId();
        try
        {
            await fx.RunAsync(source.SandboxId, "echo paused-copy > /home/user/p.txt");
            await fx.Runtime.PauseAsync(source.SandboxId, SandboxPauseMode.Memory, Ct);
            await fx.Runtime.SnapshotAsync(source.SandboxId, id, Ct);
            Assert.Equal(SandboxState.Paused, (await fx.Runtime.FindAsync(source.SandboxId, Ct))!.State);
            var child = await CreateFromAsync(id);
            Assert.Equal("paused-copy", (await fx.RunAsync(child.SandboxId, "cat /home/user/p.txt")).Stdout.Trim());
            await fx.Runtime.KillAsync(child.SandboxId, Ct);
        }
        finally
        {
            await fx.Runtime.KillAsync(source.SandboxId, Ct);
            await fx.Runtime.DeleteTemplateAsync(id, CancellationToken.None);
        }
    }

    [Fact]
    public async Task Snapshot_OfASandboxPausedToDisk_CopiesItsFiles_AndItStillResumes()
    {
        var source = await fx.CreateAsync();
        var id = NewTemplateId();
        try
        {
            await fx.RunAsync(source.SandboxId, "echo on-disk > /home/user/d.txt");
            await fx.Runtime.PauseAsync(source.SandboxId, SandboxPauseMode.Filesystem, Ct);
            await fx.Runtime.SnapshotAsync(source.SandboxId, id, Ct);
            var child = await CreateFromAsync(id);
            Assert.Equal("on-disk", (await fx.RunAsync(child.SandboxId, "cat /home/user/d.txt")).Stdout.Trim());
            await fx.Runtime.KillAsync(child.SandboxId, Ct);
            await fx.Runtime.ResumeAsync(source.SandboxId, Ct);
            Assert.Equal("on-disk", (await fx.RunAsync(source.SandboxId, "cat /home/user/d.txt")).Stdout.Trim());
        }
        finally
        {
            await fx.Runtime.KillAsync(source.SandboxId, Ct);
            await fx.Runtime.DeleteTemplateAsync(id, CancellationToken.None);
        }
    }

    [Fact]
    public async Task DeletingTheTemplateOfASandboxPausedToDisk_KeepsItUntilThatSandboxNoLongerNeedsIt()
    {
        var source = await fx.CreateAsync();
        var id = NewTemplateId();
        SandboxInstance? child = null;
        try
        {
            await fx.RunAsync(source.SandboxId, "echo layered > /home/user/l.txt");
            await fx.Runtime.SnapshotAsync(source.SandboxId, id, Ct);
            child = await CreateFromAsync(id);
            await fx.Runtime.PauseAsync(child.SandboxId, SandboxPauseMode.Filesystem, Ct);

            Assert.True(await fx.Runtime.DeleteTemplateAsync(id, Ct));
            Assert.Null(await fx.Runtime.Templates.FindAsync(id, Ct)); // gone for new sandboxes
            await Assert.ThrowsAsync<TemplateNotFoundException>(() => CreateFromAsync(id));
            Assert.False(await fx.Runtime.DeleteTemplateAsync(id, Ct));

            await fx.Runtime.ResumeAsync(child.SandboxId, Ct); // boots on the deleted template's files
            Assert.Equal("layered", (await fx.RunAsync(child.SandboxId, "cat /home/user/l.txt")).Stdout.Trim());
            await fx.Runtime.KillAsync(child.SandboxId, Ct);
            child = null;
            Assert.False(Directory.Exists(Path.Combine(fx.Options.TemplatesDirectory, id)));
            Assert.Empty(Directory.GetDirectories(fx.Options.TemplatesDirectory, $".retired-{id}-*"));
        }
        finally
        {
            if (child is not null) await fx.Runtime.KillAsync(child.SandboxId, CancellationToken.None);
            await fx.Runtime.KillAsync(source.SandboxId, CancellationToken.None);
            await fx.Runtime.DeleteTemplateAsync(id, CancellationToken.None);
        }
    }

    /// <summary>
    /// Hostile: a template layer (from any source: an upload, an image, a copied sandbox) whose
    /// directory on a mount point's path is a symlink to a host path. A running sandbox cannot make
    /// one (those paths are mount points), so the layer is written directly. The launcher resolves
    /// mount points before pivot_root: the sandbox must not start and nothing may appear on the host.
    /// </summary>
    [Fact]
    public async Task ASymlinkOnAMountPointsPath_InATemplate_IsRefused_AndNothingIsMadeOnTheHost()
    {
        var id = NewTemplateId();
        var hostPath = Path.Combine("/var/tmp", "portal-escape-" + Guid.NewGuid().ToString("N")[..12]);
        var dir = Path.Combine(fx.Options.TemplatesDirectory, id);
        try
        {
            Directory.CreateDirectory(Path.Combine(dir, "rootfs", "usr", "local"));
            File.CreateSymbolicLink(Path.Combine(dir, "rootfs", "usr", "local", "bin"), hostPath);
            LocalTemplateCatalog.Save(dir, new SandboxTemplate { TemplateId = id, ParentTemplateId = "base" });
            var e = await Assert.ThrowsAnyAsync<Exception>(() => CreateFromAsync(id));
            Assert.Contains("symlink", e.Message);
            Assert.False(Path.Exists(hostPath), $"{hostPath} was made on the host");
        }
        finally
        {
            await fx.Runtime.DeleteTemplateAsync(id, CancellationToken.None);
            if (Directory.Exists(hostPath)) Directory.Delete(hostPath, true);
            if (File.Exists(hostPath)) File.Delete(hostPath);
        }
    }

    [Theory]
    [InlineData("../base")]
    [InlineData("Upper")]
    [InlineData("a/b")]
    [InlineData(".hidden")]
    [InlineData("")]
    public async Task Snapshot_RefusesATemplateIdThatIsNoPlainName(string bad)
    {
        await Assert.ThrowsAsync<ArgumentException>(() => fx.Runtime.SnapshotAsync("nosuchsandbox", bad, Ct));
        Assert.False(await fx.Runtime.DeleteTemplateAsync(bad, Ct));
    }

    [Fact]
    public async Task Snapshot_IntoAnExistingTemplateId_IsRefused_AndUnknownSandboxIsNotFound()
    {
        var source = await fx.CreateAsync();
        try
        {
            await Assert.ThrowsAsync<ArgumentException>(() => fx.Runtime.SnapshotAsync(source.SandboxId, "base", Ct));
            await Assert.ThrowsAsync<SandboxNotFoundException>(() => fx.Runtime.SnapshotAsync("nosuchsandbox", NewTemplateId(), Ct));
            Assert.Equal("alive", (await fx.RunAsync(source.SandboxId, "echo alive")).Stdout.Trim());
        }
        finally
        {
            await fx.Runtime.KillAsync(source.SandboxId, Ct);
        }
    }
}
