using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.Logging;

namespace Portal.Core.Runtime.Local.Network;

/// <summary>
/// Decides a sandbox's new TCP connections to ports 80 and 443 when its rules name domains: nftables
/// redirects them here (only for sandboxes with domain rules), this reads the HTTP Host header or
/// the TLS ClientHello's SNI without answering or decrypting anything, applies E2B's order (allowed
/// domain or CIDR, then denied CIDR, then allow) and either connects to the address the sandbox
/// dialled and relays the bytes, or resets the connection. A transparent proxy in the portal
/// rather than an nftables queue: deciding needs the first bytes of the stream, which only an
/// endpoint of the TCP connection gets to see; a packet queue would see segments, not a stream.
/// </summary>
internal sealed class DomainEgressProxy : IDisposable
{
    private const int MaxPeek = 16 * 1024;
    private static readonly TimeSpan PeekTimeout = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan DialTimeout = TimeSpan.FromSeconds(30);

    private readonly SandboxNetwork _network;
    private readonly ILogger _log;
    private readonly Socket _listener;
    private readonly CancellationTokenSource _stop = new();

    public DomainEgressProxy(SandboxNetwork network, ILogger log)
    {
        _network = network;
        _log = log;
        _listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        _listener.Bind(new IPEndPoint(IPAddress.Any, 0));
        _listener.Listen(512);
        Port = ((IPEndPoint)_listener.LocalEndPoint!).Port;
        _ = Task.Run(AcceptLoopAsync);
    }

    public int Port { get; }

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket client;
            try { client = await _listener.AcceptAsync(_stop.Token); }
            catch (Exception) when (_stop.IsCancellationRequested) { return; }
            catch (SocketException) { continue; }
            _ = Task.Run(() => HandleAsync(client));
        }
    }

    private async Task HandleAsync(Socket client)
    {
        Socket? upstream = null;
        try
        {
            client.NoDelay = true;
            var source = ((IPEndPoint)client.RemoteEndPoint!).Address;
            var local = ((IPEndPoint)client.LocalEndPoint!).Address;
            var rules = _network.EgressOf(source);
            var target = OriginalDestination(client);
            if (rules is null || target is null) { Reset(client); return; }

            var buffer = new byte[MaxPeek];
            var (length, name) = await PeekNameAsync(client, buffer, target.Port);
            var dst = Ipv4Cidr.ToUInt(target.Address);
            var byAddress = rules.AllowCidrs.Any(c => c.Contains(dst)) || !rules.DenyCidrs.Any(c => c.Contains(dst));
            var allowed = byAddress;
            if (!byAddress && rules.AllowsDomain(name))
            {
                // Allowed by its name only: connect where the name really points (as E2B re-dials by
                // name), so a Host or SNI copied from an allowed site opens no other address.
                var addresses = await _network.ResolveAsync(name!, local, _stop.Token);
                var chosen = addresses.FirstOrDefault(a => a.Equals(target.Address)) ?? addresses.FirstOrDefault();
                if (chosen is not null)
                {
                    target = new IPEndPoint(chosen, target.Port);
                    allowed = true;
                }
            }
            if (!allowed || _network.IsForbiddenDestination(target.Address))
            {
                _log.LogDebug("egress from {Source} to {Target} ({Name}) refused", source, target, name);
                Reset(client);
                return;
            }
            upstream = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            // From the sandbox's gateway address: the same way out (and NAT) as the sandbox's own traffic.
            upstream.Bind(new IPEndPoint(local, 0));
            using (var dial = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token))
            {
                dial.CancelAfter(DialTimeout);
                await upstream.ConnectAsync(target, dial.Token);
            }
            await upstream.SendAsync(buffer.AsMemory(0, length), SocketFlags.None);
            using var a = new NetworkStream(client, ownsSocket: false);
            using var b = new NetworkStream(upstream, ownsSocket: false);
            var up = PumpAsync(a, upstream, b);
            var down = PumpAsync(b, client, a);
            await Task.WhenAll(up, down);
        }
        catch (Exception e) when (e is SocketException or IOException or OperationCanceledException or ObjectDisposedException)
        {
            Reset(client);
        }
        finally
        {
            upstream?.Dispose();
            client.Dispose();
        }
    }

    /// <summary>Copies one direction; at its end, half-closes the other side so the peer sees EOF.</summary>
    private static async Task PumpAsync(Stream from, Socket toSocket, Stream to)
    {
        try { await from.CopyToAsync(to, 64 * 1024); }
        catch (IOException) { }
        try { toSocket.Shutdown(SocketShutdown.Send); } catch (SocketException) { } catch (ObjectDisposedException) { }
    }

    private static void Reset(Socket s)
    {
        try { s.LingerState = new LingerOption(true, 0); s.Close(); }
        catch (Exception e) when (e is SocketException or ObjectDisposedException) { }
    }

    /// <summary>Where the sandbox meant to connect, before nftables redirected it (SO_ORIGINAL_DST).</summary>
    private static IPEndPoint? OriginalDestination(Socket s)
    {
        Span<byte> addr = stackalloc byte[16];
        try
        {
            if (s.GetRawSocketOption(0 /* SOL_IP */, 80 /* SO_ORIGINAL_DST */, addr) < 8) return null;
        }
        catch (SocketException) { return null; }
        var port = BinaryPrimitives.ReadUInt16BigEndian(addr[2..]);
        return new IPEndPoint(new IPAddress(addr.Slice(4, 4)), port);
    }

    /// <summary>Reads until the Host header (port 80) or the SNI (443) can be told; returns the bytes read and the name (null when none).</summary>
    private async Task<(int Length, string? Name)> PeekNameAsync(Socket client, byte[] buffer, int port)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
        timeout.CancelAfter(PeekTimeout);
        var length = 0;
        while (length < buffer.Length)
        {
            var n = await client.ReceiveAsync(buffer.AsMemory(length), SocketFlags.None, timeout.Token);
            if (n == 0) break;
            length += n;
            var (done, name) = port == 443 ? TlsSni.TryRead(buffer.AsSpan(0, length)) : HttpHost.TryRead(buffer.AsSpan(0, length));
            if (done) return (length, name);
        }
        return (length, null);
    }

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Dispose();
    }
}

