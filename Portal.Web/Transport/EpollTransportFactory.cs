using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Options;
#if !PORTAL_ENVD
using Portal.Core.Threading;
#endif

// One source, two assemblies: the portal compiles this transport here, and Portal.Envd (NativeAOT,
// no reference to Portal.Web) links the same files with PORTAL_ENVD defined, under its own
// namespace so a project referencing both sees two distinct types.
#if PORTAL_ENVD
namespace Portal.Envd.Transport;
#else
namespace Portal.Web.Transport;
#endif

/// <summary>
/// Kestrel's transport for TCP endpoints (and, in envd, Unix-socket ones) on Linux: connections on
/// <see cref="EpollSocket"/>s instead of the runtime's socket engine. The portal uses it unless
/// <c>Portal:Transport</c> = <c>Sockets</c> (Kestrel's own); envd always does — there it matters
/// most: the runtime's engine registers every socket for write readiness too, so each time a proxy
/// read a response from envd's socket the kernel woke envd's epoll thread for nothing, and every read
/// was followed by one that could only say <c>EAGAIN</c> (docs/benchmarks.md).
/// </summary>
internal sealed class EpollTransportFactory(IOptions<KestrelServerOptions> kestrel, IMemoryPoolFactory<byte> pools)
    : IConnectionListenerFactory, IConnectionListenerFactorySelector
{
    private long _accepted;

    /// <summary>Connections this transport has accepted (for tests: proof that it, not Kestrel's own, carried them).</summary>
    public long Accepted => Interlocked.Read(ref _accepted);

#if PORTAL_ENVD
    private const bool UnixSockets = true; // envd's socket is how the local runtime reaches it
#else
    private const bool UnixSockets = false; // the portal's Unix-socket listeners stay on Kestrel's transport (docs/deployment.md)
#endif

    public bool CanBind(EndPoint endpoint) =>
        OperatingSystem.IsLinux() && (endpoint is IPEndPoint || (UnixSockets && endpoint is UnixDomainSocketEndPoint));

    public ValueTask<IConnectionListener> BindAsync(EndPoint endpoint, CancellationToken cancellationToken = default)
    {
        var ip = endpoint as IPEndPoint;
        var socket = ip is null
            ? new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified)
            : new Socket(ip.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            if (ip is not null && ip.Address.Equals(IPAddress.IPv6Any)) socket.DualMode = true;
            socket.Bind(endpoint);
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
        return new ValueTask<IConnectionListener>(new EpollListener(this, socket, pools.Create(new MemoryPoolOptions { Owner = "portal-epoll" }),
            limits.MaxRequestBufferSize ?? 0, limits.MaxResponseBufferSize ?? 0));
    }

    private sealed class EpollListener(EpollTransportFactory factory, Socket listen, MemoryPool<byte> pool, long maxRead, long maxWrite) : IConnectionListener
    {
#if PORTAL_ENVD
        // envd's handlers run on the thread pool: one that blocks (a FIFO read, a slow disk) must
        // never hold the loop every connection of the sandbox is served by.
        private readonly PipeScheduler _application = PipeScheduler.ThreadPool;
#else
        // Inline when the portal runs socket completions inline (InlineIo), as Kestrel's transport does.
        private readonly PipeScheduler _application = InlineIo.Enabled ? PipeScheduler.Inline : PipeScheduler.ThreadPool;
#endif

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
                    if (accepted.AddressFamily != AddressFamily.Unix) accepted.NoDelay = true;
                    var connection = new EpollConnection(new EpollSocket(accepted), pool, _application, maxRead, maxWrite);
                    connection.Start();
                    Interlocked.Increment(ref factory._accepted);
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
