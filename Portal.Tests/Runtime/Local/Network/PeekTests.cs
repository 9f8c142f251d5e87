using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Text;
using Portal.Core.Runtime.Local.Network;

namespace Portal.Tests.Runtime.Local.Network;

/// <summary>The names the domain proxy reads: an HTTP Host header and a real TLS ClientHello's SNI.</summary>
public sealed class PeekTests
{
    [Theory]
    [InlineData("GET / HTTP/1.1\r\nHost: example.test\r\n\r\n", "example.test")]
    [InlineData("GET / HTTP/1.1\r\nhOsT:  api.example.test:8080 \r\nX: y\r\n\r\n", "api.example.test")]
    [InlineData("GET / HTTP/1.0\r\n\r\n", null)]
    public void HttpHost_IsRead_WithoutItsPort(string request, string? host)
    {
        var (done, name) = HttpHost.TryRead(Encoding.ASCII.GetBytes(request));
        Assert.True(done);
        Assert.Equal(host, name);
    }

    [Fact]
    public void HttpHost_WaitsForTheWholeHead() =>
        Assert.False(HttpHost.TryRead("GET / HTTP/1.1\r\nHost: exa"u8).Done);

    [Fact]
    public async Task TlsSni_IsRead_FromTheClientHelloDotNetSends()
    {
        // A real ClientHello: SslStream over a loopback pair; the server side only reads.
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, ((IPEndPoint)listener.LocalEndpoint).Port, TestContext.Current.CancellationToken);
        using var server = await listener.AcceptTcpClientAsync(TestContext.Current.CancellationToken);
        var ssl = new SslStream(client.GetStream());
        _ = ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = "www.other.test" }, TestContext.Current.CancellationToken);
        var buffer = new byte[16384];
        var length = 0;
        (bool Done, string? Name) result = (false, null);
        while (!result.Done && length < buffer.Length)
        {
            length += await server.GetStream().ReadAsync(buffer.AsMemory(length), TestContext.Current.CancellationToken);
            result = TlsSni.TryRead(buffer.AsSpan(0, length));
        }
        Assert.Equal("www.other.test", result.Name);
    }

    [Fact]
    public void TlsSni_NotAHandshake_HasNoName() => Assert.Equal((true, (string?)null), TlsSni.TryRead("GET / HTTP/1.1\r\n"u8));

    [Fact]
    public void TlsSni_Truncated_IsNoCrash()
    {
        byte[] bogus = [22, 3, 1, 0, 6, 1, 0, 0, 2, 3, 3];
        Assert.True(TlsSni.TryRead(bogus).Done);
    }
}

/// <summary>The A records the domain proxy resolves names with.</summary>
public sealed class DnsAnswerTests
{
    [Fact]
    public void ARecords_AreRead_PastQuestionAndCompressedNames()
    {
        byte[] answer =
        [
            0x12, 0x34, 0x81, 0x80, 0, 1, 0, 2, 0, 0, 0, 0,
            7, (byte)'e', (byte)'x', (byte)'a', (byte)'m', (byte)'p', (byte)'l', (byte)'e', 4, (byte)'t', (byte)'e', (byte)'s', (byte)'t', 0, 0, 1, 0, 1,
            0xc0, 0x0c, 0, 5, 0, 1, 0, 0, 0, 60, 0, 2, 0xc0, 0x0c,          // a CNAME (skipped)
            0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 10,        // A 192.0.2.10
        ];
        Assert.Equal([IPAddress.Parse("192.0.2.10")], DnsForwarder.ParseA(answer));
    }

    [Fact]
    public void Errors_AndTruncation_GiveNothing()
    {
        Assert.Empty(DnsForwarder.ParseA([0x12, 0x34, 0x81, 0x83, 0, 1, 0, 0, 0, 0, 0, 0]));
        Assert.Empty(DnsForwarder.ParseA([0x12, 0x34, 0x81, 0x80, 0, 1, 0, 1, 0, 0]));
    }
}