/// <summary>The Host header of an HTTP/1 request head.</summary>
internal static class HttpHost
{
    /// <summary>(true, host) once the head is complete; (false, null) while more bytes are needed.</summary>
    public static (bool Done, string? Name) TryRead(ReadOnlySpan<byte> data)
    {
        var end = data.IndexOf("\r\n\r\n"u8);
        if (end < 0) return (false, null);
        var head = Encoding.Latin1.GetString(data[..end]);
        foreach (var line in head.Split("\r\n").Skip(1))
        {
            var colon = line.IndexOf(':');
            if (colon <= 0 || !line[..colon].Trim().Equals("host", StringComparison.OrdinalIgnoreCase)) continue;
            var host = line[(colon + 1)..].Trim();
            // Strip a port; an IPv6 literal keeps its brackets and is no domain anyway.
            var c = host.LastIndexOf(':');
            if (c > 0 && !host.StartsWith('[')) host = host[..c];
            return (true, host);
        }
        return (true, null);
    }
}

/// <summary>The server_name of a TLS ClientHello (RFC 8446 4.1.2, RFC 6066 3), read, never answered.</summary>
internal static class TlsSni
{
    public static (bool Done, string? Name) TryRead(ReadOnlySpan<byte> d)
    {
        if (d.Length < 5) return (false, null);
        if (d[0] != 22) return (true, null); // not a handshake: no name
        var recordLength = (d[3] << 8) | d[4];
        if (d.Length < 5 + recordLength) return (false, null);
        var p = d.Slice(5, recordLength);
        try
        {
            if (p[0] != 1) return (true, null); // not a ClientHello
            var i = 4 + 2 + 32;                   // type+length, version, random
            i += 1 + p[i];                        // session id
            i += 2 + ((p[i] << 8) | p[i + 1]);    // cipher suites
            i += 1 + p[i];                        // compression methods
            var extEnd = i + 2 + ((p[i] << 8) | p[i + 1]);
            i += 2;
            while (i + 4 <= extEnd)
            {
                var type = (p[i] << 8) | p[i + 1];
                var len = (p[i + 2] << 8) | p[i + 3];
                i += 4;
                if (type == 0)
                {
                    // server_name_list: length(2), then entries of type(1) length(2) name
                    var j = i + 2;
                    if (p[j] == 0)
                    {
                        var nameLength = (p[j + 1] << 8) | p[j + 2];
                        return (true, Encoding.ASCII.GetString(p.Slice(j + 3, nameLength)));
                    }
                    return (true, null);
                }
                i += len;
            }
            return (true, null);
        }
        catch (ArgumentOutOfRangeException) { return (true, null); }
        catch (IndexOutOfRangeException) { return (true, null); }
    }
}
