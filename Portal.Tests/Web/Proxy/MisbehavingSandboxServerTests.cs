using Microsoft.Extensions.DependencyInjection;
using Portal.Core.Runtime;
using Portal.Tests.Api;
using Portal.Tests.Runtime.Local;
using static Portal.Tests.Api.Http;

namespace Portal.Tests.Web.Proxy;

/// <summary>
/// A server inside a real sandbox that gets HTTP framing wrong must never make one client receive
/// a response meant for another. The server is a small python3 script started in the sandbox
/// through envd; two clients on two connections go through the portal (fast path on and off) and
/// each must get exactly its own answer.
/// </summary>
[Collection(nameof(LocalRuntimeCollection))] // one set of real sandboxes at a time
public class MisbehavingSandboxServerTests(LocalRuntimeFixture fixture) : TransportSuite
{
    private const int Port = 8000;

    // One thread per connection. Every answer is "you asked PATH", 50 ms after the request head,
    // so whatever the server sends too much arrives after the proxy is done with the exchange.
    //  /extra...  answered twice: the right response, then 100 ms later one nobody asked for;
    //  HEAD       answered with a Content-Length head, then 100 ms later that many body bytes;
    //  a body     never read (Content-Length ignored): its bytes are taken for the next request.
    private const string Server = """
        import socket, sys, threading, time
        def resp(body): return b'HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s' % (len(body), body)
        def serve(c):
            buf = b''
            try:
                while True:
                    while b'\r\n\r\n' not in buf:
                        d = c.recv(65536)
                        if not d: return
                        buf += d
                    head, buf = buf.split(b'\r\n\r\n', 1)
                    method, path = head.split(b' ')[0:2]
                    time.sleep(0.05)
                    body = b'you asked ' + path
                    if method == b'HEAD':
                        c.sendall(b'HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n' % len(body)); time.sleep(0.1); c.sendall(body)
                    elif path.startswith(b'/extra'):
                        c.sendall(resp(body)); time.sleep(0.1); c.sendall(resp(b'extra after ' + path))
                    else:
                        c.sendall(resp(body))
            except OSError: pass
            finally: c.close()
        s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(('127.0.0.1', int(sys.argv[1]))); s.listen(64)
        while True:
            c, _ = s.accept(); threading.Thread(target=serve, args=(c,), daemon=True).start()
        """;

    public enum Shape { ExtraResponse, IgnoredGetBody, BodyAfterHead }

    public static TheoryData<Shape, bool> Cases => new()
    {
        { Shape.ExtraResponse, true }, { Shape.ExtraResponse, false },
        { Shape.IgnoredGetBody, true }, { Shape.IgnoredGetBody, false },
        { Shape.BodyAfterHead, true }, { Shape.BodyAfterHead, false },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task ResponsesNeverReachAnotherClient(Shape shape, bool fastPath)
    {
        await using var host = await StartPortalAsync(
            config: new Dictionary<string, string?> { ["Portal:Proxy:FastPath"] = fastPath ? "true" : "false" },
            configure: b => b.Services.AddSingleton<ISandboxRuntime>(fixture.Runtime));
        var created = await host.Admin.CreateSandboxAsync();
        var id = (string)created["sandboxID"]!;
        try
        {
            await StartServerAsync(id, (string?)created["envdAccessToken"]);
            string Routed(string method, string path, string extra = "") =>
                $"{method} {path} HTTP/1.1\r\nHost: portal.test\r\nE2b-Sandbox-Id: {id}\r\nE2b-Sandbox-Port: {Port}\r\n{extra}\r\n";

            // Client A misbehaves the server.
            await using (var a = await RawClient.ConnectAsync(host))
            {
                switch (shape)
                {
                    case Shape.ExtraResponse:
                        await a.SendAsync(Routed("GET", "/extra-a"));
                        Assert.Equal("you asked /extra-a", (await a.ReadResponseAsync()).Body);
                        break;
                    case Shape.IgnoredGetBody:
                        const string smuggled = "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n";
                        await a.SendAsync(Routed("GET", "/a", $"Content-Length: {smuggled.Length}\r\n") + smuggled);
                        Assert.Equal("you asked /a", (await a.ReadResponseAsync()).Body);
                        break;
                    case Shape.BodyAfterHead:
                        await a.SendAsync(Routed("HEAD", "/a"));
                        var (head, _) = await a.ReadResponseAsync(noBody: true);
                        Assert.StartsWith("HTTP/1.1 200", head);
                        break;
                }
                // Whatever the server sends too much has arrived at the portal by now.
                await Task.Delay(400, Ct);

                // Client B, on its own connection, gets its own answer: never A's leftovers.
                for (var i = 0; i < 3; i++)
                {
                    await using var b = await RawClient.ConnectAsync(host);
                    await b.SendAsync(Routed("GET", $"/b{i}"));
                    var (bHead, bBody) = await b.ReadResponseAsync();
                    Assert.True(bHead.StartsWith("HTTP/1.1 200", StringComparison.Ordinal) && bBody == $"you asked /b{i}",
                        $"client B asked /b{i} and got: {bHead}\r\n\r\n{bBody}");
                }

                // Even A itself gets a clean answer once the stray bytes are there to be seen.
                await a.SendAsync(Routed("GET", "/a-again"));
                var (aHead, aBody) = await a.ReadResponseAsync();
                Assert.True(aHead.StartsWith("HTTP/1.1 200", StringComparison.Ordinal) && aBody == "you asked /a-again",
                    $"client A asked /a-again and got: {aHead}\r\n\r\n{aBody}");
            }
        }
        finally
        {
            await host.Admin.DeleteJsonAsync($"/sandboxes/{id}");
        }
    }

    private async Task StartServerAsync(string id, string? token)
    {
        var script = $$"""
            cat > /tmp/misbehaving.py <<'PY'
            {{Server}}
            PY
            setsid python3 /tmp/misbehaving.py {{Port}} >/tmp/misbehaving.log 2>&1 < /dev/null &
            for i in $(seq 100); do
              python3 -c "import socket; socket.create_connection(('127.0.0.1', {{Port}}), 1)" 2>/dev/null && exit 0
              sleep 0.1
            done
            cat /tmp/misbehaving.log; exit 1
            """;
        var (exit, stdout, stderr) = await fixture.RunAsync(id, script, token: token);
        Assert.True(exit == 0, $"the server did not start: {stdout}{stderr}");
    }
}
