using System.Diagnostics;
using System.Text;

namespace Portal.Tests.Api;

/// <summary>
/// Runs the e2e/portal node suites (the real npm <c>e2b</c> SDK, non-debug mode) against the
/// in-process portal over a <see cref="FakeSandboxRuntime"/> whose sandboxes are real envds
/// on this host (no isolation). The same suites run against the real local runtime in
/// scripts/e2e-portal.sh; this run proves the control plane and proxy speak the SDK's wire.
/// </summary>
public class SdkSuiteTests
{
    /// <summary>
    /// The control-plane suite only: io/files need what a fake cannot give (one filesystem per
    /// sandbox; envd's PTY helper re-executes envd's own binary, which in-process is the test
    /// host). scripts/e2e-portal.sh runs all suites against the real local runtime.
    /// </summary>
    public static TheoryData<string> Suites => new() { "lifecycle.test.mjs" };

    [Theory]
    [MemberData(nameof(Suites))]
    public async Task NodeSuite_PassesAgainstPortalWithFakeRuntime(string suite)
    {
        var e2e = FindE2eDir();
        if (!Directory.Exists(Path.Combine(e2e, "node_modules", "e2b")))
            Assert.Fail("e2e/node_modules is missing: run scripts/install-deps.sh");
        var runtime = new FakeSandboxRuntime { RealEnvd = true };
        await using var _ = runtime;
        await using var host = await PortalHost.StartAsync(runtime);

        var psi = new ProcessStartInfo("node", ["--test", "--test-concurrency=1", "--test-timeout=120000", "--test-reporter=spec", Path.Combine("portal", suite)])
        {
            WorkingDirectory = e2e,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        psi.Environment.Remove("E2B_DEBUG");
        psi.Environment["PORTAL_URL"] = host.BaseAddress.ToString().TrimEnd('/');
        psi.Environment["E2B_API_KEY"] = PortalHost.AdminKey;
        using var proc = Process.Start(psi)!;
        var output = new StringBuilder();
        proc.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (output) output.AppendLine(e.Data); };
        proc.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (output) output.AppendLine(e.Data); };
        proc.BeginOutputReadLine();
        proc.BeginErrorReadLine();
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        timeout.CancelAfter(TimeSpan.FromMinutes(5));
        try { await proc.WaitForExitAsync(timeout.Token); }
        catch (OperationCanceledException) { proc.Kill(true); throw; }
        proc.WaitForExit();
        TestContext.Current.TestOutputHelper?.WriteLine(output.ToString());
        Assert.True(proc.ExitCode == 0, $"node suite {suite} failed:\n{output}");
    }

    internal static string FindE2eDir()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "e2e", "package.json"))) return Path.Combine(d.FullName, "e2e");
        throw new DirectoryNotFoundException("e2e/package.json not found above " + AppContext.BaseDirectory);
    }
}
