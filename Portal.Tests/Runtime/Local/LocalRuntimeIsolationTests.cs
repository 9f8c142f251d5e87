using System.Net;
using System.Net.Sockets;

namespace Portal.Tests.Runtime.Local;

/// <summary>Attempts to escape a sandbox. Every one must fail.</summary>
[Collection(nameof(LocalRuntimeCollection))]
public sealed class LocalRuntimeIsolationTests(LocalRuntimeFixture fx)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task HostFiles_AreNotVisible_EvenToRootInside()
    {
        var marker = $"/root/host-secret-{Guid.NewGuid():N}";
        await File.WriteAllTextAsync(marker, "host secret", Ct);
        try
        {
            var sbx = await fx.CreateAsync();
            var (_, asUser, _) = await fx.RunAsync(sbx.SandboxId, $"cat {marker} /etc/shadow 2>&1; echo; ls /work /var/lib/sandbox-portal 2>&1");
            Assert.DoesNotContain("host secret", asUser);
            Assert.Contains("Permission denied", asUser); // the sandbox's own shadow, not readable by user
            var (_, asRoot, _) = await fx.RunAsync(sbx.SandboxId, $"cat {marker} 2>&1; ls {fx.DataDirectory} 2>&1", user: "root");
            Assert.DoesNotContain("host secret", asRoot);
            Assert.Contains("No such file", asRoot);
            // the shadow file root sees is the template's, never the host's
            var (_, shadow, _) = await fx.RunAsync(sbx.SandboxId, "cat /etc/shadow", user: "root");
            var template = Path.Combine(fx.Options.TemplatesDirectory, "base", "rootfs", "etc", "shadow");
            Assert.Equal(await File.ReadAllTextAsync(template, Ct), shadow);
            Assert.NotEqual(await File.ReadAllTextAsync("/etc/shadow", Ct), shadow);
        }
        finally
        {
            File.Delete(marker);
        }
    }

    [Fact]
    public async Task OtherSandboxes_FilesAndProcesses_AreInvisible()
    {
        var a = await fx.CreateAsync();
        var b = await fx.CreateAsync();
        await fx.WriteFileAsync(a.SandboxId, "/home/user/a-secret.txt", "only for a");
        await fx.RunAsync(a.SandboxId, "nohup sleep 300 >/dev/null 2>&1 &");
        var (_, fromB, _) = await fx.RunAsync(b.SandboxId,
            $"cat /home/user/a-secret.txt 2>&1; find / -xdev -name a-secret.txt 2>/dev/null; ls {fx.Options.SandboxesDirectory} 2>&1; ps -eo comm | grep -c sleep", user: "root");
        Assert.DoesNotContain("only for a", fromB);
        Assert.Contains("No such file", fromB);
        Assert.EndsWith("0\n", fromB);
    }

    [Fact]
    public async Task HostProcesses_AreInvisible()
    {
        var sbx = await fx.CreateAsync();
        var (_, stdout, _) = await fx.RunAsync(sbx.SandboxId, "ps -eo pid,comm --no-headers", user: "root");
        var lines = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length < 10, stdout);
        Assert.DoesNotContain("dotnet", stdout);
        Assert.DoesNotContain(Environment.ProcessId.ToString() + " ", stdout);
        Assert.Contains("portal-envd", stdout);
        // nor do the launcher's arguments tell the host's paths
        var (_, args, _) = await fx.RunAsync(sbx.SandboxId, "ps -eo args --no-headers", user: "root");
        Assert.StartsWith("portal-sandbox-init\n", args);
        Assert.DoesNotContain(fx.Options.SandboxesDirectory, args);
        Assert.DoesNotContain(fx.Options.EnvdPath, args);
    }

    [Fact]
    public async Task HostTcpPorts_AreUnreachable()
    {
        // A host service on every address: the sandbox's own loopback is not the host's, and its
        // gateway (an address of the host) refuses it (docs/networking.md; e2e/network covers the rest).
        using var listener = new TcpListener(IPAddress.Any, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        var accepted = listener.AcceptTcpClientAsync(Ct).AsTask();
        var sbx = await fx.CreateAsync();
        var (_, stdout, _) = await fx.RunAsync(sbx.SandboxId,
            $"curl -s -m 2 -o /dev/null http://127.0.0.1:{port}/ ; echo \"loopback=$?\"; gw=$(ip route show default | awk '{{print $3}}'); " +
            $"curl -s -m 2 -o /dev/null http://$gw:{port}/ ; echo \"gateway=$? $gw\"; ip -o link | awk '{{print $2}}' | cut -d@ -f1 | tr -d ':' | sed 's|$|:|' | tr '\\n' ' '");
        Assert.Contains("loopback=7", stdout); // connection refused: nothing listens in the sandbox's own network
        Assert.Matches(@"gateway=7 10\.", stdout); // reset by the host's firewall, not timed out
        Assert.Equal("lo: eth0:", stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Last().Trim());
        // curl gave up (exit 7) before this line; a connection that got through would have been accepted by now.
        await Task.Delay(200, Ct);
        Assert.False(accepted.IsCompleted);
    }

    [Fact]
    public async Task TheTemplate_CannotBeWritten()
    {
        var sbx = await fx.CreateAsync();
        var name = $"/usr/bin/planted-{Guid.NewGuid():N}";
        var (exit, _, _) = await fx.RunAsync(sbx.SandboxId, $"echo evil > {name} && echo x >> /etc/passwd", user: "root");
        Assert.Equal(0, exit); // the write lands in the sandbox's own layer...
        var template = Path.Combine(fx.Options.TemplatesDirectory, "base", "rootfs");
        Assert.False(File.Exists(template + name)); // ...never in the template
        Assert.DoesNotContain("\nx\n", await File.ReadAllTextAsync(template + "/etc/passwd", Ct));
        var other = await fx.CreateAsync();
        var (_, seen, _) = await fx.RunAsync(other.SandboxId, $"ls {name} 2>&1");
        Assert.Contains("No such file", seen);
    }

    [Fact]
    public async Task KernelAndMountPowers_AreDropped()
    {
        var sbx = await fx.CreateAsync();
        var (_, stdout, _) = await fx.RunAsync(sbx.SandboxId,
            "mount -t tmpfs x /mnt 2>&1 | head -1; hostname evil 2>&1; ip link add dummy0 type dummy 2>&1; grep CapEff /proc/self/status", user: "root");
        Assert.Contains("permission denied", stdout, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("Operation not permitted", stdout); // ip link: no CAP_NET_ADMIN
        var capEff = Convert.ToUInt64(stdout.Split("CapEff:")[1].Trim(), 16);
        Assert.Equal(0UL, capEff & (1UL << 21)); // CAP_SYS_ADMIN
        Assert.Equal(0UL, capEff & (1UL << 19)); // CAP_SYS_PTRACE
        var (_, host, _) = await fx.RunAsync(sbx.SandboxId, "hostname");
        Assert.Equal(sbx.SandboxId + "\n", host);
    }

    [Fact]
    public async Task KernelKnobs_UnderProc_AreReadOnly_EvenForRootThroughSudo()
    {
        var sbx = await fx.CreateAsync();
        // core_pattern would run a program of the sandbox's choosing as host root on a crash.
        var (_, stdout, _) = await fx.RunAsync(sbx.SandboxId,
            "sudo -n sh -c 'echo \"|/tmp/evil\" > /proc/sys/kernel/core_pattern' 2>&1; " +
            "sudo -n sh -c 'echo 3 > /proc/sys/vm/drop_caches' 2>&1; sudo -n sh -c 'echo evil > /proc/sys/kernel/hostname' 2>&1; " +
            "sudo -n cat /proc/kcore 2>/dev/null | head -c 64 | wc -c; hostname");
        Assert.Equal(3, stdout.Split("Read-only file system").Length - 1);
        Assert.DoesNotContain("|/tmp/evil", await File.ReadAllTextAsync("/proc/sys/kernel/core_pattern", Ct));
        Assert.EndsWith($"0\n{sbx.SandboxId}\n", stdout);
    }

    [Fact]
    public async Task Root_Inside_IsBounded_ToContainerCapabilities()
    {
        var sbx = await fx.CreateAsync();
        var (_, stdout, _) = await fx.RunAsync(sbx.SandboxId, "sudo -n grep -E 'CapBnd|CapEff' /proc/self/status");
        foreach (var line in stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var caps = Convert.ToUInt64(line.Split(':')[1].Trim(), 16);
            // Docker's default set less NET_RAW and MKNOD; nothing else, so no exec can regain more.
            Assert.Equal(0xa00405fbUL, caps);
        }
    }

    [Fact]
    public async Task DescriptorsThePortalInherited_NeverReachTheSandbox()
    {
        // A descriptor without close-on-exec, as a portal started under `flock 9>file` has.
        var marker = $"/tmp/host-fd-{Guid.NewGuid():N}";
        await File.WriteAllTextAsync(marker, "host file", Ct);
        var fd = HostFd.OpenInheritable(marker);
        try
        {
            var sbx = await fx.CreateAsync();
            var (_, stdout, _) = await fx.RunAsync(sbx.SandboxId,
                "ls /proc/1/fd | tr '\\n' ' '; echo; for p in /proc/[0-9]*; do ls -l $p/fd 2>/dev/null; done | grep -c host-fd-", user: "root");
            Assert.Equal($"0 1 2 \n0\n", stdout);
        }
        finally
        {
            HostFd.Close(fd);
            File.Delete(marker);
        }
    }

    [Fact]
    public async Task EnvdSocket_IsNotUsableBySandboxUsers()
    {
        var sbx = await fx.CreateAsync();
        var (_, stdout, _) = await fx.RunAsync(sbx.SandboxId, "curl -s -m 2 --unix-socket /run/portal/envd.sock http://envd/health -o /dev/null -w '%{http_code}'; echo \" exit=$?\"");
        Assert.DoesNotContain("204", stdout);
    }
}

internal static class HostFd
{
    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "open")]
    private static extern int Open([System.Runtime.InteropServices.MarshalAs(System.Runtime.InteropServices.UnmanagedType.LPUTF8Str)] string path, int flags);

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "close")]
    public static extern int Close(int fd);

    public static int OpenInheritable(string path)
    {
        var fd = Open(path, 0 /* O_RDONLY, no O_CLOEXEC */);
        Assert.True(fd >= 0, $"open {path}");
        return fd;
    }
}
