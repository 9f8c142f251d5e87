using System.IO.Compression;
using System.Text.Json;
using Microsoft.AspNetCore.StaticFiles;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Net.Http.Headers;
using Portal.Envd.Connect;
using Portal.Envd.Filesystem;
using Portal.Envd.Sandbox;
using Portal.Envd.Users;

namespace Portal.Envd.Files;

/// <summary>
/// <c>GET /files</c> (download) and <c>POST /files</c> (multipart or octet-stream upload).
/// Bodies stream straight between the socket and the file; files are opened with the
/// user's identity, then copied asynchronously on the open handle.
/// </summary>
public static class FilesEndpoints
{
    /// <summary>Upload writes and gzip batches: few, large syscalls.</summary>
    private const int CopyBuffer = 256 * 1024;
    /// <summary>Download reads go straight into Kestrel's output buffers, this much at a time.</summary>
    private const int SendChunk = 64 * 1024;
    /// <summary>
    /// MultipartReader's look-ahead buffer. Its default (4 KB) caps every read of a part at
    /// 4 KB, which made a 100 MB upload cost ~25,000 small reads and file writes.
    /// </summary>
    private const int MultipartBuffer = 64 * 1024;
    private static readonly FileExtensionContentTypeProvider ContentTypes = new();

    public static void MapFiles(this IEndpointRouteBuilder app, IServiceProvider services)
    {
        var state = services.GetRequiredService<EnvdState>();
        var users = services.GetRequiredService<UserResolver>();
        var entries = services.GetRequiredService<EntryInfoReader>();
        app.MapGet("/files", http => DownloadAsync(http, state, users));
        app.MapPost("/files", http => UploadAsync(http, state, users, entries));
    }

    private static async Task DownloadAsync(HttpContext http, EnvdState state, UserResolver users)
    {
        if (!await AuthorizeAsync(http, state, "read")) return;
        if (!TryUser(http, users, out var user)) { await HttpErrors.WriteAsync(http.Response, 401, $"invalid username: '{http.Request.Query["username"]}'"); return; }
        string path;
        try { path = PathResolver.Resolve(QueryPath(http), user); }
        catch (ConnectException e) { await HttpErrors.WriteAsync(http.Response, 400, e.Message); return; }

        var encoding = NegotiateEncoding(http.Request.Headers.AcceptEncoding.ToString());
        if (encoding is null) { await HttpErrors.WriteAsync(http.Response, 406, "unsupported Accept-Encoding; supported: gzip, identity"); return; }

        FileStream file;
        try
        {
            file = FsIdentity.RunAs(user, () =>
            {
                if (Directory.Exists(path)) throw ConnectException.InvalidArgument($"path '{path}' is a directory");
                return new FileStream(path, new FileStreamOptions { Mode = FileMode.Open, Access = FileAccess.Read, Share = FileShare.ReadWrite, BufferSize = 0, Options = FileOptions.Asynchronous | FileOptions.SequentialScan });
            });
        }
        catch (Exception e) when (Status(e, path) is var (status, message))
        {
            await HttpErrors.WriteAsync(http.Response, status, message);
            return;
        }

        await using (file)
        {
            http.Response.StatusCode = 200;
            http.Response.ContentType = ContentTypes.TryGetContentType(path, out var type) ? type : "application/octet-stream";
            var disposition = new ContentDispositionHeaderValue("inline");
            disposition.SetHttpFileName(Path.GetFileName(path));
            http.Response.Headers.ContentDisposition = disposition.ToString();
            if (encoding == "gzip")
            {
                http.Response.Headers.ContentEncoding = "gzip";
                // Batch the compressor's many small outputs: tiny chunks cost clients dearly.
                await using var batched = new BufferedStream(http.Response.Body, CopyBuffer);
                await using (var gz = new GZipStream(batched, CompressionLevel.Fastest, leaveOpen: true))
                    await file.CopyToAsync(gz, CopyBuffer, http.RequestAborted);
                await batched.FlushAsync(http.RequestAborted);
            }
            else
                await SendIdentityAsync(http, file);
        }
    }

