using System.Buffers;
using System.IO.Compression;
using System.IO.Pipelines;
using System.Text.Json;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.StaticFiles;
using Microsoft.Extensions.Options;
using Microsoft.Net.Http.Headers;
using Microsoft.Win32.SafeHandles;
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
    /// <summary>gzip upload writes and download batches: few, large syscalls.</summary>
    private const int CopyBuffer = 256 * 1024;
    /// <summary>Download reads go straight into Kestrel's output buffers, this much at a time.</summary>
    private const int SendChunk = 64 * 1024;
    /// <summary>
    /// Uploads are written from Kestrel's buffers once this much has arrived (one
    /// <c>pwritev</c> over its 4 KB blocks), capped at half of Kestrel's per-connection buffer.
    /// </summary>
    private const long UploadWrite = 256 * 1024;
    private static readonly FileExtensionContentTypeProvider ContentTypes = new();

    public static void MapFiles(this IEndpointRouteBuilder app, IServiceProvider services)
    {
        var state = services.GetRequiredService<EnvdState>();
        var users = services.GetRequiredService<UserResolver>();
        var entries = services.GetRequiredService<EntryInfoReader>();
        app.MapGet("/files", http => DownloadAsync(http, state, users));
        // How much request body an upload may hold unconsumed before writing it: half of what
        // Kestrel buffers per connection (it stops reading the socket at MaxRequestBufferSize).
        var kestrelBuffer = services.GetService<IOptions<KestrelServerOptions>>()?.Value.Limits.MaxRequestBufferSize;
        var holdLimit = Math.Min(UploadWrite, (kestrelBuffer ?? long.MaxValue) / 2);
        app.MapPost("/files", http => UploadAsync(http, state, users, entries, holdLimit));
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
                    await CopyToEndAsync(file.SafeFileHandle, gz, http.RequestAborted);
                await batched.FlushAsync(http.RequestAborted);
            }
            else
                await SendIdentityAsync(http, file.SafeFileHandle);
        }
    }

    /// <summary>
    /// Reads the file straight into the response's output buffers (no intermediate copy) and
    /// declares its length, so clients get a plain Content-Length body in 64 KB writes.
    /// Reads are synchronous: on Linux an "asynchronous" file read is the same read on a
    /// thread-pool thread, plus a hop per chunk.
    /// Kernel files do not know their length: procfs says 0 bytes, sysfs a whole page, and
    /// the content is made when read. So a file of at most one chunk is read first, and only
    /// a read that returns exactly the stated size is taken as the whole file; otherwise the
    /// file is read to its end, declared when that end came within the first chunk and sent
    /// chunked when it did not.
    /// </summary>
    private static async Task SendIdentityAsync(HttpContext http, SafeFileHandle handle)
    {
        var length = RandomAccess.GetLength(handle);
        var ct = http.RequestAborted;
        long offset = 0;
        if (length <= SendChunk)
        {
            // One byte more than the stated size, so a read can show that the size was wrong;
            // a whole chunk when the size says nothing.
            var first = GC.AllocateUninitializedArray<byte>((int)(length > 0 ? length : SendChunk) + 1);
            var read = RandomAccess.Read(handle, first, 0);
            if (read != length)
            {
                var filled = read;
                while (read > 0 && filled < first.Length)
                    filled += read = RandomAccess.Read(handle, first.AsSpan(filled), filled);
                if (read == 0) http.Response.ContentLength = filled; // the end came within the first chunk
                await http.Response.Body.WriteAsync(first.AsMemory(0, filled), ct);
                if (read > 0) await StreamToEndAsync(http.Response.BodyWriter, handle, filled, ct);
                return;
            }
            http.Response.ContentLength = length;
            await http.Response.Body.WriteAsync(first.AsMemory(0, read), ct);
            return;
        }

        http.Response.ContentLength = length;
        var writer = http.Response.BodyWriter;
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

    /// <summary>Sends the rest of a file of unknown length (chunked), read by read, until its end.</summary>
    private static async Task StreamToEndAsync(PipeWriter writer, SafeFileHandle handle, long offset, CancellationToken ct)
    {
        while (true)
        {
            var memory = writer.GetMemory(SendChunk);
            var read = RandomAccess.Read(handle, memory.Span, offset);
            if (read == 0) return;
            writer.Advance(read);
            offset += read;
            var flushed = await writer.FlushAsync(ct);
            if (flushed.IsCanceled || flushed.IsCompleted) return;
        }
    }

    /// <summary>Copies a file to its end, whatever size it states (see <see cref="SendIdentityAsync"/>).</summary>
    private static async Task CopyToEndAsync(SafeFileHandle handle, Stream target, CancellationToken ct)
    {
        var buffer = GC.AllocateUninitializedArray<byte>(CopyBuffer);
        long offset = 0;
        int read;
        while ((read = RandomAccess.Read(handle, buffer, offset)) > 0)
        {
            offset += read;
            await target.WriteAsync(buffer.AsMemory(0, read), ct);
        }
    }

    private static async Task UploadAsync(HttpContext http, EnvdState state, UserResolver users, EntryInfoReader entries, long holdLimit)
    {
        if (!await AuthorizeAsync(http, state, "write")) return;
        if (!TryUser(http, users, out var user)) { await HttpErrors.WriteAsync(http.Response, 401, $"invalid username: '{http.Request.Query["username"]}'"); return; }

        Dictionary<string, string>? metadata;
        try { metadata = ReadMetadataHeaders(http.Request.Headers); }
        catch (ConnectException e) { await HttpErrors.WriteAsync(http.Response, 400, e.Message); return; }

        var media = (http.Request.ContentType ?? "").Split(';', 2)[0].Trim().ToLowerInvariant();
        // Only a content-length HTTP/1.x body may hold back data: Kestrel buffers it up to
        // MaxRequestBufferSize; a chunked body's pump (and HTTP/2 flow control) waits for the
        // reader to consume what it has.
        var hold = http.Request.ContentLength is not null && http.Request.Protocol is "HTTP/1.1" or "HTTP/1.0" ? holdLimit : 0;
        var written = new List<UploadResult>();
        try
        {
            if (media == "multipart/form-data")
                await ReceiveMultipartAsync(http, user, metadata, entries, written, hold);
            else if (media == "application/octet-stream")
            {
                var queryPath = QueryPath(http);
                if (string.IsNullOrEmpty(queryPath)) throw ConnectException.InvalidArgument("the path query parameter is required for application/octet-stream uploads");
                var path = PathResolver.Resolve(queryPath, user);
                switch (http.Request.Headers.ContentEncoding.ToString().Trim().ToLowerInvariant())
                {
                    case "" or "identity":
                        written.Add(await WriteFileAsync(path, user, metadata, entries, http.RequestAborted,
                            file => CopyBodyAsync(http.Request.BodyReader, file, hold, http.RequestAborted)));
                        break;
                    case "gzip":
                        written.Add(await WriteFileAsync(path, user, metadata, entries, http.RequestAborted,
                            file => CopyGzipAsync(http.Request.Body, file, http.RequestAborted)));
                        break;
                    case var other:
                        throw ConnectException.InvalidArgument($"unsupported Content-Encoding '{other}'");
                }
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

    /// <summary>
    /// Parses the multipart body on Kestrel's request pipe and writes each file part straight
    /// from the pipe's buffers (see <see cref="MultipartPipeReader"/>).
    /// </summary>
    private static async Task ReceiveMultipartAsync(HttpContext http, EnvdUser user, Dictionary<string, string>? metadata, EntryInfoReader entries, List<UploadResult> written, long hold)
    {
        var boundary = HeaderUtilities.RemoveQuotes(MediaTypeHeaderValue.Parse(http.Request.ContentType).Boundary).Value;
        if (string.IsNullOrEmpty(boundary)) throw ConnectException.InvalidArgument("multipart body without a boundary");
        var reader = new MultipartPipeReader(http.Request.BodyReader, boundary, hold);
        var queryPath = QueryPath(http);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        try
        {
            string? section;
            while ((section = await reader.ReadNextPartAsync(http.RequestAborted)) is not null)
            {
                if (!ContentDispositionHeaderValue.TryParse(section, out var disposition) || disposition.Name.Value != "file")
                    continue; // other form fields are not files
                var name = disposition.FileNameStar.HasValue ? disposition.FileNameStar.Value : HeaderUtilities.RemoveQuotes(disposition.FileName).Value;
                var target = !string.IsNullOrEmpty(queryPath) && written.Count == 0 ? queryPath : name;
                if (string.IsNullOrEmpty(target)) throw ConnectException.InvalidArgument("a file part needs a filename (the target path) or the path query parameter");
                var path = PathResolver.Resolve(target, user);
                if (!seen.Add(path)) throw ConnectException.InvalidArgument($"path '{path}' appears more than once in one upload");
                written.Add(await WriteFileAsync(path, user, metadata, entries, http.RequestAborted, async file =>
                {
                    await reader.ReadBodyAsync(file.Write, http.RequestAborted);
                }));
            }
        }
        catch (InvalidDataException e) { throw ConnectException.InvalidArgument($"malformed multipart body: {e.Message}"); }
        finally { reader.Release(); }
        if (written.Count == 0) throw ConnectException.InvalidArgument("the multipart body has no part named 'file'");
    }

    /// <summary>
    /// Streams one file into place, written in place like E2B's envd so that watchers see the
    /// same events on the file itself (<see cref="UploadTarget"/>). A new file whose body breaks
    /// off is removed; an overwritten one is left with what arrived (see docs/envd.md).
    /// </summary>
    private static async Task<UploadResult> WriteFileAsync(string path, EnvdUser user, Dictionary<string, string>? metadata, EntryInfoReader entries, CancellationToken ct, Func<UploadFile, ValueTask> fill)
    {
        var (handle, created) = UploadTarget.Open(path, user);
        var complete = false;
        try
        {
            using (handle)
            {
                try
                {
                    await fill(new UploadFile(handle));
                }
                catch (IOException e) when (!ct.IsCancellationRequested && (e.HResult & 0xFFFF) != Native.Libc.ENOSPC)
                {
                    throw ConnectException.InvalidArgument($"upload body for '{path}' is malformed or ended early: {e.Message}");
                }
            }
            Errors.Guard(path, () => { EntryInfoReader.WriteMetadata(path, metadata ?? []); return 0; });
            complete = true;
        }
        finally
        {
            if (!complete && created) File.Delete(path);
        }
        return new UploadResult { Path = path, Name = Path.GetFileName(path), Type = "file", Metadata = metadata is { Count: > 0 } ? metadata : null };
    }

    /// <summary>
    /// Writes an identity octet-stream body straight from Kestrel's buffers, at least
    /// <paramref name="hold"/> bytes per write (one <c>pwritev</c> over the pipe's segments).
    /// </summary>
    private static async ValueTask CopyBodyAsync(PipeReader body, UploadFile file, long hold, CancellationToken ct)
    {
        while (true)
        {
            var result = await body.ReadAsync(ct);
            var buffer = result.Buffer;
            if (result.IsCompleted || buffer.Length >= Math.Max(hold, 1))
            {
                file.Write(buffer);
                body.AdvanceTo(buffer.End);
            }
            else
                body.AdvanceTo(buffer.Start, buffer.End);
            if (result.IsCompleted) return;
        }
    }

    /// <summary>
    /// Unpacks a gzip body in full <see cref="CopyBuffer"/> chunks (the decompressor returns
    /// whatever one input block yields). The buffer is a plain array, not pooled, so an idle
    /// envd does not keep it after the transfer.
    /// </summary>
    private static async ValueTask CopyGzipAsync(Stream compressed, UploadFile file, CancellationToken ct)
    {
        await using var body = new GZipStream(compressed, CompressionMode.Decompress);
        var buffer = GC.AllocateUninitializedArray<byte>(CopyBuffer);
        try
        {
            while (true)
            {
                var filled = 0;
                int read;
                while (filled < buffer.Length && (read = await body.ReadAsync(buffer.AsMemory(filled), ct)) > 0)
                    filled += read;
                if (filled == 0) return;
                file.Write(new ReadOnlySequence<byte>(buffer, 0, filled));
                if (filled < buffer.Length) return;
            }
        }
        catch (InvalidDataException e)
        {
            throw ConnectException.InvalidArgument($"body is not valid gzip: {e.Message}");
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
