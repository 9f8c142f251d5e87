using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Options;
using Portal.Core.Threading;

namespace Portal.Web.Transport;

/// <summary>
/// Kestrel's transport for TCP endpoints on Linux: connections on <see cref="EpollSocket"/>s
/// instead of the runtime's socket engine (<c>Portal:Transport</c> = <c>Epoll</c>, the default;
/// <c>Sockets</c> keeps Kestrel's own). Unix-socket and other endpoints stay with Kestrel's.
/// </summary>
internal sealed class EpollTransportFactory(IOptions<KestrelServerOptions> kestrel, IMemoryPoolFactory<byte> pools)
    : IConnectionListenerFactory, IConnectionListenerFactorySelector
{
    public bool CanBind(EndPoint endpoint) => endpoint is IPEndPoint && OperatingSystem.IsLinux();

    public ValueTask<IConnectionListener> BindAsync(EndPoint endpoint, CancellationToken cancellationToken = default)
    {
        var ip = (IPEndPoint)endpoint;
        var socket = new Socket(ip.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            if (ip.Address.Equals(IPAddress.IPv6Any)) socket.DualMode = true;
            socket.Bind(ip);
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.AddressAlreadyInUse)
        {
            socket.Dispose();
            throw new AddressInUseException(e.Message, e);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
        socket.Listen(512);
        var limits = kestrel.Value.Limits;
        return new ValueTask<IConnectionListener>(new EpollListener(socket, pools.Create(new MemoryPoolOptions { Owner = "portal-epoll" }),
            limits.MaxRequestBufferSize ?? 0, limits.MaxResponseBufferSize ?? 0));
    }

    private sealed class EpollListener(Socket listen, MemoryPool<byte> pool, long maxRead, long maxWrite) : IConnectionListener
    {
        // Inline when the portal runs socket completions inline (InlineIo), as Kestrel's transport does.
        private readonly PipeScheduler _application = InlineIo.Enabled ? PipeScheduler.Inline : PipeScheduler.ThreadPool;

        public EndPoint EndPoint { get; } = listen.LocalEndPoint!;

        public async ValueTask<ConnectionContext?> AcceptAsync(CancellationToken cancellationToken = default)
        {
            while (true)
            {
                Socket accepted;
                try
                {
                    accepted = await listen.AcceptAsync(cancellationToken);
                }
                catch (ObjectDisposedException)
                {
                    return null; // unbound
                }
                catch (SocketException e) when (e.SocketErrorCode == SocketError.OperationAborted)
                {
                    return null;
                }
                catch (SocketException e) when (e.SocketErrorCode is SocketError.ConnectionReset or SocketError.ConnectionAborted)
                {
                    continue; // the client gave up while waiting in the backlog
                }
                catch (SocketException)
                {
                    // Out of descriptors or memory, say: try again shortly instead of spinning.
                    await Task.Delay(10, cancellationToken);
                    continue;
                }
                try
                {
                    accepted.NoDelay = true;
                    var connection = new EpollConnection(new EpollSocket(accepted), pool, _application, maxRead, maxWrite);
                    connection.Start();
                    return connection;
                }
                catch (Exception e) when (e is SocketException or ObjectDisposedException)
                {
                    accepted.Dispose();
                }
            }
        }

        public ValueTask UnbindAsync(CancellationToken cancellationToken = default)
        {
            listen.Dispose();
            return default;
        }

        public ValueTask DisposeAsync()
        {
            listen.Dispose();
            pool.Dispose();
            return default;
        }
    }
}
