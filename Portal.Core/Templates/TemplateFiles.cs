using System.Security.Cryptography;
using System.Text;

namespace Portal.Core.Templates;

/// <summary>
/// The uploaded COPY archives, one file per (team, files hash): a team's builds share its uploads,
/// never another team's (the hash is the client's, the server cannot check it against the bytes).
/// An archive is a cache entry: the SDK asks whether it is present before it uploads, so a file's
/// modification time records its last use (upload, "present?" answered yes, a build reading it),
/// and <see cref="RemoveUnused"/> drops what no build has wanted for the retention period.
/// </summary>
public sealed class TemplateFiles(string directory, TimeProvider? clock = null)
{
    private readonly TimeProvider _clock = clock ?? TimeProvider.System;

    public string Directory => directory;

    public string PathOf(string teamId, string filesHash)
    {
        if (!BuildRequest.FilesHashPattern().IsMatch(filesHash)) throw new ArgumentException("not a files hash", nameof(filesHash));
        return Path.Combine(directory, TeamFolder(teamId), filesHash + ".tar");
    }

    /// <summary>Whether the team has uploaded these files; if so they count as used now.</summary>
    public bool TryUse(string teamId, string filesHash)
    {
        var path = PathOf(teamId, filesHash);
        try
        {
            File.SetLastWriteTimeUtc(path, _clock.GetUtcNow().UtcDateTime);
            return true;
        }
        catch (FileNotFoundException) { return false; }
        catch (DirectoryNotFoundException) { return false; }
    }

    /// <summary>
    /// Removes archives (and uploads a crash cut short) unused for <paramref name="retention"/>,
    /// and team folders left empty. A build asks "present?" just before it starts, which marks
    /// the archive used, so a sweep never takes an archive from under a build that was told it exists.
    /// </summary>
    /// <returns>How many files were removed.</returns>
    public int RemoveUnused(TimeSpan retention)
    {
        if (!System.IO.Directory.Exists(directory)) return 0;
        var cutoff = _clock.GetUtcNow().UtcDateTime - retention;
        var removed = 0;
        foreach (var team in System.IO.Directory.EnumerateDirectories(directory))
        {
            foreach (var file in System.IO.Directory.EnumerateFiles(team))
            {
                if (!(file.EndsWith(".tar", StringComparison.Ordinal) || file.EndsWith(".part", StringComparison.Ordinal))) continue;
                if (File.GetLastWriteTimeUtc(file) >= cutoff) continue;
                try { File.Delete(file); removed++; }
                catch (IOException) { /* in use elsewhere: the next sweep */ }
            }
            try { if (!System.IO.Directory.EnumerateFileSystemEntries(team).Any()) System.IO.Directory.Delete(team); }
            catch (IOException) { /* an upload arrived meanwhile */ }
        }
        return removed;
    }

    /// <summary>
    /// Streams <paramref name="body"/> to disk (a temporary file renamed into place once complete),
    /// refusing more than <paramref name="maxBytes"/> and a body shorter or longer than
    /// <paramref name="contentLength"/>. A refused or broken upload leaves nothing behind.
    /// </summary>
    /// <exception cref="DomainException">too large (413 as ResourceExhausted is wrong: InvalidArgument with the size) or short.</exception>
    public async Task SaveAsync(string teamId, string filesHash, Stream body, long? contentLength, long maxBytes, CancellationToken ct)
    {
        if (contentLength > maxBytes) throw new UploadTooLargeException(maxBytes);
        var final = PathOf(teamId, filesHash);
        System.IO.Directory.CreateDirectory(Path.GetDirectoryName(final)!);
        var temp = final + "." + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6)) + ".part";
        try
        {
            long written = 0;
            await using (var file = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, useAsync: true))
            {
                var buffer = new byte[1 << 16];
                int n;
                while ((n = await body.ReadAsync(buffer, ct)) > 0)
                {
                    written += n;
                    if (written > maxBytes) throw new UploadTooLargeException(maxBytes);
                    await file.WriteAsync(buffer.AsMemory(0, n), ct);
                }
            }
            if (contentLength is { } expected && written != expected)
                throw DomainException.InvalidArgument($"the upload ended after {written} of {expected} bytes");
            CopyArchive.Validate(temp);
            File.SetLastWriteTimeUtc(temp, _clock.GetUtcNow().UtcDateTime);
            File.Move(temp, final, overwrite: true);
        }
        catch (InvalidDataException e)
        {
            throw DomainException.InvalidArgument("the uploaded files were refused: " + e.Message);
        }
        finally
        {
            if (File.Exists(temp)) File.Delete(temp);
        }
    }

    /// <summary>Team IDs are not path-safe by contract: hashed into a folder name.</summary>
    private static string TeamFolder(string teamId) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(teamId)))[..32];
}

/// <summary>An upload beyond the size cap (the API answers 413).</summary>
public sealed class UploadTooLargeException(long maxBytes) : Exception($"the upload is larger than the limit of {maxBytes} bytes (Portal:Templates:MaxUploadBytes)")
{
    public long MaxBytes { get; } = maxBytes;
}
