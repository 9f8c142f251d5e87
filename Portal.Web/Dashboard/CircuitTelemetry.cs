using Microsoft.AspNetCore.Components.Server.Circuits;
using Portal.Core.Sandboxes;

namespace Portal.Web.Dashboard;

/// <summary>
/// The dashboard's circuits as operators see them on <c>/metrics</c>: how many are open, how often
/// a circuit's connection went down (a browser that lost its WebSocket: a network blip, a portal
/// too busy to answer SignalR's keep-alives, or a closed tab) and how many were closed.
/// It also counts each inbound activity of a circuit (a browser event, a JS interop call, a render
/// acknowledgement) and whether it arrived off the thread pool: on a socket engine or epoll loop
/// thread, where the proxy's inline I/O runs. None should (<see cref="Hosting.PoolResumingStream"/>);
/// one that does is counted (<c>portal_dashboard_circuit_activities_total{thread="io"}</c>) and moved
/// to the thread pool before any component code runs.
/// </summary>
public sealed class CircuitTelemetry(PortalTelemetry telemetry) : CircuitHandler
{
    public override Task OnCircuitOpenedAsync(Circuit circuit, CancellationToken cancellationToken)
    {
        telemetry.RecordCircuitOpened();
        return Task.CompletedTask;
    }

    public override Task OnConnectionDownAsync(Circuit circuit, CancellationToken cancellationToken)
    {
        telemetry.RecordCircuitDisconnect();
        return Task.CompletedTask;
    }

    public override Task OnCircuitClosedAsync(Circuit circuit, CancellationToken cancellationToken)
    {
        telemetry.RecordCircuitClosed();
        return Task.CompletedTask;
    }

    public override Func<CircuitInboundActivityContext, Task> CreateInboundActivityHandler(Func<CircuitInboundActivityContext, Task> next) =>
        context =>
        {
            var onPool = Thread.CurrentThread.IsThreadPoolThread;
            telemetry.RecordCircuitActivity(onPool);
            return onPool ? next(context) : Core.Threading.ThreadPoolContext.Run(next, context);
        };
}
