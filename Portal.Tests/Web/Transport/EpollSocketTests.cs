using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using Portal.Web.Transport;

namespace Portal.Tests.Web.Transport;

/// <summary>
/// <see cref="EpollSocket"/> against plain loopback peers: bytes both ways, the drained-read rule
/// (no <c>recv</c> that can only say <c>EAGAIN</c>), back-pressure, end of stream, and closing
/// while a read waits.
/// </summary>
public class EpollSocketTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static async Task<(EpollSocket Ours, Socket Peer, Socket Listener)> PairAsync()
    {
        var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen();
        var accept = listener.AcceptAsync(Ct);
        var ours = await EpollSocket.ConnectAsync(listener.LocalEndPoint!, Ct);
        return (ours, await accept, listener);
    }

    [Fact]
    public async Task AfterAShortRead_TheNextReadWaitsForTheNextEvent_WithoutASystemCall()
    {
        var (ours, peer, listener) = await PairAsync();
        using var _ = listener; using var __ = peer; using var ___ = ours;
        var buffer = new byte[4096];
        const int Exchanges = 200;
        var before = ours.ReceiveCalls;
        for (var i = 0; i < Exchanges; i++)
        {
            // The read starts before the peer writes: it has to wait, as a proxy waits for a response.
            var read = ours.ReceiveAsync(buffer);
            await Task.Delay(i % 20 == 0 ? 5 : 0, Ct);
            await peer.SendAsync(new byte[] { (byte)i, 1, 2 }, Ct);
            Assert.Equal(3, await read);
            Assert.Equal((byte)i, buffer[0]);
        }
        // One recv per message; .NET's sockets (and a level-triggered loop) make a second one that
        // returns EAGAIN whenever the read starts before the data is there. The first read may try once.
        Assert.InRange(ours.ReceiveCalls - before, Exchanges, Exchanges + 1);
        // A connection that is up is not mistaken for one the peer closed (that turns the rule off).
        Assert.False(ours.PeerClosed);
    }

    [Fact]
    public async Task LargeTransfers_BothWays_ArriveIntact_WithBackPressure()
    {
        var (ours, peer, listener) = await PairAsync();
        using var _ = listener; using var __ = peer; using var ___ = ours;
        var data = RandomNumberGenerator.GetBytes(8 << 20);

        // Ours → peer: the peer reads slowly at first, so the send buffer fills and the send waits.
        var send = ours.SendAsync(data).AsTask();
        await Task.Delay(100, Ct);
        Assert.False(send.IsCompleted);
        var received = new MemoryStream();
        var chunk = new byte[64 * 1024];
        while (received.Length < data.Length) received.Write(chunk, 0, await peer.ReceiveAsync(chunk, Ct));
        await send.WaitAsync(TimeSpan.FromSeconds(10), Ct);
        Assert.Equal(SHA256.HashData(data), SHA256.HashData(received.ToArray()));

        // Peer → ours.
        var back = peer.SendAsync(data, Ct).AsTask();
        var got = new byte[data.Length];
        var at = 0;
        while (at < got.Length) at += await ours.ReceiveAsync(got.AsMemory(at, Math.Min(100_000, got.Length - at)));
        await back;
        Assert.Equal(SHA256.HashData(data), SHA256.HashData(got));
    }

    [Fact]
    public async Task MultiSegmentSequences_AreSentInOrder()
    {
        var (ours, peer, listener) = await PairAsync();
        using var _ = listener; using var __ = peer; using var ___ = ours;
        var segments = Enumerable.Range(0, 150).Select(i => Enumerable.Repeat((byte)i, 1000 + i).ToArray()).ToArray();
        var sequence = Segments.Of(segments);
        await ours.SendAsync(sequence);
        var expected = segments.SelectMany(s => s).ToArray();
        var got = new byte[expected.Length];
        var at = 0;
        while (at < got.Length) at += await peer.ReceiveAsync(got.AsMemory(at), Ct);
        Assert.Equal(expected, got);
    }

    [Fact]
    public async Task PeerClose_EndsTheStream_AndIsSeenWithoutARead()
    {
        var (ours, peer, listener) = await PairAsync();
        using var _ = listener; using var ___ = ours;
        var read = ours.ReceiveAsync(new byte[16]);
        peer.Shutdown(SocketShutdown.Send);
        Assert.Equal(0, await read.AsTask().WaitAsync(TimeSpan.FromSeconds(5), Ct));
        Assert.True(ours.PeerClosed);
        peer.Dispose();
    }

    [Fact]
    public async Task Dispose_FailsAWaitingRead_AtOnce()
    {
        var (ours, peer, listener) = await PairAsync();
        using var _ = listener; using var __ = peer;
        var read = ours.ReceiveAsync(new byte[16]).AsTask();
        await Task.Delay(20, Ct);
        Assert.False(read.IsCompleted);
        ours.Dispose();
        var e = await Assert.ThrowsAsync<SocketException>(() => read.WaitAsync(TimeSpan.FromSeconds(5), Ct));
        Assert.Equal(SocketError.OperationAborted, e.SocketErrorCode);
        Assert.True(ours.IsDisposed);
    }

    [Fact]
    public async Task Connect_ToUnixSockets_AndRefusedPorts()
    {
        var path = Path.Combine(Path.GetTempPath(), $"epoll-test-{Guid.NewGuid():N}.sock");
        using (var unix = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified))
        {
            unix.Bind(new UnixDomainSocketEndPoint(path));
            unix.Listen();
            using var ours = await EpollSocket.ConnectAsync(new UnixDomainSocketEndPoint(path), Ct);
            using var peer = await unix.AcceptAsync(Ct);
            await ours.SendAsync("ping"u8.ToArray());
            var buffer = new byte[4];
            Assert.Equal(4, await peer.ReceiveAsync(buffer, Ct));
        }
        File.Delete(path);

        var closed = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        closed.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        var endPoint = closed.LocalEndPoint!;
        closed.Dispose(); // bound, never listening: nothing answers there
        var refused = await Assert.ThrowsAsync<SocketException>(async () => await EpollSocket.ConnectAsync(endPoint, Ct));
        Assert.Equal(SocketError.ConnectionRefused, refused.SocketErrorCode);
    }

    /// <summary>A multi-segment <see cref="System.Buffers.ReadOnlySequence{T}"/> over arrays.</summary>
    private sealed class Segments : System.Buffers.ReadOnlySequenceSegment<byte>
    {
        private Segments(byte[] data, long start)
        {
            Memory = data;
            RunningIndex = start;
        }

        public static System.Buffers.ReadOnlySequence<byte> Of(byte[][] parts)
        {
            var first = new Segments(parts[0], 0);
            var last = first;
            foreach (var part in parts.Skip(1))
            {
                var next = new Segments(part, last.RunningIndex + last.Memory.Length);
                last.Next = next;
                last = next;
            }
            return new System.Buffers.ReadOnlySequence<byte>(first, 0, last, last.Memory.Length);
        }
    }
}
