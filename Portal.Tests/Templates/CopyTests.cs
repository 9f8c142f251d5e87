using System.Formats.Tar;
using System.IO.Compression;
using Portal.Core.Templates;

namespace Portal.Tests.Templates;

/// <summary>COPY's source and destination rules, and the checks an uploaded archive must pass.</summary>
public sealed class CopyTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("portal-copy-").FullName;

    [Theory]
    [InlineData("app", "app")]
    [InlineData("./app/", "app")]
    [InlineData("src/main.py", "src/main.py")]
    [InlineData("src/*.py", "src")]
    [InlineData("*.txt", "")]
    [InlineData("a/b/**/c", "a/b")]
    [InlineData(".", "")]
    public void StaticPrefix_IsTheGlobFreeLead(string src, string prefix) => Assert.Equal(prefix, CopySource.StaticPrefix(src));

    [Theory]
    [InlineData("/abs", null, "user", "/abs")]
    [InlineData("rel/x", "/app", "user", "/app/rel/x")]
    [InlineData("rel/", null, "user", "/home/user/rel/")]
    [InlineData(".", null, "root", "/root/")]
    [InlineData("./x", "/w/", "user", "/w/x")]
    public void RelativeDestinations_ResolveAgainstWorkdirElseHome(string dest, string? workdir, string user, string expected) =>
        Assert.Equal(expected, CopySource.ResolveDestination(dest, workdir, user));

    [Theory]
    [InlineData("../x", true)]
    [InlineData("a/../../x", true)]
    [InlineData("/etc", true)]
    [InlineData("a/b", false)]
    [InlineData("a..b", false)]
    public void SourcesOutsideTheContext_AreRecognised(string src, bool outside) => Assert.Equal(outside, CopySource.IsOutside(src));

    private string Archive(bool gzip, params (string Name, TarEntryType Type, string? Link)[] entries)
    {
        var path = Path.Combine(_dir, Guid.NewGuid().ToString("N") + ".tar");
        using (var file = File.Create(path))
        using (Stream target = gzip ? new GZipStream(file, CompressionLevel.Fastest) : file)
        using (var writer = new TarWriter(target, TarEntryFormat.Pax))
        {
            foreach (var (name, type, link) in entries)
            {
                var e = new PaxTarEntry(type, name);
                if (link is not null) e.LinkName = link;
                if (type == TarEntryType.RegularFile) e.DataStream = new MemoryStream("x"u8.ToArray());
                writer.WriteEntry(e);
            }
        }
        return path;
    }

    [Fact]
    public void AnOrdinaryArchive_PassesGzippedOrNot_AbsoluteSymlinksIncluded()
    {
        foreach (var gz in new[] { true, false })
            CopyArchive.Validate(Archive(gz,
                ("src/", TarEntryType.Directory, null), ("src/a.py", TarEntryType.RegularFile, null),
                ("src/link", TarEntryType.SymbolicLink, "/etc/hostname"), ("src/hard", TarEntryType.HardLink, "src/a.py")));
    }

    [Theory]
    [InlineData("../escape", "climbs out")]
    [InlineData("ok/../../escape", "climbs out")]
    [InlineData("/etc/passwd", "absolute")]
    public void EntriesLeavingTheArchive_AreRefused(string name, string message)
    {
        var e = Assert.Throws<InvalidDataException>(() => CopyArchive.Validate(Archive(true, (name, TarEntryType.RegularFile, null))));
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void AFileWrittenThroughASymlinkOfTheSameArchive_IsRefused()
    {
        var e = Assert.Throws<InvalidDataException>(() => CopyArchive.Validate(Archive(true,
            ("d", TarEntryType.SymbolicLink, "/etc"), ("d/passwd", TarEntryType.RegularFile, null))));
        Assert.Contains("below the symlink", e.Message);
    }

    [Fact]
    public void DevicesAndOutsideHardLinks_AreRefused()
    {
        Assert.Contains("CharacterDevice", Assert.Throws<InvalidDataException>(() => CopyArchive.Validate(Archive(false, ("dev", TarEntryType.CharacterDevice, null)))).Message);
        Assert.Contains("hard link", Assert.Throws<InvalidDataException>(() => CopyArchive.Validate(Archive(false, ("h", TarEntryType.HardLink, "/etc/shadow")))).Message);
    }

    [Fact]
    public void Garbage_IsNotATar()
    {
        var path = Path.Combine(_dir, "junk");
        File.WriteAllBytes(path, [0x1f, 0x8b, 1, 2, 3, 4]);
        Assert.Throws<InvalidDataException>(() => CopyArchive.Validate(path));
    }

    [Fact]
    public async Task UploadsOverTheCap_LeaveNothingBehind()
    {
        var files = new TemplateFiles(_dir);
        var hash = new string('e', 64);
        await Assert.ThrowsAsync<UploadTooLargeException>(() => files.SaveAsync("team", hash, new MemoryStream(new byte[5000]), null, 4096, TestContext.Current.CancellationToken));
        await Assert.ThrowsAsync<UploadTooLargeException>(() => files.SaveAsync("team", hash, new MemoryStream(new byte[10]), 5000, 4096, TestContext.Current.CancellationToken));
        Assert.False(files.TryUse("team", hash));
        Assert.Empty(Directory.GetFiles(_dir, "*", SearchOption.AllDirectories));
        await using (var good = File.OpenRead(Archive(true, ("a.txt", TarEntryType.RegularFile, null))))
            await files.SaveAsync("team", hash, good, null, 1 << 20, TestContext.Current.CancellationToken);
        Assert.True(files.TryUse("team", hash));
        Assert.False(files.TryUse("other-team", hash)); // a team's files are its own
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}