    /// <summary>
    /// Reads the file straight into the response's output buffers (no intermediate copy) and
    /// declares its length, so clients get a plain Content-Length body in 64 KB writes.
    /// Reads are synchronous: on Linux an "asynchronous" file read is the same read on a
    /// thread-pool thread, plus a hop per chunk.
    /// </summary>
    private static async Task SendIdentityAsync(HttpContext http, FileStream file)
    {
        var handle = file.SafeFileHandle;
        var length = RandomAccess.GetLength(handle);
        http.Response.ContentLength = length;
        var writer = http.Response.BodyWriter;
        var ct = http.RequestAborted;
        long offset = 0;
        while (offset < length)
        {
            var want = (int)Math.Min(SendChunk, length - offset);
            var memory = writer.GetMemory(want)[..want];
            var read = RandomAccess.Read(handle, memory.Span, offset);
            if (read == 0) break; // the file shrank: Kestrel reports the short body
            writer.Advance(read);
            offset += read;
            var flushed = await writer.FlushAsync(ct);
            if (flushed.IsCanceled || flushed.IsCompleted) break;
        }
    }

    private static async Task UploadAsync(HttpContext http, EnvdState state, UserResolver users, EntryInfoReader entries)
    {
        if (!await AuthorizeAsync(http, state, "write")) return;
        if (!TryUser(http, users, out var user)) { await HttpErrors.WriteAsync(http.Response, 401, $"invalid username: '{http.Request.Query["username"]}'"); return; }

        Dictionary<string, string>? metadata;
        try { metadata = ReadMetadataHeaders(http.Request.Headers); }
        catch (ConnectException e) { await HttpErrors.WriteAsync(http.Response, 400, e.Message); return; }

        var media = (http.Request.ContentType ?? "").Split(';', 2)[0].Trim().ToLowerInvariant();
        var written = new List<UploadResult>();
        try
        {
            if (media == "multipart/form-data")
                await ReceiveMultipartAsync(http, user, metadata, entries, written);
            else if (media == "application/octet-stream")
            {
                var queryPath = QueryPath(http);
                if (string.IsNullOrEmpty(queryPath)) throw ConnectException.InvalidArgument("the path query parameter is required for application/octet-stream uploads");
                var body = http.Request.Headers.ContentEncoding.ToString().Trim().ToLowerInvariant() switch
                {
                    "" or "identity" => http.Request.Body,
                    "gzip" => new GZipStream(http.Request.Body, CompressionMode.Decompress),
                    var other => throw ConnectException.InvalidArgument($"unsupported Content-Encoding '{other}'"),
                };
                written.Add(await WriteFileAsync(PathResolver.Resolve(queryPath, user), body, http.Request.ContentLength, user, metadata, entries, http.RequestAborted));
            }
            else
                throw ConnectException.InvalidArgument($"unsupported Content-Type '{media}': use multipart/form-data or application/octet-stream");
        }
        catch (Exception e) when (Status(e, QueryPath(http)) is var (status, message))
        {
            await HttpErrors.WriteAsync(http.Response, status, message);
            return;
        }

        http.Response.StatusCode = 200;
        http.Response.ContentType = "application/json";
        await JsonSerializer.SerializeAsync(http.Response.Body, written, FilesJsonContext.Default.ListUploadResult);
    }

    private static async Task ReceiveMultipartAsync(HttpContext http, EnvdUser user, Dictionary<string, string>? metadata, EntryInfoReader entries, List<UploadResult> written)
    {
        var boundary = HeaderUtilities.RemoveQuotes(MediaTypeHeaderValue.Parse(http.Request.ContentType).Boundary).Value;
        if (string.IsNullOrEmpty(boundary)) throw ConnectException.InvalidArgument("multipart body without a boundary");
        var reader = new MultipartReader(boundary, http.Request.Body, MultipartBuffer) { HeadersLengthLimit = 64 * 1024 };
        var queryPath = QueryPath(http);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        MultipartSection? section;
        while ((section = await ReadSectionAsync(reader, http.RequestAborted)) is not null)
        {
            if (!ContentDispositionHeaderValue.TryParse(section.ContentDisposition, out var disposition) || disposition.Name.Value != "file")
                continue; // other form fields are not files
            var name = disposition.FileNameStar.HasValue ? disposition.FileNameStar.Value : HeaderUtilities.RemoveQuotes(disposition.FileName).Value;
            var target = !string.IsNullOrEmpty(queryPath) && written.Count == 0 ? queryPath : name;
            if (string.IsNullOrEmpty(target)) throw ConnectException.InvalidArgument("a file part needs a filename (the target path) or the path query parameter");
            var path = PathResolver.Resolve(target, user);
            if (!seen.Add(path)) throw ConnectException.InvalidArgument($"path '{path}' appears more than once in one upload");
            written.Add(await WriteFileAsync(path, section.Body, http.Request.ContentLength, user, metadata, entries, http.RequestAborted));
        }
        if (written.Count == 0) throw ConnectException.InvalidArgument("the multipart body has no part named 'file'");
    }

