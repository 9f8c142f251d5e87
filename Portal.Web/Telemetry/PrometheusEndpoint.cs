using System.Globalization;
using System.Text;
using Portal.Core.Sandboxes;

namespace Portal.Web.Telemetry;

/// <summary><c>GET /metrics</c> in the Prometheus text format (0.0.4), no key needed.</summary>
public static class PrometheusEndpoint
{
    public static IEndpointRouteBuilder MapPrometheusMetrics(this IEndpointRouteBuilder app)
    {
        app.MapGet("/metrics", (SandboxService sandboxes, PortalTelemetry t) =>
            Results.Text(Render(sandboxes, t), "text/plain; version=0.0.4; charset=utf-8"));
        return app;
    }

    public static string Render(SandboxService sandboxes, PortalTelemetry t)
    {
        var sb = new StringBuilder();
        sb.Append("# HELP portal_sandboxes Live sandboxes by state and template.\n# TYPE portal_sandboxes gauge\n");
        var groups = sandboxes.Live.GroupBy(r => (State: r.Status.ToString().ToLowerInvariant(), r.TemplateId)).OrderBy(g => g.Key.State).ThenBy(g => g.Key.TemplateId);
        var any = false;
        foreach (var g in groups)
        {
            any = true;
            sb.Append($"portal_sandboxes{{state=\"{Esc(g.Key.State)}\",template=\"{Esc(g.Key.TemplateId)}\"}} {g.Count()}\n");
        }
        if (!any) sb.Append("portal_sandboxes{state=\"running\",template=\"\"} 0\n");

        sb.Append("# HELP portal_sandbox_creates_total Sandbox create requests by outcome.\n# TYPE portal_sandbox_creates_total counter\n");
        if (t.Creates.Count == 0) sb.Append("portal_sandbox_creates_total{outcome=\"success\"} 0\n");
        foreach (var (outcome, n) in t.Creates.OrderBy(kv => kv.Key))
            sb.Append($"portal_sandbox_creates_total{{outcome=\"{Esc(outcome)}\"}} {n}\n");

        sb.Append("# HELP portal_sandbox_create_duration_seconds Time to create a sandbox (successful creates).\n# TYPE portal_sandbox_create_duration_seconds histogram\n");
        for (var i = 0; i < PortalTelemetry.CreateLatencyBuckets.Length; i++)
            sb.Append($"portal_sandbox_create_duration_seconds_bucket{{le=\"{F(PortalTelemetry.CreateLatencyBuckets[i])}\"}} {t.CreateLatencyBucket(i)}\n");
        sb.Append($"portal_sandbox_create_duration_seconds_bucket{{le=\"+Inf\"}} {t.CreateLatencyCount}\n");
        sb.Append($"portal_sandbox_create_duration_seconds_sum {F(t.CreateLatencySumSeconds)}\n");
        sb.Append($"portal_sandbox_create_duration_seconds_count {t.CreateLatencyCount}\n");

        sb.Append("# HELP portal_proxy_requests_total Requests routed to a sandbox port.\n# TYPE portal_proxy_requests_total counter\n");
        sb.Append($"portal_proxy_requests_total {t.Proxied}\n");
        sb.Append("# HELP portal_proxy_errors_total Proxied requests that failed, by reason.\n# TYPE portal_proxy_errors_total counter\n");
        if (t.ProxyErrors.Count == 0) sb.Append("portal_proxy_errors_total{reason=\"sandbox_not_found\"} 0\n");
        foreach (var (reason, n) in t.ProxyErrors.OrderBy(kv => kv.Key))
            sb.Append($"portal_proxy_errors_total{{reason=\"{Esc(reason)}\"}} {n}\n");
        sb.Append("# HELP portal_dashboard_circuit_activities_total Dashboard circuit activities by the thread they arrived on (io should stay 0).\n# TYPE portal_dashboard_circuit_activities_total counter\n");
        sb.Append($"portal_dashboard_circuit_activities_total{{thread=\"pool\"}} {t.CircuitActivities - t.CircuitActivitiesOffPool}\n");
        sb.Append($"portal_dashboard_circuit_activities_total{{thread=\"io\"}} {t.CircuitActivitiesOffPool}\n");
        sb.Append("# HELP portal_dashboard_circuits_open Dashboard circuits alive (connected, or disconnected and waiting for their browser).\n# TYPE portal_dashboard_circuits_open gauge\n");
        sb.Append($"portal_dashboard_circuits_open {t.CircuitsOpen}\n");
        sb.Append("# HELP portal_dashboard_circuit_disconnects_total Times a dashboard circuit's connection went down (closing a tab counts too).\n# TYPE portal_dashboard_circuit_disconnects_total counter\n");
        sb.Append($"portal_dashboard_circuit_disconnects_total {t.CircuitDisconnects}\n");
        sb.Append("# HELP portal_dashboard_circuits_closed_total Dashboard circuits ended.\n# TYPE portal_dashboard_circuits_closed_total counter\n");
        sb.Append($"portal_dashboard_circuits_closed_total {t.CircuitsClosed}\n");
        AppendRuntime(sb);
        return sb.ToString();
    }

    /// <summary>
    /// The process's CPU and the .NET GC's work, under the names Prometheus' client libraries use:
    /// what lets an operator (and the dashboard-load bench) tell the proxy's own cost from a collector's.
    /// </summary>
    private static void AppendRuntime(StringBuilder sb)
    {
        sb.Append("# HELP process_cpu_seconds_total CPU time of the portal process (user and system).\n# TYPE process_cpu_seconds_total counter\n");
        sb.Append($"process_cpu_seconds_total {F(Environment.CpuUsage.TotalTime.TotalSeconds)}\n");
        sb.Append("# HELP dotnet_gc_collections_total Garbage collections by generation (a gen 2 collection counts in 0 and 1 too).\n# TYPE dotnet_gc_collections_total counter\n");
        for (var g = 0; g <= GC.MaxGeneration; g++)
            sb.Append($"dotnet_gc_collections_total{{generation=\"{g}\"}} {GC.CollectionCount(g)}\n");
        sb.Append("# HELP dotnet_gc_pause_seconds_total Time the runtime was paused for garbage collections.\n# TYPE dotnet_gc_pause_seconds_total counter\n");
        sb.Append($"dotnet_gc_pause_seconds_total {F(GC.GetTotalPauseDuration().TotalSeconds)}\n");
        sb.Append("# HELP dotnet_gc_heap_bytes Managed heap size after the last collection.\n# TYPE dotnet_gc_heap_bytes gauge\n");
        sb.Append($"dotnet_gc_heap_bytes {GC.GetGCMemoryInfo().HeapSizeBytes}\n");
        sb.Append("# HELP dotnet_gc_allocated_bytes_total Bytes allocated on the managed heap.\n# TYPE dotnet_gc_allocated_bytes_total counter\n");
        sb.Append($"dotnet_gc_allocated_bytes_total {GC.GetTotalAllocatedBytes()}\n");
    }

    private static string F(double v) => v.ToString("R", CultureInfo.InvariantCulture);
    private static string Esc(string s) => s.Replace("\\", "\\\\").Replace("\"", "\\\"").Replace("\n", "\\n");
}
