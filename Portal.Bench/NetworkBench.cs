using System.Diagnostics;
using System.Text.Json;
using Portal.Core.Runtime;
using Portal.Core.Runtime.Local;

namespace Portal.Bench;

/// <summary>
/// Sandbox networking's cost and speed (docs/networking.md): warm claim and cold create with
/// networking and without, replacing a sandbox's egress rules (one nftables transaction, what
/// PUT /network costs below the API), a new connection's set-up with 1,000 sandboxes' rules in the
/// table vs none, and TCP throughput sandbox → fake internet vs the host itself (iperf3).
/// scripts/bench-network.sh builds the fake internet and passes its uplink, pool and DNS.
/// </summary>
public static class NetworkBench
{
    public static async Task<int> RunAsync(string[] args)
    {
        string Arg(string name, string fallback) { var i = Array.IndexOf(args, name); return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback; }
        var uplink = Arg("--uplink", "none");
        var pool = Arg("--pool", "10.252.0.0/20"); // the fake rule addresses below sit in its upper half
        var dns = Arg("--dns", "203.0.113.53");
        var iperfServer = Arg("--iperf", "");
        var rulesCount = int.Parse(Arg("--rules-sandboxes", "1000"));
        var data = Path.Combine("/var/tmp", $"portal-netbench-{Guid.NewGuid():N}"[..28]);
        var ct = CancellationToken.None;
        LocalRuntimeOptions Options(string name, bool network, int warm) => new()
        {
            SandboxesDirectory = Path.Combine(data, name),
            TemplatesDirectory = Arg("--templates", "/var/lib/sandbox-portal/templates"),
            EnvdPath = Path.GetFullPath(Arg("--envd", "artifacts/envd/portal-envd")),
            CgroupGroup = "portal-netbench-" + Path.GetFileName(data)[^6..] + name,
            WarmPools = new() { ["base"] = warm },
            Network = { Enabled = network, Uplink = uplink, AddressPool = pool, DnsServers = [dns], TableName = "portal_netbench_" + name },
        };
        string NewId() => "n" + Guid.NewGuid().ToString("N")[..19];
        Console.WriteLine($"Networking benchmark ({DateTime.UtcNow:u}, {Environment.ProcessorCount} cores, uplink {uplink})");

        foreach (var network in new[] { false, true })
        {
            using var warmRt = new LocalSandboxRuntime(Options(network ? "warmnet" : "warmnonet", network, 3));
            var claims = new List<double>();
            for (var i = 0; i < 15; i++)
            {
                for (var w = 0; w < 600 && warmRt.WarmCount("base") < 3; w++) await Task.Delay(20);
                var id = NewId();
                var sw = Stopwatch.StartNew();
                await warmRt.CreateAsync(new SandboxSpec { SandboxId = id, TemplateId = "base" }, ct);
                claims.Add(sw.Elapsed.TotalMilliseconds);
                await warmRt.KillAsync(id, ct);
            }
            warmRt.DrainWarmPools();
            using var coldRt = new LocalSandboxRuntime(Options(network ? "coldnet" : "coldnonet", network, 0));
            var colds = new List<double>();
            for (var i = 0; i < 10; i++)
            {
                var id = NewId();
                var sw = Stopwatch.StartNew();
                await coldRt.CreateAsync(new SandboxSpec { SandboxId = id, TemplateId = "base" }, ct);
                colds.Add(sw.Elapsed.TotalMilliseconds);
                await coldRt.KillAsync(id, ct);
            }
            var label = network ? "with networking   " : "without networking";
            Console.WriteLine($"warm claim {label}   p50 {P(claims, 50):0.0} ms   p95 {P(claims, 95):0.0} ms   (target < 10 ms p50)");
            Console.WriteLine($"cold create {label}  p50 {P(colds, 50):0.0} ms   p95 {P(colds, 95):0.0} ms");
        }

        using var rt = new LocalSandboxRuntime(Options("rules", true, 0));
        var cgroups = CgroupDriver.Detect(group: Options("rules", true, 0).CgroupGroup);
        var probe = NewId();
        await rt.CreateAsync(new SandboxSpec { SandboxId = probe, TemplateId = "base" }, ct);
        var pid = cgroups.Pids(probe).First();
        try
        {
            // Rule replacement: what PUT /network does below the API (the API adds one store write).
            var puts = new List<double>();
            for (var i = 0; i < 50; i++)
            {
                var egress = SandboxEgress.From(i % 2 == 0 ? ["192.0.2.0/24", "example.test"] : ["198.51.100.2"], ["0.0.0.0/0"]);
                var sw = Stopwatch.StartNew();
                await rt.SetEgressAsync(probe, egress, ct);
                puts.Add(sw.Elapsed.TotalMilliseconds);
            }
            await rt.SetEgressAsync(probe, SandboxEgress.Open, ct);
            Console.WriteLine($"egress rules replaced (PUT /network's runtime part)   p50 {P(puts, 50):0.00} ms   p95 {P(puts, 95):0.00} ms   (target < 5 ms p50)");

            if (iperfServer.Length > 0)
            {
                // 1,000 sandboxes' rules as elements in the same sets (addresses in the pool's upper half, no
                // processes: what a new connection's lookup walks is the sets, not the sandboxes).
                var fakes = Enumerable.Range(0, rulesCount).Select(i =>
                {
                    var a = Portal.Core.Runtime.Local.Network.Ipv4Cidr.ToAddress(0x0AFC0801u + 2u * (uint)i).ToString();
                    return new Portal.Core.Runtime.Local.Network.SandboxLink("spxfake", a, a);
                }).ToList();
                // Alone and with the rules in turns, five times: one pair of 200 connects moved by ±50 %
                // between runs on the quiet machine, more than the rules could explain.
                var connects0 = new List<double>();
                var connects1 = new List<double>();
                var ratios = new List<double>();
                for (var round = 0; round < 5; round++)
                {
                    var alone = await ConnectTimesAsync(pid, iperfServer);
                    for (var i = 0; i < fakes.Count; i++)
                        rt.Networking!.SetEgress(fakes[i], SandboxEgress.From([$"192.0.2.{i % 250}", $"203.0.113.{i % 250}/32", "example.test"], ["0.0.0.0/0", $"198.51.100.{i % 4}"]));
                    var with = await ConnectTimesAsync(pid, iperfServer);
                    foreach (var f in fakes) rt.Networking!.SetEgress(f, SandboxEgress.Open);
                    connects0.AddRange(alone);
                    connects1.AddRange(with);
                    ratios.Add(P(with, 50) / P(alone, 50));
                }
                Console.WriteLine($"new TCP connection set-up, sandbox -> fake internet   p50 {P(connects0, 50):0.000} ms alone, {P(connects1, 50):0.000} ms with {rulesCount} sandboxes' rules in the sets   ({(P(connects1, 50) / P(connects0, 50) - 1) * 100:+0;-0}% pooled over 5 alternating rounds of 200; per-round ratios {string.Join(" ", ratios.Select(r => r.ToString("0.00")))}; target <= +10%)");

                var host = Iperf(null, iperfServer);
                var sandbox = Iperf(pid, iperfServer);
                Console.WriteLine($"iperf3 TCP 5 s   host -> fake internet {host / 1e9:0.00} Gbit/s   sandbox -> fake internet {sandbox / 1e9:0.00} Gbit/s   ({sandbox / host * 100:0}% of the host's; target >= 80%)");
            }
        }
        finally
        {
            await rt.KillAsync(probe, ct);
            try { Directory.Delete(data, true); } catch (IOException) { }
        }
        return 0;
    }