    private static async Task<MultipartSection?> ReadSectionAsync(MultipartReader reader, CancellationToken ct)
    {
        try { return await reader.ReadNextSectionAsync(ct); }
        catch (InvalidDataException e) { throw ConnectException.InvalidArgument($"malformed multipart body: {e.Message}"); }
        catch (IOException e) when (e.Message.Contains("end of stream", StringComparison.OrdinalIgnoreCase)) { throw ConnectException.InvalidArgument($"malformed multipart body: {e.Message}"); }
    }

    /// <summary>
    /// Streams one file into place, written in place like E2B's envd so that watchers see
    /// create/write events on the file itself. A new file whose body breaks off is removed;
    /// an overwritten one is left with what arrived (see docs/envd.md).
    /// </summary>
    private static async Task<UploadResult> WriteFileAsync(string path, Stream body, long? bodyLength, EnvdUser user, Dictionary<string, string>? metadata, EntryInfoReader entries, CancellationToken ct)
    {
        var existed = false;
        var file = FsIdentity.RunAs(user, () =>
        {
            if (Directory.Exists(path)) throw ConnectException.InvalidArgument($"path '{path}' is a directory");
            existed = File.Exists(path);
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            return new FileStream(path, new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write, Share = FileShare.Read, BufferSize = 0, Options = FileOptions.Asynchronous });
        });
        var complete = false;
        try
        {
            await using (file)
            {
                try
                {
                    await CopyFullChunksAsync(body, file, bodyLength, ct);
                }
                catch (InvalidDataException e)
                {
                    throw ConnectException.InvalidArgument($"body is not valid gzip: {e.Message}");
                }
                catch (IOException e) when (!ct.IsCancellationRequested && (e.HResult & 0xFFFF) != Native.Libc.ENOSPC)
                {
                    throw ConnectException.InvalidArgument($"upload body is malformed or ended early: {e.Message}");
                }
            }
            FsIdentity.RunAs(user, () => EntryInfoReader.WriteMetadata(path, metadata ?? []));
            complete = true;
        }
        finally
        {
            if (!complete && !existed) FsIdentity.RunAs(user, () => File.Delete(path));
        }
        return new UploadResult { Path = path, Name = Path.GetFileName(path), Type = "file", Metadata = metadata is { Count: > 0 } ? metadata : null };
    }

    /// <summary>
    /// Copies in full <see cref="CopyBuffer"/> chunks: request and multipart streams return
    /// whatever has arrived (often a few KB), and each file write is a syscall plus a
    /// thread-pool hop. The buffer is a plain array, not pooled, so an idle envd does not
    /// keep it after the transfer.
    /// </summary>
    private static async Task CopyFullChunksAsync(Stream body, FileStream file, long? bodyLength, CancellationToken ct)
    {
        // Small uploads get a small buffer (a gzip body may unpack to more: then it is reused).
        var size = bodyLength is { } n && n < CopyBuffer ? (int)Math.Max(n, 4096) : CopyBuffer;
        var buffer = GC.AllocateUninitializedArray<byte>(size);
        while (true)
        {
            var filled = 0;
            int read;
            while (filled < buffer.Length && (read = await body.ReadAsync(buffer.AsMemory(filled), ct)) > 0)
                filled += read;
            if (filled == 0) return;
            await file.WriteAsync(buffer.AsMemory(0, filled), ct);
            if (filled < buffer.Length) return;
        }
    }

    private static async Task<bool> AuthorizeAsync(HttpContext http, EnvdState state, string operation)
    {
        if (state.AccessToken is not { } token) return true;
        if (AccessTokenMiddleware.Matches(http.Request.Headers[AccessTokenMiddleware.Header].ToString(), token)) return true;
        var problem = UrlSignature.Check(http.Request, operation, token, DateTimeOffset.UtcNow);
        if (problem is null) return true;
        await HttpErrors.WriteAsync(http.Response, 401, problem);
        return false;
    }

    private static bool TryUser(HttpContext http, UserResolver users, out EnvdUser user)
    {
        try
        {
            user = users.FromName(http.Request.Query["username"].ToString());
            return true;
        }
        catch (ConnectException)
        {
            user = null!;
            return false;
        }
    }

    private static string QueryPath(HttpContext http) => http.Request.Query["path"].ToString();

    /// <summary>
    /// "gzip", "identity", or null when nothing acceptable is offered (406). gzip is chosen
    /// when the client asks for it specifically (the SDKs' <c>read(..., {gzip: true})</c> sends
    /// exactly <c>gzip</c>); a generic default list such as fetch's <c>gzip, deflate, br</c> gets
    /// identity, which HTTP allows: compressing large binary downloads costs far more
    /// throughput than it saves.
    /// </summary>
    internal static string? NegotiateEncoding(string acceptEncoding)
    {
        if (string.IsNullOrWhiteSpace(acceptEncoding)) return "identity";
        var identityOk = true;
        var anyListed = false;
        var codings = 0;
        var result = (string?)null;
        foreach (var part in acceptEncoding.Split(','))
        {
            var pieces = part.Split(';');
            var name = pieces[0].Trim().ToLowerInvariant();
            var q = 1.0;
            foreach (var p in pieces.Skip(1))
            {
                var kv = p.Trim();
                if (kv.StartsWith("q=", StringComparison.Ordinal) && double.TryParse(kv[2..], System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var v)) q = v;
            }
            anyListed = true;
            if (name is not ("identity" or "*") && q > 0) codings++;
            if (name is "gzip" or "x-gzip" && q > 0) result ??= "gzip";
            if (name is "identity" or "*" && q <= 0) identityOk = false;
            if (name is "identity" or "*" && q > 0) identityOk = true;
        }
        if (result is not null && (codings == 1 || !identityOk)) return result;
        if (!anyListed || identityOk) return "identity";
        if (result is not null) return result;
        return null;
    }

    private static Dictionary<string, string>? ReadMetadataHeaders(IHeaderDictionary headers)
    {
        Dictionary<string, string>? result = null;
        foreach (var (name, values) in headers)
        {
            if (!name.StartsWith("X-Metadata-", StringComparison.OrdinalIgnoreCase)) continue;
            var key = name["X-Metadata-".Length..].ToLowerInvariant();
            var value = values.ToString();
            if (key.Length == 0 || !IsPrintableAscii(key) || !IsPrintableAscii(value))
                throw ConnectException.InvalidArgument($"metadata header '{name}' must be printable ASCII");
            (result ??= new Dictionary<string, string>(StringComparer.Ordinal))[key] = value;
        }
        return result;
    }

    private static bool IsPrintableAscii(string s) => s.All(c => c is >= ' ' and <= '~');

    private static (int, string)? Status(Exception e, string path) => e switch
    {
        ConnectException { Code: ConnectCode.NotFound } c => (404, c.Message),
        ConnectException { Code: ConnectCode.InvalidArgument } c => (400, c.Message),
        ConnectException { Code: ConnectCode.PermissionDenied } c => (403, c.Message),
        ConnectException { Code: ConnectCode.Unauthenticated } c => (401, c.Message),
        ConnectException { Code: ConnectCode.ResourceExhausted } c => (507, c.Message),
        ConnectException c => (500, c.Message),
        FileNotFoundException or DirectoryNotFoundException => (404, $"path '{path}' does not exist"),
        UnauthorizedAccessException => (403, $"permission denied: '{path}'"),
        IOException io when (io.HResult & 0xFFFF) == Native.Libc.ENOSPC => (507, "not enough disk space"),
        InvalidDataException d => (400, d.Message),
        _ => null,
    };
}
