using System.Text;
using Portal.Web.Proxy;
using static Portal.Web.Proxy.Http1RequestHead.ParseResult;

namespace Portal.Tests.Web.Proxy;

/// <summary>
/// The fast path's strict request-head parser: what it takes, what it waits for, and everything it
/// leaves to Kestrel (which then answers exactly as without the fast path).
/// </summary>
public class Http1RequestHeadTests
{
    private const string Base = "GET /x HTTP/1.1\r\nHost: a.test\r\n";

    public static TheoryData<string, string, Http1RequestHead.ParseResult> Cases => new()
    {
        { "plain GET", Base + "\r\n", Parsed },
        { "sized POST", "POST /rpc HTTP/1.1\r\nHost: a.test\r\nContent-Length: 3\r\n\r\nabc", Parsed },
        { "routing headers", Base + "E2b-Sandbox-Id: abc\r\nE2b-Sandbox-Port: 49983\r\n\r\n", Parsed },
        { "IPv6 host with port", "GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n", Parsed },
        { "nothing yet", "", NeedMore },
        { "half a method", "GE", NeedMore },
        { "half a target", "GET /abc", NeedMore },
        { "half a version", "GET / HTTP/1", NeedMore },
        { "half the headers", Base, NeedMore },
        { "TLS ClientHello", "\u0016\u0003\u0001\u0002\u0000", NotMine },
        { "HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", NotMine },
        { "HTTP/1.0", "GET / HTTP/1.0\r\nHost: a.test\r\n\r\n", NotMine },
        { "absolute-form target", "GET http://a.test/ HTTP/1.1\r\nHost: a.test\r\n\r\n", NotMine },
        { "asterisk-form", "OPTIONS * HTTP/1.1\r\nHost: a.test\r\n\r\n", NotMine },
        { "no Host", "GET / HTTP/1.1\r\n\r\n", Invalid },
        { "two Hosts", Base + "Host: b.test\r\n\r\n", Invalid },
        { "Host with a path", "GET / HTTP/1.1\r\nHost: a.test/x\r\n\r\n", NotMine },
        { "Host with a space", "GET / HTTP/1.1\r\nHost: a test\r\n\r\n", NotMine },
        { "two sandbox IDs", Base + "E2b-Sandbox-Id: a\r\nE2b-Sandbox-Id: b\r\n\r\n", Invalid },
        { "chunked body", Base + "Transfer-Encoding: chunked\r\n\r\n", NotMine },
        { "Content-Length and chunked", Base + "Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", NotMine },
        { "signed Content-Length", Base + "Content-Length: +3\r\n\r\n", Invalid },
        { "two Content-Lengths", Base + "Content-Length: 3\r\nContent-Length: 3\r\n\r\n", Invalid },
        { "Expect", Base + "Expect: 100-continue\r\n\r\n", NotMine },
        { "Upgrade", Base + "Connection: Upgrade\r\nUpgrade: websocket\r\n\r\n", NotMine },
        { "obs-fold", Base + "X-A: 1\r\n 2\r\n\r\n", Invalid },
        { "bare LF", "GET / HTTP/1.1\nHost: a.test\n\n", NotMine },
        { "space before colon", Base + "X-A : 1\r\n\r\n", Invalid },
        { "control byte in a value", Base + "X-A: a\u0001b\r\n\r\n", Invalid },
        { "non-ASCII value", Base + "X-A: caf\u00e9\r\n\r\n", NotMine },
        { "space in the target", "GET /a b HTTP/1.1\r\nHost: a.test\r\n\r\n", NotMine },
        { "empty method", " / HTTP/1.1\r\n", NotMine },
        { "CONNECT", "CONNECT /x HTTP/1.1\r\nHost: a.test\r\n\r\n", Invalid },
        { "two sandbox ports", Base + "E2b-Sandbox-Port: 1\r\nE2b-Sandbox-Port: 2\r\n\r\n", Invalid },
        { "negative Content-Length", Base + "Content-Length: -3\r\n\r\n", Invalid },
        { "NUL in a value", Base + "X-A: a\u0000b\r\n\r\n", Invalid },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Parse(string name, string raw, Http1RequestHead.ParseResult expected)
    {
        var head = new Http1RequestHead();
        Assert.True(expected == head.Parse(Encoding.Latin1.GetBytes(raw)), name);
    }

    [Fact]
    public void Parsed_RecordsWhatTheRouterAndTheForwarderNeed()
    {
        var raw = Encoding.ASCII.GetBytes("HEAD /p?q=1 HTTP/1.1\r\nhost:  a.test:80 \r\ne2b-sandbox-id: abc\r\nE2B-SANDBOX-PORT: 49983\r\nConnection: keep-alive, close\r\nX-Forwarded-For: 1.2.3.4\r\n\r\n");
        var head = new Http1RequestHead();
        Assert.Equal(Parsed, head.Parse(raw));
        string At(int start, int length) => Encoding.ASCII.GetString(raw, start, length);
        Assert.Equal(raw.Length, head.Length);
        Assert.Equal("/p?q=1", At(head.TargetStart, head.TargetLength));
        Assert.Equal("a.test:80", At(head.HostStart, head.HostLength));
        Assert.Equal("abc", At(head.SandboxIdStart, head.SandboxIdLength));
        Assert.Equal("49983", At(head.SandboxPortStart, head.SandboxPortLength));
        Assert.Equal("1.2.3.4", At(head.ForwardedForStart, head.ForwardedForLength));
        Assert.True(head.Close);
        Assert.True(head.IsHead);
        Assert.True(head.Idempotent);
        Assert.Equal(0, head.ContentLength);
    }

    [Fact]
    public void Limits_AreKestrelsConfiguredOnes()
    {
        var limits = new Microsoft.AspNetCore.Server.Kestrel.Core.KestrelServerLimits { MaxRequestLineSize = 64, MaxRequestHeaderCount = 2, MaxRequestHeadersTotalSize = 100 };
        var head = new Http1RequestHead(limits);
        Assert.Equal(Parsed, head.Parse(Encoding.ASCII.GetBytes(Base + "X-A: 1\r\n\r\n")));
        Assert.Equal(NotMine, head.Parse(Encoding.ASCII.GetBytes(Base + "X-A: 1\r\nX-B: 2\r\n\r\n")));
        Assert.Equal(NotMine, head.Parse(Encoding.ASCII.GetBytes("GET /" + new string('a', 64) + " HTTP/1.1\r\nHost: a\r\n\r\n")));
        Assert.Equal(NotMine, head.Parse(Encoding.ASCII.GetBytes(Base + "X-A: " + new string('v', 100) + "\r\n\r\n")));
    }

    [Fact]
    public void OversizedHeads_AreLeftToKestrel()
    {
        var head = new Http1RequestHead();
        var longTarget = "GET /" + new string('a', head.MaxRequestLine) + " HTTP/1.1\r\nHost: a\r\n\r\n";
        Assert.Equal(NotMine, head.Parse(Encoding.ASCII.GetBytes(longTarget)));
        var manyHeaders = Base + string.Concat(Enumerable.Range(0, head.MaxHeaders).Select(i => $"X-{i}: v\r\n")) + "\r\n";
        Assert.Equal(NotMine, head.Parse(Encoding.ASCII.GetBytes(manyHeaders)));
        var bigHeader = Base + "X-Big: " + new string('v', head.MaxHead) + "\r\n\r\n";
        Assert.Equal(NotMine, head.Parse(Encoding.ASCII.GetBytes(bigHeader)));
        // Still arriving but already over the limit: no point waiting.
        Assert.Equal(NotMine, head.Parse(Encoding.ASCII.GetBytes(Base + "X-Big: " + new string('v', head.MaxHead))));
    }
}