    /// <summary>Connects 200 times to the fake internet's echo port from inside the sandbox's network namespace (nsenter runs the host's python3 there).</summary>
    private static async Task<List<double>> ConnectTimesAsync(int pid, string server)
    {
        var psi = new ProcessStartInfo("nsenter", ["-t", pid.ToString(), "-n", "python3", "-c",
            $"import socket,time\nr=[]\nfor i in range(200):\n t=time.perf_counter();s=socket.create_connection(('192.0.2.10',7000),3);r.append((time.perf_counter()-t)*1000);s.close()\nprint(' '.join(str(x) for x in r))"]) { RedirectStandardOutput = true };
        using var p = Process.Start(psi)!;
        var output = await p.StandardOutput.ReadToEndAsync();
        await p.WaitForExitAsync();
        return output.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(double.Parse).ToList();
    }

    /// <summary>iperf3 client for 5 s, from the host or inside the sandbox's network namespace; bits per second received.</summary>
    private static double Iperf(int? pid, string server)
    {
        var argv = new List<string>();
        if (pid is { } p) argv.AddRange(["nsenter", "-t", p.ToString(), "-n"]);
        argv.AddRange(["iperf3", "-c", server, "-t", "5", "-J"]);
        var psi = new ProcessStartInfo(argv[0], argv.Skip(1)) { RedirectStandardOutput = true };
        using var proc = Process.Start(psi)!;
        var json = proc.StandardOutput.ReadToEnd();
        proc.WaitForExit();
        using var doc = JsonDocument.Parse(json);
        return doc.RootElement.GetProperty("end").GetProperty("sum_received").GetProperty("bits_per_second").GetDouble();
    }

    private static double P(List<double> xs, int p) { var s = xs.Order().ToList(); return s[Math.Min(s.Count - 1, p * s.Count / 100)]; }
}
