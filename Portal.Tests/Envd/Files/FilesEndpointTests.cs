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
