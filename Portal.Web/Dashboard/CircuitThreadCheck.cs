using Microsoft.AspNetCore.Components.Server.Circuits;
using Portal.Core.Sandboxes;

namespace Portal.Web.Dashboard;

/// <summary>
/// Counts each inbound activity of a dashboard circuit (a browser event, a JS interop call, a
/// render acknowledgement) and whether it arrived off the thread pool: on a socket engine or epoll
/// loop thread, where the proxy's inline I/O runs. None should (<see cref="Hosting.PoolResumingStream"/>);
/// one that does is counted (<c>portal_dashboard_circuit_activities_total{thread="io"}</c>) and moved
/// to the thread pool before any component code runs.
/// </summary>
public sealed class CircuitThreadCheck(PortalTelemetry telemetry) : CircuitHandler
{
    public override Func<CircuitInboundActivityContext, Task> CreateInboundActivityHandler(Func<CircuitInboundActivityContext, Task> next) =>
        context =>
        {
            var onPool = Thread.CurrentThread.IsThreadPoolThread;
            telemetry.RecordCircuitActivity(onPool);
            return onPool ? next(context) : Core.Threading.ThreadPoolContext.Run(next, context);
        };
}
