using System.Net.Sockets;
using System.Text;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Portal.Core.Runtime;
using Portal.Tests.Api;
using Portal.Web.Proxy;
using static Portal.Tests.Api.Http;
using static Portal.Web.Proxy.Http1RequestHead.ParseResult;

namespace Portal.Tests.Web.Proxy;

/// <summary>
/// The fast path's strict parser against Kestrel: the same generated request heads (valid ones,
/// malformed ones, request-smuggling shapes, oversized ones) go to <see cref="Http1RequestHead"/>
/// (with the portal's configured Kestrel limits) and, on raw sockets, to a real portal with the
/// fast path off (Kestrel's parser and <see cref="SandboxProxy"/>) and with it on. What the strict
/// parser takes, Kestrel's path must accept; what it calls invalid, Kestrel's path must refuse; and
/// the portal answers every head the same way with the fast path on as with it off.
/// </summary>
public class RequestHeadDifferentialTests : TransportSuite
{
    private const string Ok = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

    /// <summary>Name and raw request; <c>{id}</c> stands for the sandbox ID, <c>{route}</c> for both routing headers.</summary>
    private static IEnumerable<(string Name, string Raw)> Heads()
    {
        const string route = "E2b-Sandbox-Id: {id}\r\nE2b-Sandbox-Port: 49983\r\n";
        string Get(string headers, string body = "") => "GET /x HTTP/1.1\r\nHost: portal.test\r\n" + route + headers + "\r\n" + body;

        // Valid heads.
        yield return ("plain GET", Get(""));
        yield return ("POST with a sized body", "POST /x HTTP/1.1\r\nHost: portal.test\r\n" + route + "Content-Length: 3\r\n\r\nabc");
        yield return ("HEAD", "HEAD /x HTTP/1.1\r\nHost: portal.test\r\n" + route + "\r\n");
        yield return ("DELETE", "DELETE /x HTTP/1.1\r\nHost: portal.test\r\n" + route + "\r\n");
        yield return ("OPTIONS", "OPTIONS /x HTTP/1.1\r\nHost: portal.test\r\n" + route + "\r\n");
        yield return ("lower-case names", "GET /x HTTP/1.1\r\nhost: portal.test\r\ne2b-sandbox-id: {id}\r\ne2b-sandbox-port: 49983\r\n\r\n");
        yield return ("tab and spaces around a value", Get("X-A: \t v \t\r\n"));
        yield return ("empty value", Get("X-A:\r\n"));
        yield return ("query string", "GET /x?a=1&b=%20 HTTP/1.1\r\nHost: portal.test\r\n" + route + "\r\n");
        yield return ("X-Forwarded-For", Get("X-Forwarded-For: 10.0.0.1\r\n"));
        yield return ("Connection: keep-alive", Get("Connection: keep-alive\r\n"));
        yield return ("Content-Length: 0", Get("Content-Length: 0\r\n"));
        yield return ("Content-Length with leading zeros", "POST /x HTTP/1.1\r\nHost: portal.test\r\n" + route + "Content-Length: 003\r\n\r\nabc");
        yield return ("50 headers", Get(string.Concat(Enumerable.Range(0, 50).Select(i => $"X-H{i}: v{i}\r\n"))));
        yield return ("a 4 KB value", Get("X-Big: " + new string('v', 4096) + "\r\n"));
        yield return ("chunked body", "POST /x HTTP/1.1\r\nHost: portal.test\r\n" + route + "Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n");
        yield return ("Expect: 100-continue", "POST /x HTTP/1.1\r\nHost: portal.test\r\n" + route + "Expect: 100-continue\r\nContent-Length: 3\r\n\r\nabc");
        yield return ("UTF-8 value", Get("X-A: caf\u00c3\u00a9\r\n"));
        yield return ("IPv6 Host", "GET /x HTTP/1.1\r\nHost: [::1]:8080\r\n" + route + "\r\n");

        // Content-Length shapes.
        foreach (var cl in new[] { "+3", "-3", "3 3", "3,3", "0x3", "3a", "", "99999999999999999999", "1e1" })
            yield return ($"Content-Length: '{cl}'", "POST /x HTTP/1.1\r\nHost: portal.test\r\n" + route + $"Content-Length: {cl}\r\n\r\nabc");
        yield return ("two equal Content-Lengths", "POST /x HTTP/1.1\r\nHost: portal.test\r\n" + route + "Content-Length: 3\r\nContent-Length: 3\r\n\r\nabc");
        yield return ("two different Content-Lengths", "POST /x HTTP/1.1\r\nHost: portal.test\r\n" + route + "Content-Length: 3\r\nContent-Length: 4\r\n\r\nabcd");

        // Transfer-Encoding shapes (smuggling).
        yield return ("Content-Length and chunked", "POST /x HTTP/1.1\r\nHost: portal.test\r\n" + route + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
        foreach (var te in new[] { "chunked, identity", "identity", "gzip, chunked", "CHUNKED", "xchunked", "chunked, chunked" })
            yield return ($"Transfer-Encoding: '{te}'", "POST /x HTTP/1.1\r\nHost: portal.test\r\n" + route + $"Transfer-Encoding: {te}\r\n\r\n0\r\n\r\n");

        // Malformed lines.
        yield return ("obs-fold", Get("X-A: 1\r\n 2\r\n"));
        yield return ("bare LF ending a header", Get("X-A: 1\nX-B: 2\r\n"));
        yield return ("bare LF everywhere", ("GET /x HTTP/1.1\r\nHost: portal.test\r\n" + route + "\r\n").Replace("\r\n", "\n"));
        yield return ("bare CR in a value", Get("X-A: a\rb\r\n"));
        yield return ("space before the colon", Get("X-A : 1\r\n"));
        yield return ("tab before the colon", Get("X-A\t: 1\r\n"));
        yield return ("no colon", Get("X-A 1\r\n"));
        yield return ("empty name", Get(": 1\r\n"));
        yield return ("'(' in a name", Get("X(A): 1\r\n"));
        yield return ("non-ASCII name", Get("X-\u00e9: 1\r\n"));
        foreach (var c in new[] { '\0', '\u0001', '\u0008', '\u000b', '\u001b', '\u007f' })
            yield return ($"control byte 0x{(int)c:x2} in a value", Get($"X-A: a{c}b\r\n"));
        yield return ("Latin-1 value (not UTF-8)", Get("X-A: caf\u00e9\r\n"));

        // Host and routing headers.
        yield return ("no Host", "GET /x HTTP/1.1\r\n" + route + "\r\n");
        yield return ("two Hosts", Get("Host: other.test\r\n"));
        yield return ("empty Host", "GET /x HTTP/1.1\r\nHost:\r\n" + route + "\r\n");
        yield return ("Host with a space", "GET /x HTTP/1.1\r\nHost: portal test\r\n" + route + "\r\n");
        yield return ("Host with a path", "GET /x HTTP/1.1\r\nHost: portal.test/x\r\n" + route + "\r\n");
        yield return ("two sandbox IDs", Get("E2b-Sandbox-Id: other\r\n"));
        yield return ("two sandbox ports", Get("E2b-Sandbox-Port: 80\r\n"));

        // Methods, targets, versions.
        yield return ("CONNECT authority-form", "CONNECT portal.test:443 HTTP/1.1\r\nHost: portal.test:443\r\n" + route + "\r\n");
        yield return ("CONNECT origin-form", "CONNECT /x HTTP/1.1\r\nHost: portal.test\r\n" + route + "\r\n");
        yield return ("method with '@'", "G@T /x HTTP/1.1\r\nHost: portal.test\r\n" + route + "\r\n");
        yield return ("absolute-form target", "GET http://portal.test/x HTTP/1.1\r\nHost: portal.test\r\n" + route + "\r\n");
        yield return ("asterisk-form OPTIONS", "OPTIONS * HTTP/1.1\r\nHost: portal.test\r\n" + route + "\r\n");
        yield return ("control byte in the target", "GET /x\u0001y HTTP/1.1\r\nHost: portal.test\r\n" + route + "\r\n");
        yield return ("'#' in the target", "GET /x#y HTTP/1.1\r\nHost: portal.test\r\n" + route + "\r\n");
        yield return ("HTTP/1.0", "GET /x HTTP/1.0\r\nHost: portal.test\r\n" + route + "\r\n");
        yield return ("HTTP/1.2", "GET /x HTTP/1.2\r\nHost: portal.test\r\n" + route + "\r\n");
        yield return ("lower-case version", "GET /x http/1.1\r\nHost: portal.test\r\n" + route + "\r\n");
        yield return ("two spaces after the method", "GET  /x HTTP/1.1\r\nHost: portal.test\r\n" + route + "\r\n");

        // Sizes at and over Kestrel's limits.
        var limits = new KestrelServerLimits();
        yield return ("a target over MaxRequestLineSize", "GET /" + new string('a', limits.MaxRequestLineSize) + " HTTP/1.1\r\nHost: portal.test\r\n" + route + "\r\n");
        yield return ("a header over MaxRequestHeadersTotalSize", Get("X-Big: " + new string('v', limits.MaxRequestHeadersTotalSize) + "\r\n"));
        yield return ("more headers than MaxRequestHeaderCount", Get(string.Concat(Enumerable.Range(0, limits.MaxRequestHeaderCount).Select(i => $"X-H{i}: v\r\n"))));
    }

    /// <summary>
    /// Heads Kestrel's parser takes that the portal means to refuse, where Kestrel gives no hook:
    /// it reads a <c>Content-Length</c> of "+3" as 3 (and forwards "3", so the portal and the
    /// sandbox still agree; only a proxy in front could read it otherwise). The fast path refuses it.
    /// </summary>
    private static readonly HashSet<string> KestrelReadsLeniently = ["Content-Length: '+3'"];

    [Fact]
    public async Task StrictParserAndKestrel_TakeTheSameDecisions()
    {
        await using var backend = RawBackend.Start(async c =>
        {
            while (await c.ReadRequestAsync() is not null) await c.WriteAsync(Ok);
        });
        await using var fast = await StartAsync(backend, fastPath: true);
        await using var kestrel = await StartAsync(backend, fastPath: false);
        var limits = fast.Host.Services.GetRequiredService<IOptions<KestrelServerOptions>>().Value.Limits;

        var failures = new List<string>();
        var count = 0;
        foreach (var (name, raw) in Heads())
        {
            count++;
            var strict = new Http1RequestHead(limits).Parse(Encoding.Latin1.GetBytes(raw.Replace("{id}", "abc")));
            var viaKestrel = await StatusAsync(kestrel, raw);
            var viaFastPath = await StatusAsync(fast, raw);
            var lenient = KestrelReadsLeniently.Contains(name);
            if (strict == Parsed && (viaKestrel != 200 || viaFastPath != 200)) failures.Add($"{name}: the strict parser takes it, Kestrel's path answers {viaKestrel}, the fast path {viaFastPath}");
            if (strict == Invalid && !(viaKestrel is >= 400 and < 500) && !lenient) failures.Add($"{name}: the strict parser calls it invalid, Kestrel's path answers {viaKestrel}");
            if (strict == NeedMore) failures.Add($"{name}: the strict parser waits for more of a complete head");
            if (viaFastPath != viaKestrel && !lenient) failures.Add($"{name}: {viaFastPath} with the fast path, {viaKestrel} without");
            if (lenient && (strict != Invalid || viaFastPath != 400)) failures.Add($"{name}: the fast path must refuse it ({strict}, {viaFastPath})");
        }
        Assert.True(count > 70, $"only {count} heads generated");
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    private sealed record Portal(PortalHost Host, string Id) : IAsyncDisposable
    {
        public ValueTask DisposeAsync() => Host.DisposeAsync();
    }

    private async Task<Portal> StartAsync(RawBackend backend, bool fastPath)
    {
        var host = await StartPortalAsync(config: new Dictionary<string, string?> { ["Portal:Proxy:FastPath"] = fastPath ? "true" : "false" });
        host.Runtime.Backends[SandboxPorts.Envd] = backend.Port;
        var id = (string)(await host.Admin.CreateSandboxAsync())["sandboxID"]!;
        return new Portal(host, id);
    }

    /// <summary>The status the portal answers a raw request with on a new connection (0: closed without one).</summary>
    private static async Task<int> StatusAsync(Portal portal, string raw)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync("127.0.0.1", portal.Host.BaseAddress.Port, Ct);
        await using var stream = new NetworkStream(socket, ownsSocket: false);
        try
        {
            await stream.WriteAsync(Encoding.Latin1.GetBytes(raw.Replace("{id}", portal.Id)), Ct);
        }
        catch (IOException)
        {
            // Refused before it was all sent (a huge head): the answer may still be there to read.
        }
        var received = new List<byte>();
        var buffer = new byte[4096];
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(10));
        while (received.Count < 12)
        {
            int n;
            try { n = await stream.ReadAsync(buffer, timeout.Token); }
            catch (IOException) { break; }
            if (n == 0) break;
            received.AddRange(buffer.AsSpan(0, n));
            // A 100 Continue first: the final status follows.
            var text = Encoding.Latin1.GetString(received.ToArray());
            if (text.StartsWith("HTTP/1.1 100", StringComparison.Ordinal))
            {
                var end = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
                if (end < 0) continue;
                received.RemoveRange(0, end + 4);
            }
        }
        var head = Encoding.Latin1.GetString(received.ToArray());
        return head.Length >= 12 && head.StartsWith("HTTP/1.", StringComparison.Ordinal) ? int.Parse(head.AsSpan(9, 3)) : 0;
    }
}
