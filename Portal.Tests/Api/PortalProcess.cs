using System.Diagnostics;
using System.Text;
using static Portal.Tests.Api.Http;

namespace Portal.Tests.Api;

/// <summary>
/// The real portal as a child process (Portal.Web.dll) with the local runtime on a data dir and
/// port of the caller's choosing, more configuration as <c>--Key value</c> arguments and
/// environment variables (which replace the defaults set here; null removes one);
/// <see cref="Kill"/> is a SIGKILL.
/// </summary>
internal sealed class PortalProcess : IAsyncDisposable
{
    private readonly Process _proc;
    private readonly StringBuilder _log;
    private PortalProcess(Process proc, StringBuilder log) { _proc = proc; _log = log; }

    public string Log { get { lock (_log) return _log.ToString(); } }

    public static Task<PortalProcess> StartAsync(string dataDir, int port, params string[] extraArgs) =>
        StartAsync(dataDir, port, new Dictionary<string, string?>(), extraArgs);

    public static async Task<PortalProcess> StartAsync(string dataDir, int port, IReadOnlyDictionary<string, string?> environment, params string[] extraArgs)
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "Portal.Web.dll");
        var psi = new ProcessStartInfo("dotnet", [dll, "--urls", $"http://127.0.0.1:{port}"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        psi.Environment["PORTAL_DATA_DIR"] = dataDir;
        if (Portal.Tests.Persistence.TestDatabase.ConnectionStringFor(dataDir) is { } database) psi.Environment["PORTAL_DATABASE"] = database;
        psi.Environment["PORTAL_ADMIN_API_KEY"] = PortalHost.AdminKey;
        psi.Environment["PORTAL_RUNTIME"] = "local";
        psi.Environment["PORTAL_NETWORK_UPLINK"] = "none"; // sandboxes never leave through this machine's uplink in tests
        // What scripts/test.sh prepares (publish-envd.sh, build-template.sh).
        var envd = Path.Combine(Portal.Tests.Runtime.Local.LocalRuntimeFixture.RepoRoot, "artifacts", "envd", "portal-envd");
        if (!File.Exists(envd)) Assert.Fail($"{envd} missing: run scripts/publish-envd.sh (scripts/test.sh does)");
        psi.Environment["PORTAL_ENVD_PATH"] = envd;
        psi.Environment["PORTAL_TEMPLATES_DIR"] = Environment.GetEnvironmentVariable("PORTAL_TEMPLATES_DIR") ?? "/var/lib/sandbox-portal/templates";
        // The code-interpreter template may share the directory: no kernel started for nothing.
        psi.ArgumentList.Add("--Portal:LocalRuntime:WarmPools:code-interpreter");
        psi.ArgumentList.Add("0");
        psi.ArgumentList.Add("--Portal:LocalRuntime:StartTimeout");
        psi.ArgumentList.Add("00:01:00"); // the whole test suite runs beside it on two cores
        psi.ArgumentList.Add("--Portal:LocalRuntime:CgroupGroup");
        psi.ArgumentList.Add("portal-restart-test-" + port);
        foreach (var a in extraArgs) psi.ArgumentList.Add(a);
        foreach (var (k, v) in environment)
            if (v is null) psi.Environment.Remove(k);
            else psi.Environment[k] = v;
        var log = new StringBuilder();
        var proc = Process.Start(psi)!;
        proc.OutputDataReceived += (_, e) => { lock (log) log.AppendLine(e.Data); };
        proc.ErrorDataReceived += (_, e) => { lock (log) log.AppendLine(e.Data); };
        proc.BeginOutputReadLine();
        proc.BeginErrorReadLine();
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var until = DateTime.UtcNow.AddSeconds(120); // a loaded two-core machine builds EF's model slowly
        while (DateTime.UtcNow < until)
        {
            if (proc.HasExited)
            {
                proc.WaitForExit();
                Assert.Fail("portal exited during startup:\n" + log);
            }
            try
            {
                using var r = await http.GetAsync($"http://127.0.0.1:{port}/health", Ct);
                if (r.IsSuccessStatusCode) return new PortalProcess(proc, log);
            }
            catch (HttpRequestException) { }
            catch (TaskCanceledException) { }
            await Task.Delay(100, Ct);
        }
        proc.Kill(true);
        Assert.Fail("portal did not become ready:\n" + log);
        return null!;
    }

    public void Kill()
    {
        if (_proc.HasExited) return;
        _proc.Kill(); // SIGKILL
        _proc.WaitForExit();
    }

    /// <summary>SIGTERM, as a service manager stops it; false if it had to be killed.</summary>
    public async Task<bool> StopAsync()
    {
        if (_proc.HasExited) return true;
        Portal.Core.Runtime.Local.NativeSignals.Kill(_proc.Id, 15);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        try
        {
            await _proc.WaitForExitAsync(timeout.Token);
            return true;
        }
        catch (OperationCanceledException)
        {
            Kill();
            return false;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        _proc.Dispose();
    }
}
