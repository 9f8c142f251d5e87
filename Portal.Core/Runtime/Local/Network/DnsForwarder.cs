using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;

namespace Portal.Core.Runtime.Local.Network;

/// <summary>
/// The sandboxes' resolver: relays each UDP query unchanged to the upstream servers (the host's
/// own, or the configured ones) and the answer back, so a sandbox sees names as the host does.
/// Written here because it is a relay of a few dozen lines, and a resolver daemon (dnsmasq,
/// unbound) would be one more service to install, configure per portal and keep alive. Queries
/// leave from the asking sandbox's gateway address, so they take the same way out as the sandbox's
/// own traffic (the uplink, NATed). UDP only: answers too big for it come back truncated.
/// </summary>
internal sealed class DnsForwarder : IDisposable
{
    private readonly Socket _socket;
    private readonly IReadOnlyList<IPAddress> _upstreams;
    private readonly Func<IPAddress, bool> _isSandbox;
    private readonly Func<IPAddress, bool> _allows;
    private readonly ILogger _log;
    private readonly CancellationTokenSource _stop = new();

    public DnsForwarder(IReadOnlyList<IPAddress> upstreams, Func<IPAddress, bool> isSandbox, Func<IPAddress, bool> allows, ILogger log)
    {
        _upstreams = upstreams;
        _isSandbox = isSandbox;
        _allows = allows;
        _log = log;
        _socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        _socket.SetSocketOption(SocketOptionLevel.IP, SocketOptionName.PacketInformation, true);
        // Any address, a free port: nftables redirects the sandboxes' port 53 here and drops everyone else.
        _socket.Bind(new IPEndPoint(IPAddress.Any, 0));
        Port = ((IPEndPoint)_socket.LocalEndPoint!).Port;
        _ = Task.Run(ReceiveLoopAsync);
    }

    public int Port { get; }

    private async Task ReceiveLoopAsync()
    {
        var buffer = new byte[4096];
        while (!_stop.IsCancellationRequested)
        {
            SocketReceiveMessageFromResult r;
            try { r = await _socket.ReceiveMessageFromAsync(buffer, SocketFlags.None, new IPEndPoint(IPAddress.Any, 0), _stop.Token); }
            catch (Exception) when (_stop.IsCancellationRequested) { return; }
            catch (SocketException) { continue; }
            var from = (IPEndPoint)r.RemoteEndPoint;
            if (r.ReceivedBytes < 12 || !_isSandbox(from.Address) || !_allows(from.Address)) continue;
            var query = buffer.AsSpan(0, r.ReceivedBytes).ToArray();
            _ = Task.Run(() => RelayAsync(query, from, r.PacketInformation.Address));
        }
    }

    private async Task RelayAsync(byte[] query, IPEndPoint client, IPAddress gateway)
    {
        foreach (var upstream in _upstreams)
        {
            try
            {
                using var s = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
                if (!IPAddress.IsLoopback(upstream)) s.Bind(new IPEndPoint(gateway, 0));
                await s.SendToAsync(query, new IPEndPoint(upstream, 53));
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
                timeout.CancelAfter(TimeSpan.FromSeconds(3));
                var answer = new byte[4096];
                while (true)
                {
                    var n = await s.ReceiveAsync(answer, SocketFlags.None, timeout.Token);
                    // Only the answer to this query (same ID) goes back.
                    if (n < 12 || answer[0] != query[0] || answer[1] != query[1]) continue;
                    await _socket.SendToAsync(answer.AsMemory(0, n), SocketFlags.None, client);
                    return;
                }
            }
            catch (OperationCanceledException) when (!_stop.IsCancellationRequested) { /* next upstream */ }
            catch (SocketException e) { _log.LogDebug("DNS upstream {Upstream}: {Error}", upstream, e.Message); }
            catch (ObjectDisposedException) { return; }
        }
    }

    /// <summary>
    /// The IPv4 addresses of <paramref name="name"/> as the sandboxes' upstream servers answer
    /// (asked from <paramref name="gateway"/>, like the sandbox's own queries); empty when none.
    /// The domain proxy connects to these, never to an address the sandbox merely claims is the name.
    /// </summary>
    public async Task<IReadOnlyList<IPAddress>> ResolveAsync(string name, IPAddress gateway, CancellationToken ct)
    {
        if (name.Length is 0 or > 253 || name.Split('.').Any(l => l.Length is 0 or > 63 || !l.All(c => char.IsAsciiLetterOrDigit(c) || c == '-' || c == '_')))
            return [];
        var query = new List<byte> { 0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0 };
        System.Security.Cryptography.RandomNumberGenerator.Fill(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(query)[..2]);
        foreach (var label in name.Split('.'))
        {
            query.Add((byte)label.Length);
            query.AddRange(System.Text.Encoding.ASCII.GetBytes(label));
        }
        query.AddRange([0, 0, 1, 0, 1]); // root, type A, class IN
        var packet = query.ToArray();
        foreach (var upstream in _upstreams)
        {
            try
            {
                using var s = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
                if (!IPAddress.IsLoopback(upstream)) s.Bind(new IPEndPoint(gateway, 0));
                await s.SendToAsync(packet, new IPEndPoint(upstream, 53), ct);
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct, _stop.Token);
                timeout.CancelAfter(TimeSpan.FromSeconds(3));
                var answer = new byte[4096];
                while (true)
                {
                    var n = await s.ReceiveAsync(answer, SocketFlags.None, timeout.Token);
                    if (n < 12 || answer[0] != packet[0] || answer[1] != packet[1]) continue;
                    return ParseA(answer.AsSpan(0, n));
                }
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested && !_stop.IsCancellationRequested) { /* next upstream */ }
            catch (SocketException) { /* next upstream */ }
        }
        return [];
    }

    /// <summary>The A records of an answer (RFC 1035 4.1; names skipped, compressed or not).</summary>
    internal static List<IPAddress> ParseA(ReadOnlySpan<byte> m)
    {
        var result = new List<IPAddress>();
        try
        {
            if ((m[3] & 0x0f) != 0) return result; // an error rcode
            int questions = (m[4] << 8) | m[5], answers = (m[6] << 8) | m[7];
            var i = 12;
            for (var q = 0; q < questions; q++) i = SkipName(m, i) + 4;
            for (var a = 0; a < answers; a++)
            {
                i = SkipName(m, i);
                int type = (m[i] << 8) | m[i + 1], length = (m[i + 8] << 8) | m[i + 9];
                i += 10;
                if (type == 1 && length == 4) result.Add(new IPAddress(m.Slice(i, 4)));
                i += length;
            }
        }
        catch (IndexOutOfRangeException) { }
        catch (ArgumentOutOfRangeException) { }
        return result;
    }

    private static int SkipName(ReadOnlySpan<byte> m, int i)
    {
        while (true)
        {
            var len = m[i];
            if (len == 0) return i + 1;
            if ((len & 0xc0) == 0xc0) return i + 2;
            i += len + 1;
        }
    }

    public void Dispose()
    {
        _stop.Cancel();
        _socket.Dispose();
    }
}
