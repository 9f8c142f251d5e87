using System.Formats.Tar;
using Microsoft.Extensions.Time.Testing;
using Portal.Core.Templates;

namespace Portal.Tests.Templates;

/// <summary>Uploaded COPY archives are a cache: kept while builds use them, removed after the retention.</summary>
public sealed class TemplateFilesTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("portal-template-files-").FullName;
    private readonly FakeTimeProvider _clock = new(DateTimeOffset.UtcNow);
    private static readonly TimeSpan Week = TimeSpan.FromDays(7);

    internal static MemoryStream Archive()
    {
        var ms = new MemoryStream();
        using (var tar = new TarWriter(ms, TarEntryFormat.Pax, leaveOpen: true))
            tar.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, "a.txt") { DataStream = new MemoryStream("hello"u8.ToArray()) });
        ms.Position = 0;
        return ms;
    }

    private Task SaveAsync(TemplateFiles files, string team, string hash) =>
        files.SaveAsync(team, hash, Archive(), null, 1 << 20, TestContext.Current.CancellationToken);

    [Fact]
    public async Task AnArchiveUsedWithinTheRetention_IsKept_OneUnusedLonger_IsRemoved_WithItsEmptyTeamFolder()
    {
        var files = new TemplateFiles(_dir, _clock);
        string used = new('a', 64), idle = new('b', 64), otherTeams = new('c', 64);
        await SaveAsync(files, "team", used);
        await SaveAsync(files, "team", idle);
        await SaveAsync(files, "other", otherTeams);

        _clock.Advance(TimeSpan.FromDays(5));
        Assert.True(files.TryUse("team", used)); // "present?" or a build reading it
        Assert.Equal(0, files.RemoveUnused(Week));

        _clock.Advance(TimeSpan.FromDays(3)); // 8 days since upload, 3 since "used" was used
        Assert.Equal(2, files.RemoveUnused(Week));
        Assert.True(files.TryUse("team", used));
        Assert.False(files.TryUse("team", idle));
        Assert.False(files.TryUse("other", otherTeams));
        Assert.Single(Directory.GetDirectories(_dir)); // the other team's folder went with its last file
    }

    [Fact]
    public async Task AnUploadACrashCutShort_IsRemovedAfterTheRetention_NothingElseIsTouched()
    {
        var files = new TemplateFiles(_dir, _clock);
        await SaveAsync(files, "team", new string('a', 64));
        var folder = Directory.GetDirectories(_dir).Single();
        var part = Path.Combine(folder, new string('d', 64) + ".tar.0a1b2c3d4e5f.part");
        var foreign = Path.Combine(folder, "operator-notes.txt");
        File.WriteAllText(part, "half");
        File.WriteAllText(foreign, "not ours");
        File.SetLastWriteTimeUtc(part, _clock.GetUtcNow().UtcDateTime);
        File.SetLastWriteTimeUtc(foreign, _clock.GetUtcNow().UtcDateTime.AddDays(-30));

        _clock.Advance(TimeSpan.FromDays(8));
        Assert.Equal(2, files.RemoveUnused(Week));
        Assert.False(File.Exists(part));
        Assert.True(File.Exists(foreign));
    }

    [Fact]
    public void NoDirectoryYet_NothingToRemove() =>
        Assert.Equal(0, new TemplateFiles(Path.Combine(_dir, "never-made"), _clock).RemoveUnused(Week));

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}
