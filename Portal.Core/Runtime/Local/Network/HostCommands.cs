using System.Diagnostics;

namespace Portal.Core.Runtime.Local.Network;

/// <summary>Runs iproute2 (and nsenter for the sandbox's side): the kernel's own tools, no hand-made netlink.</summary>
internal static class HostCommands
{
    /// <summary>Runs <paramref name="file"/>; returns (exit code, stderr). <paramref name="stdin"/> feeds <c>ip -batch -</c>.</summary>
    public static async Task<(int Code, string Error)> RunAsync(string file, IEnumerable<string> args, string? stdin = null, CancellationToken ct = default)
    {
        var psi = new ProcessStartInfo(file) { UseShellExecute = false, RedirectStandardError = true, RedirectStandardOutput = true, RedirectStandardInput = stdin is not null };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi) ?? throw new InvalidOperationException($"could not start {file}");
        if (stdin is not null)
        {
            await p.StandardInput.WriteAsync(stdin);
            p.StandardInput.Close();
        }
        var err = p.StandardError.ReadToEndAsync(ct);
        _ = p.StandardOutput.ReadToEndAsync(ct);
        await p.WaitForExitAsync(ct);
        return (p.ExitCode, (await err).Trim());
    }

    public static async Task CheckAsync(string file, IEnumerable<string> args, string? stdin = null, CancellationToken ct = default)
    {
        var (code, error) = await RunAsync(file, args, stdin, ct);
        if (code != 0) throw new InvalidOperationException($"{file} {string.Join(' ', args)} failed: {error}");
    }

    /// <summary>Writes a /proc/sys knob of one interface (forwarding, disable_ipv6): per interface, never host-wide.</summary>
    public static void SetInterfaceSysctl(string family, string iface, string knob, string value) =>
        File.WriteAllText($"/proc/sys/net/{family}/conf/{iface}/{knob}", value);
}
