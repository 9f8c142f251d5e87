using System.IO.Compression;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using Portal.Envd;
using Portal.Envd.Files;

namespace Portal.Tests.Envd.Files;

public sealed class FilesEndpointTests : IAsyncLifetime
{
    private EnvdServer _envd = null!;
    private readonly string _dir = $"/home/user/files-tests-{Guid.NewGuid():N}";
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        _envd = await EnvdServer.StartAsync();
        var (status, _) = await _envd.UnaryAsync("filesystem.Filesystem/MakeDir", new { path = _dir });
        Assert.Equal(200, status);
    }

    public async ValueTask DisposeAsync()
    {
        await _envd.UnaryAsync("filesystem.Filesystem/Remove", new { path = _dir }, user: "root");
        await _envd.DisposeAsync();
    }

    private async Task<HttpResponseMessage> UploadAsync(string query, HttpContent content) =>
        await _envd.Http.PostAsync("/files?" + query, content, Ct);

    private static MultipartFormDataContent Multipart(params (string Path, string Data)[] files)
    {
        var form = new MultipartFormDataContent();
        foreach (var (path, data) in files) form.Add(new StringContent(data), "file", path);
        return form;
    }

    [Fact]
    public async Task Upload_ThenDownload_WithLengthTypeAndOwner()
    {
        var res = await UploadAsync($"path={_dir}/a.json", Multipart(($"{_dir}/a.json", "{\"x\":1}")));
        Assert.Equal(HttpStatusCode.OK, res.StatusCode);
        var entry = JsonNode.Parse(await res.Content.ReadAsStringAsync(Ct))!.AsArray().Single()!;
        Assert.Equal($"{_dir}/a.json", entry["path"]!.GetValue<string>());
        Assert.Equal("file", entry["type"]!.GetValue<string>());

        var down = await _envd.Http.GetAsync($"/files?path={_dir}/a.json", Ct);
        Assert.Equal(7, down.Content.Headers.ContentLength);
        Assert.Equal("application/json", down.Content.Headers.ContentType?.MediaType);
        Assert.Equal("{\"x\":1}", await down.Content.ReadAsStringAsync(Ct));
        var stat = await _envd.UnaryAsync("filesystem.Filesystem/Stat", new { path = $"{_dir}/a.json" });
        Assert.Equal("user", stat.Body!["entry"]!["owner"]!.GetValue<string>());
        Assert.Equal("7", stat.Body!["entry"]!["size"]!.GetValue<string>()); // int64 as a JSON string
        Assert.Equal("FILE_TYPE_FILE", stat.Body!["entry"]!["type"]!.GetValue<string>());
    }

    [Fact]
    public async Task OctetStream_WithGzipBody()
    {
        using var ms = new MemoryStream();
        await using (var gz = new GZipStream(ms, CompressionLevel.Fastest, leaveOpen: true)) gz.Write("zipped"u8);
        var content = new ByteArrayContent(ms.ToArray());
        content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        content.Headers.ContentEncoding.Add("gzip");
        Assert.Equal(HttpStatusCode.OK, (await UploadAsync($"path={_dir}/z.txt", content)).StatusCode);
        Assert.Equal("zipped", await _envd.Http.GetStringAsync($"/files?path={_dir}/z.txt", Ct));
    }

    [Fact]
    public async Task OctetStream_WithoutPath_Is400()
    {
        var content = new ByteArrayContent("x"u8.ToArray());
        content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        var res = await UploadAsync("", content);
        Assert.Equal(HttpStatusCode.BadRequest, res.StatusCode);
        Assert.Equal(400, JsonNode.Parse(await res.Content.ReadAsStringAsync(Ct))!["code"]!.GetValue<int>());
    }

    [Fact]
    public async Task WrongContentType_Is400()
    {
        var res = await UploadAsync($"path={_dir}/t.txt", new StringContent("x", Encoding.UTF8, "text/plain"));
        Assert.Equal(HttpStatusCode.BadRequest, res.StatusCode);
        Assert.False(File.Exists($"{_dir}/t.txt"));
    }

    [Fact]
    public async Task MalformedMultipart_Is400()
    {
        var content = new StringContent("--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x\"\r\n\r\nunterminated", Encoding.UTF8);
        content.Headers.ContentType = MediaTypeHeaderValue.Parse("multipart/form-data; boundary=b");
        Assert.Equal(HttpStatusCode.BadRequest, (await UploadAsync("", content)).StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, (await _envd.Http.GetAsync("/health", Ct)).StatusCode);
    }

    [Fact]
    public async Task SamePathTwice_Is400()
    {
        var res = await UploadAsync("", Multipart(($"{_dir}/d.txt", "1"), ($"{_dir}/d.txt", "2")));
        Assert.Equal(HttpStatusCode.BadRequest, res.StatusCode);
    }

    [Fact]
    public async Task NonAsciiMetadata_Is400()
    {
        // HttpClient refuses to send such a header, so speak HTTP/1.1 by hand.
        using var tcp = new System.Net.Sockets.TcpClient();
        await tcp.ConnectAsync(_envd.BaseAddress.Host, _envd.BaseAddress.Port, Ct);
        var stream = tcp.GetStream();
        var body = "x";
        var head = $"POST /files?path={_dir}/m.txt HTTP/1.1\r\nHost: envd\r\nContent-Type: application/octet-stream\r\nContent-Length: {body.Length}\r\nX-Metadata-Key: caf\u00e9\r\nConnection: close\r\n\r\n{body}";
        await stream.WriteAsync(Encoding.Latin1.GetBytes(head), Ct);
        var reply = await new StreamReader(stream).ReadToEndAsync(Ct);
        Assert.StartsWith("HTTP/1.1 400", reply);
        Assert.False(File.Exists($"{_dir}/m.txt"));
    }

    [Fact]
    public async Task TruncatedUpload_OfANewFile_LeavesNothingBehind()
    {
        var content = new StringContent($"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{_dir}/keep.txt\"\r\n\r\nhalf", Encoding.UTF8);
        content.Headers.ContentType = MediaTypeHeaderValue.Parse("multipart/form-data; boundary=b");
        Assert.Equal(HttpStatusCode.BadRequest, (await UploadAsync("", content)).StatusCode);
        Assert.False(File.Exists($"{_dir}/keep.txt"));
    }

    [Fact]
    public async Task Missing_Is404_Directory_Is400_UnknownUser_Is401()
    {
        var missing = await _envd.Http.GetAsync($"/files?path={_dir}/none", Ct);
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        Assert.Equal($"path '{_dir}/none' does not exist", JsonNode.Parse(await missing.Content.ReadAsStringAsync(Ct))!["message"]!.GetValue<string>());
        Assert.Equal(HttpStatusCode.BadRequest, (await _envd.Http.GetAsync($"/files?path={_dir}", Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await _envd.Http.GetAsync($"/files?path={_dir}/x&username=ghost", Ct)).StatusCode);
    }

    [Fact]
    public async Task UserWithoutPermission_CannotReadOrOverwrite_AndTheFileIsUnchanged()
    {
        var secret = Path.Combine("/root", $"secret-{Guid.NewGuid():N}");
        await File.WriteAllTextAsync(secret, "top secret", Ct);
        File.SetUnixFileMode(secret, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        try
        {
            Assert.Equal(HttpStatusCode.Forbidden, (await _envd.Http.GetAsync($"/files?path={secret}", Ct)).StatusCode);
            Assert.Equal(HttpStatusCode.Forbidden, (await UploadAsync($"path={secret}", Multipart((secret, "overwritten")))).StatusCode);
            var stat = await _envd.UnaryAsync("filesystem.Filesystem/Stat", new { path = secret });
            Assert.Equal(403, stat.Status);
            Assert.Equal("permission_denied", stat.Body!["code"]!.GetValue<string>());
            Assert.Equal("top secret", await File.ReadAllTextAsync(secret, Ct));
            Assert.Equal("top secret", await _envd.Http.GetStringAsync($"/files?path={secret}&username=root", Ct));
        }
        finally { File.Delete(secret); }
    }

    [Theory]
    [InlineData("/proc/self/status", "Name:")]
    [InlineData("/proc/cpuinfo", "processor")]
    [InlineData("/sys/class/net/lo/mtu", "65536")] // sysfs says 4096 bytes whatever the attribute holds
    public async Task KernelFiles_WhoseSizeIsNotTheirLength_ArriveWhole(string path, string expected)
    {
        foreach (var gzip in new[] { false, true })
        {
            using var req = new HttpRequestMessage(HttpMethod.Get, $"/files?path={path}&username=root");
            if (gzip) req.Headers.AcceptEncoding.ParseAdd("gzip");
            using var res = await _envd.Http.SendAsync(req, Ct);
            Assert.Equal(HttpStatusCode.OK, res.StatusCode);
            var bytes = await res.Content.ReadAsByteArrayAsync(Ct);
            if (gzip)
            {
                Assert.Equal("gzip", res.Content.Headers.ContentEncoding.Single());
                await using var unzip = new GZipStream(new MemoryStream(bytes), CompressionMode.Decompress);
                var plain = new MemoryStream();
                await unzip.CopyToAsync(plain, Ct);
                bytes = plain.ToArray();
            }
            else if (res.Content.Headers.ContentLength is { } length)
                Assert.Equal(bytes.Length, length);
            var text = Encoding.UTF8.GetString(bytes);
            Assert.Contains(expected, text);
            Assert.EndsWith("\n", text);
        }
    }

    [Fact]
    public async Task KernelFile_LongerThanOneChunk_StreamsToTheEnd()
    {
        // This process's own memory map: far more than one 64 KB read, and size 0 to stat.
        var bytes = await _envd.Http.GetByteArrayAsync("/files?path=/proc/self/smaps&username=root", Ct);
        Assert.InRange(bytes.Length, 64 * 1024 + 1, int.MaxValue);
        var text = Encoding.UTF8.GetString(bytes);
        Assert.Matches("^[0-9a-f]+-[0-9a-f]+ ", text);
        Assert.EndsWith("\n", text);
    }

    [Fact]
    public async Task EmptyFile_HasContentLengthZero()
    {
        await File.WriteAllBytesAsync($"{_dir}/empty", [], Ct);
        using var res = await _envd.Http.GetAsync($"/files?path={_dir}/empty", Ct);
        Assert.Equal(HttpStatusCode.OK, res.StatusCode);
        Assert.Equal(0, res.Content.Headers.ContentLength); // the JS SDK's empty-file case
    }

    [Fact]
    public async Task NewFile_WatchersSeeCreateChmodWrite_AndNewParentsCreateChmod()
    {
        var (status, body) = await _envd.UnaryAsync("filesystem.Filesystem/CreateWatcher", new { path = _dir });
        Assert.Equal(200, status);
        var watcher = body!["watcherId"]!.GetValue<string>();
        var res = await UploadAsync("", Multipart(($"{_dir}/new.txt", "hello"), ($"{_dir}/made/deeper/x.txt", "x")));
        Assert.Equal(HttpStatusCode.OK, res.StatusCode);

        // A file written as root and handed to the user, as E2B's envd does: created, chowned, written.
        // A missing parent likewise: created, then chowned.
        string[] expected = ["new.txt CREATE", "new.txt CHMOD", "new.txt WRITE", "made CREATE", "made CHMOD"];
        var seen = new List<string>();
        var until = DateTime.UtcNow + TimeSpan.FromSeconds(5);
        while (seen.Count < expected.Length && DateTime.UtcNow < until)
        {
            (status, body) = await _envd.UnaryAsync("filesystem.Filesystem/GetWatcherEvents", new { watcherId = watcher });
            Assert.Equal(200, status);
            seen.AddRange(body!["events"]?.AsArray().Select(e => $"{e!["name"]} {e["type"]!.GetValue<string>()["EVENT_TYPE_".Length..]}") ?? []);
            await Task.Delay(50, Ct);
        }
        await Task.Delay(200, Ct); // nothing more may follow
        (_, body) = await _envd.UnaryAsync("filesystem.Filesystem/GetWatcherEvents", new { watcherId = watcher });
        seen.AddRange(body!["events"]?.AsArray().Select(e => $"{e!["name"]} {e["type"]!.GetValue<string>()["EVENT_TYPE_".Length..]}") ?? []);
        Assert.Equal(expected, seen);
        await _envd.UnaryAsync("filesystem.Filesystem/RemoveWatcher", new { watcherId = watcher });
    }

    [Fact]
    public async Task Overwrite_WatchersSeeChmodThenWrites()
    {
        // E2B's envd hands an existing file to the user, then truncates and writes it.
        Assert.Equal(HttpStatusCode.OK, (await UploadAsync($"path={_dir}/old.txt", Multipart(($"{_dir}/old.txt", "first")))).StatusCode);
        var (status, body) = await _envd.UnaryAsync("filesystem.Filesystem/CreateWatcher", new { path = _dir });
        Assert.Equal(200, status);
        var watcher = body!["watcherId"]!.GetValue<string>();
        Assert.Equal(HttpStatusCode.OK, (await UploadAsync($"path={_dir}/old.txt", Multipart(($"{_dir}/old.txt", "second")))).StatusCode);
        var seen = new List<string>();
        var until = DateTime.UtcNow + TimeSpan.FromSeconds(2);
        while (DateTime.UtcNow < until)
        {
            (_, body) = await _envd.UnaryAsync("filesystem.Filesystem/GetWatcherEvents", new { watcherId = watcher });
            seen.AddRange(body!["events"]?.AsArray().Select(e => $"{e!["name"]} {e["type"]!.GetValue<string>()["EVENT_TYPE_".Length..]}") ?? []);
            await Task.Delay(100, Ct);
        }
        Assert.Equal("old.txt CHMOD", seen.FirstOrDefault());
        Assert.NotEmpty(seen.Skip(1));
        Assert.All(seen.Skip(1), e => Assert.Equal("old.txt WRITE", e));
        Assert.Equal("second", await File.ReadAllTextAsync($"{_dir}/old.txt", Ct));
        await _envd.UnaryAsync("filesystem.Filesystem/RemoveWatcher", new { watcherId = watcher });
    }

    [Fact]
    public async Task MakeDir_WhereTheUserCouldNot_MakesFoldersOwnedByTheUser()
    {
        var top = $"/opt/makedir-tests-{Guid.NewGuid():N}";
        try
        {
            var (status, body) = await _envd.UnaryAsync("filesystem.Filesystem/MakeDir", new { path = $"{top}/inner" });
            Assert.Equal(200, status);
            Assert.Equal("user", body!["entry"]!["owner"]!.GetValue<string>());
            var outer = await _envd.UnaryAsync("filesystem.Filesystem/Stat", new { path = top });
            Assert.Equal("user", outer.Body!["entry"]!["owner"]!.GetValue<string>());
            Assert.Equal(409, (await _envd.UnaryAsync("filesystem.Filesystem/MakeDir", new { path = $"{top}/inner" })).Status);
        }
        finally { if (Directory.Exists(top)) Directory.Delete(top, recursive: true); }
    }

    [Fact]
    public async Task MultiFileUpload_CreatesParentsTheUserCouldNot_OwnedByTheUser()
    {
        // /opt belongs to root: E2B's envd creates the missing folders as root and hands them over.
        var top = $"/opt/files-tests-{Guid.NewGuid():N}";
        try
        {
            var res = await UploadAsync("", Multipart(($"{top}/a/one.txt", "1"), ($"{top}/b/c/two.txt", "22")));
            Assert.Equal(HttpStatusCode.OK, res.StatusCode);
            foreach (var (path, content) in new[] { ($"{top}/a/one.txt", "1"), ($"{top}/b/c/two.txt", "22") })
                Assert.Equal(content, await File.ReadAllTextAsync(path, Ct));
            foreach (var path in new[] { top, $"{top}/a", $"{top}/b", $"{top}/b/c", $"{top}/a/one.txt", $"{top}/b/c/two.txt" })
            {
                var stat = await _envd.UnaryAsync("filesystem.Filesystem/Stat", new { path });
                Assert.Equal(200, stat.Status);
                Assert.Equal("user", stat.Body!["entry"]!["owner"]!.GetValue<string>());
                Assert.Equal("user", stat.Body!["entry"]!["group"]!.GetValue<string>());
            }
            Assert.Equal("rwxr-xr-x", (await _envd.UnaryAsync("filesystem.Filesystem/Stat", new { path = top })).Body!["entry"]!["permissions"]!.GetValue<string>()[1..]);
        }
        finally { if (Directory.Exists(top)) Directory.Delete(top, recursive: true); }
    }

    [Fact]
    public async Task MultiFileUpload_ThatCannotBeWritten_NamesTheRealPath()
    {
        await File.WriteAllTextAsync($"{_dir}/plain", "a file, not a folder", Ct);
        var res = await UploadAsync("", Multipart(($"{_dir}/ok.txt", "fine"), ($"{_dir}/plain/inside.txt", "nope")));
        Assert.Equal(HttpStatusCode.BadRequest, res.StatusCode);
        var message = JsonNode.Parse(await res.Content.ReadAsStringAsync(Ct))!["message"]!.GetValue<string>();
        Assert.Contains($"'{_dir}/plain'", message);
        Assert.False(File.Exists($"{_dir}/plain/inside.txt"));
        Assert.Equal("a file, not a folder", await File.ReadAllTextAsync($"{_dir}/plain", Ct));

        // Someone else's file the user may not write: refused, named, untouched.
        var secret = Path.Combine("/root", $"secret-{Guid.NewGuid():N}");
        await File.WriteAllTextAsync(secret, "top secret", Ct);
        File.SetUnixFileMode(secret, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        try
        {
            res = await UploadAsync("", Multipart(($"{_dir}/ok2.txt", "fine"), (secret, "overwritten")));
            Assert.Equal(HttpStatusCode.Forbidden, res.StatusCode);
            Assert.Contains($"'{secret}'", JsonNode.Parse(await res.Content.ReadAsStringAsync(Ct))!["message"]!.GetValue<string>());
            Assert.Equal("top secret", await File.ReadAllTextAsync(secret, Ct));
        }
        finally { File.Delete(secret); }
    }

    [Fact]
    public async Task GzipDownload_AndUnsupportedEncoding()
    {
        await UploadAsync($"path={_dir}/g.txt", Multipart(($"{_dir}/g.txt", "gzip me")));
        var gz = new HttpRequestMessage(HttpMethod.Get, $"/files?path={_dir}/g.txt");
        gz.Headers.AcceptEncoding.ParseAdd("gzip");
        var res = await _envd.Http.SendAsync(gz, Ct);
        Assert.Equal("gzip", res.Content.Headers.ContentEncoding.Single());
        await using var unzip = new GZipStream(await res.Content.ReadAsStreamAsync(Ct), CompressionMode.Decompress);
        Assert.Equal("gzip me", await new StreamReader(unzip).ReadToEndAsync(Ct));
        var br = new HttpRequestMessage(HttpMethod.Get, $"/files?path={_dir}/g.txt");
        br.Headers.TryAddWithoutValidation("Accept-Encoding", "br, identity;q=0");
        Assert.Equal(HttpStatusCode.NotAcceptable, (await _envd.Http.SendAsync(br, Ct)).StatusCode);
    }

    [Theory]
    [InlineData(null, "missing signature query parameter")]
    [InlineData("v1_wrong", "invalid signature")]
    public async Task WithAToken_UnsignedOrBadlySigned_Is401(string? signature, string message)
    {
        await using var envd = await EnvdServer.StartAsync(new EnvdOptions { AccessToken = "tok" });
        var url = "/files?path=/etc/hostname" + (signature is null ? "" : $"&signature={signature}");
        var res = await envd.Http.GetAsync(url, Ct);
        Assert.Equal(HttpStatusCode.Unauthorized, res.StatusCode);
        Assert.Equal(message, JsonNode.Parse(await res.Content.ReadAsStringAsync(Ct))!["message"]!.GetValue<string>());
    }

    [Fact]
    public async Task WithAToken_ValidSignature_HeaderAndExpiry()
    {
        await using var envd = await EnvdServer.StartAsync(new EnvdOptions { AccessToken = "tok" });
        var sig = Uri.EscapeDataString(UrlSignature.Compute("/etc/hostname", "read", "root", "tok", null));
        Assert.Equal(HttpStatusCode.OK, (await envd.Http.GetAsync($"/files?path=/etc/hostname&username=root&signature={sig}", Ct)).StatusCode);
        // the signature binds the user
        Assert.Equal(HttpStatusCode.Unauthorized, (await envd.Http.GetAsync($"/files?path=/etc/hostname&username=user&signature={sig}", Ct)).StatusCode);
        var past = DateTimeOffset.UtcNow.AddMinutes(-1).ToUnixTimeSeconds();
        var expired = Uri.EscapeDataString(UrlSignature.Compute("/etc/hostname", "read", "", "tok", past));
        var res = await envd.Http.GetAsync($"/files?path=/etc/hostname&signature={expired}&signature_expiration={past}", Ct);
        Assert.Equal("signature is already expired", JsonNode.Parse(await res.Content.ReadAsStringAsync(Ct))!["message"]!.GetValue<string>());
        var withHeader = new HttpRequestMessage(HttpMethod.Get, "/files?path=/etc/hostname");
        withHeader.Headers.Add("X-Access-Token", "tok");
        Assert.Equal(HttpStatusCode.OK, (await envd.Http.SendAsync(withHeader, Ct)).StatusCode);
    }

    [Fact]
    public void Signature_MatchesTheSdkFormula()
    {
        // v1_ + unpadded base64(SHA-256("path:op:user:token"))
        var expected = "v1_" + Convert.ToBase64String(System.Security.Cryptography.SHA256.HashData("/a:write:user:t"u8.ToArray())).TrimEnd('=');
        Assert.Equal(expected, UrlSignature.Compute("/a", "write", "user", "t", null));
    }
}

public class EncodingNegotiationTests
{
    [Theory]
    [InlineData("", "identity")]
    [InlineData("gzip", "gzip")]
    [InlineData("gzip;q=1.0", "gzip")]
    [InlineData("gzip, deflate", "identity")]
    [InlineData("gzip, deflate, br", "identity")]
    [InlineData("gzip, identity;q=0", "gzip")]
    [InlineData("identity", "identity")]
    [InlineData("br", "identity")]
    [InlineData("br, identity;q=0", null)]
    [InlineData("*;q=0", null)]
    public void Negotiate(string header, string? expected) =>
        Assert.Equal(expected, Portal.Envd.Files.FilesEndpoints.NegotiateEncoding(header));
}
