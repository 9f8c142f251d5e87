using Portal.Core.Runtime;
using Portal.Core.Runtime.Local;

namespace Portal.Tests.Runtime.Local;

[Collection(nameof(LocalRuntimeCollection))]
public sealed class LocalRuntimeWarmPoolTests(LocalRuntimeFixture fx)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Create_ClaimsAWarmSandbox_UnderTheCallersId_AndThePoolRefills()
    {
        var data = Path.Combine("/var/tmp", $"portal-warm-tests-{Guid.NewGuid():N}"[..30]);
        var options = new LocalRuntimeOptions
        {
            SandboxesDirectory = Path.Combine(data, "sandboxes"),
            TemplatesDirectory = fx.Options.TemplatesDirectory,
            EnvdPath = fx.Options.EnvdPath,
            CgroupGroup = "portal-warm-" + Path.GetFileName(data)[^6..],
            Network = { Uplink = "none" },
            WarmPools = LocalRuntimeFixture.NoCodeInterpreterPool(new() { ["base"] = 2 }),
        };
        var runtime = new LocalSandboxRuntime(options);
        try
        {
            await WaitAsync(() => runtime.WarmCount("base") == 2);
            Assert.Equal([new WarmPoolFill("base", 2, 2)], await runtime.GetWarmPoolsAsync(Ct)); // the overview's figure
            Assert.Empty(await runtime.ListAsync(Ct)); // warm sandboxes are not anybody's yet
            var warmDirs = Directory.GetDirectories(options.SandboxesDirectory).Select(Path.GetFileName).ToList();

            var id = LocalRuntimeFixture.NewId();
            var sbx = await runtime.CreateAsync(new SandboxSpec
            {
                SandboxId = id, TemplateId = "base", MemoryMB = 300, EnvdAccessToken = "claim-token",
                EnvVars = new Dictionary<string, string> { ["FROM_CREATE"] = "yes" },
            }, Ct);
            Assert.Equal(id, sbx.SandboxId);
            Assert.Equal(300, sbx.MemoryMB);
            Assert.DoesNotContain(id, warmDirs); // it was renamed from a warm one...
            Assert.True(runtime.WarmCount("base") <= 2);

            using var http = new HttpClient(new SocketsHttpHandler { ConnectCallback = async (_, ct) => await runtime.ConnectAsync(id, SandboxPorts.Envd, ct) }) { BaseAddress = new Uri("http://envd") };
            Assert.Equal(System.Net.HttpStatusCode.Unauthorized, (await http.GetAsync("/envs", Ct)).StatusCode); // the token from create is in force
            var (exit, stdout, _) = await fx.RunAsync(id, "hostname; echo $FROM_CREATE", runtime: runtime, token: "claim-token");
            Assert.Equal(0, exit);
            Assert.Equal($"{id}\nyes\n", stdout);
            var metrics = await runtime.GetMetricsAsync(id, Ct);
            Assert.Equal(300L * 1024 * 1024, metrics!.MemTotal);

            await WaitAsync(() => runtime.WarmCount("base") == 2);
            Assert.True(await runtime.KillAsync(id, Ct));

            // Shutting down takes the warm sandboxes along: nobody owns them, and a restart
            // would kill them anyway (left running, they would hold whatever they inherited).
            runtime.Dispose();
            Assert.Empty(Directory.GetDirectories(options.SandboxesDirectory));
        }
        finally
        {
            runtime.DrainWarmPools();
            foreach (var s in await runtime.ListAsync(CancellationToken.None)) await runtime.KillAsync(s.SandboxId, CancellationToken.None);
            runtime.Dispose();
            Assert.Empty(Directory.GetDirectories(options.SandboxesDirectory));
            Directory.Delete(data, true);
        }
    }

    [Fact]
    public async Task Pool_RefillsInParallel_UpToItsSize_NeverOver_AndClaimsStayIsolated()
    {
        const int size = 4;
        var data = Path.Combine("/var/tmp", $"portal-warm-tests-{Guid.NewGuid():N}"[..30]);
        var options = new LocalRuntimeOptions
        {
            SandboxesDirectory = Path.Combine(data, "sandboxes"),
            TemplatesDirectory = fx.Options.TemplatesDirectory,
            EnvdPath = fx.Options.EnvdPath,
            CgroupGroup = "portal-warm-" + Path.GetFileName(data)[^6..],
            Network = { Uplink = "none" },
            WarmPools = LocalRuntimeFixture.NoCodeInterpreterPool(new() { ["base"] = size }),
        };
        var runtime = new LocalSandboxRuntime(options);
        var maxStarting = 0;
        var maxWarm = 0;
        var claiming = false; // a claim dequeues before it renames: not a start
        using var sampling = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        // Every millisecond: warm directories (ready or starting) and how many of them are still starting.
        var sampler = Task.Run(async () =>
        {
            while (!sampling.IsCancellationRequested)
            {
                var warm = Directory.Exists(options.SandboxesDirectory)
                    ? Directory.GetDirectories(options.SandboxesDirectory, "warm*").Length : 0;
                maxWarm = Math.Max(maxWarm, warm);
                if (!Volatile.Read(ref claiming)) maxStarting = Math.Max(maxStarting, warm - runtime.WarmCount("base"));
                try { await Task.Delay(1, sampling.Token); } catch (OperationCanceledException) { }
            }
        }, Ct);
        var ids = new List<string>();
        try
        {
            await WaitAsync(() => runtime.WarmCount("base") == size);
            // Three claims at once: each gets a different warm sandbox, renamed, with its own token and env.
            var specs = Enumerable.Range(0, 3).Select(i => new SandboxSpec
            {
                SandboxId = LocalRuntimeFixture.NewId(), TemplateId = "base", EnvdAccessToken = $"token-{i}",
                EnvVars = new Dictionary<string, string> { ["WHO"] = $"caller-{i}" },
            }).ToList();
            ids.AddRange(specs.Select(s => s.SandboxId));
            Volatile.Write(ref claiming, true);
            await Task.WhenAll(specs.Select(s => runtime.CreateAsync(s, Ct)));
            Volatile.Write(ref claiming, false);
            for (var i = 0; i < specs.Count; i++)
            {
                var (exit, stdout, _) = await fx.RunAsync(specs[i].SandboxId, "hostname; echo $WHO", runtime: runtime, token: $"token-{i}");
                Assert.Equal(0, exit);
                Assert.Equal($"{specs[i].SandboxId}\ncaller-{i}\n", stdout);
                using var http = fx.Envd(specs[i].SandboxId, runtime, token: $"token-{(i + 1) % specs.Count}");
                Assert.Equal(System.Net.HttpStatusCode.Unauthorized, (await http.GetAsync("/envs", Ct)).StatusCode); // another's token is refused
            }
            await WaitAsync(() => runtime.WarmCount("base") == size);
            await Task.Delay(500, Ct); // a refill that over-shoots would start more now
            sampling.Cancel();
            await sampler;

            Assert.True(maxStarting >= Math.Min(2, Environment.ProcessorCount), $"the pool filled one sandbox at a time (at most {maxStarting} starting at once)");
            Assert.True(maxStarting <= Math.Max(1, Environment.ProcessorCount), $"{maxStarting} started at once on {Environment.ProcessorCount} cores");
            Assert.True(maxWarm <= size, $"{maxWarm} warm sandboxes for a pool of {size}");
            Assert.Equal(size, Directory.GetDirectories(options.SandboxesDirectory, "warm*").Length);
        }
        finally
        {
            sampling.Cancel();
            runtime.DrainWarmPools();
            foreach (var id in ids) await runtime.KillAsync(id, CancellationToken.None);
            runtime.Dispose();
            Assert.Empty(Directory.GetDirectories(options.SandboxesDirectory));
            Directory.Delete(data, true);
        }
    }

    [Fact]
    public async Task StartCommand_IsReadyBeforeAWarmOrColdSandboxIsHandedOut_AndRestartedWhenKilled()
    {
        var data = Path.Combine("/var/tmp", $"portal-warm-tests-{Guid.NewGuid():N}"[..30]);
        var templates = Path.Combine(data, "templates");
        Directory.CreateDirectory(Path.Combine(templates, "started"));
        File.CreateSymbolicLink(Path.Combine(templates, "started", "rootfs"), Path.Combine(fx.Options.TemplatesDirectory, "base", "rootfs"));
        // Ready one second after each start; every start is counted in /tmp/starts.
        File.WriteAllText(Path.Combine(templates, "started", "template.json"), """
            { "templateId": "started", "cpuCount": 1, "memoryMB": 256, "diskSizeMB": 512, "warmPoolSize": 1,
              "startCommand": "echo x >> /tmp/starts; rm -f /tmp/up; sleep 1; touch /tmp/up; exec sleep 1000",
              "readyCommand": "test -f /tmp/up" }
            """);
        var options = new LocalRuntimeOptions
        {
            SandboxesDirectory = Path.Combine(data, "sandboxes"),
            TemplatesDirectory = templates,
            EnvdPath = fx.Options.EnvdPath,
            CgroupGroup = "portal-warm-" + Path.GetFileName(data)[^6..],
        };
        var runtime = new LocalSandboxRuntime(options);
        try
        {
            await WaitAsync(() => runtime.WarmCount("started") == 1);
            var warm = LocalRuntimeFixture.NewId();
            await runtime.CreateAsync(new SandboxSpec { SandboxId = warm, TemplateId = "started" }, Ct);
            // No wait after the create: the start command was ready when the sandbox was handed out.
            var (_, stdout, _) = await fx.RunAsync(warm, "test -f /tmp/up && echo ready; wc -l < /tmp/starts", runtime: runtime);
            Assert.Equal("ready\n1\n", stdout);

            runtime.DrainWarmPools(); // the next create starts cold
            var cold = LocalRuntimeFixture.NewId();
            await runtime.CreateAsync(new SandboxSpec { SandboxId = cold, TemplateId = "started" }, Ct);
            (_, stdout, _) = await fx.RunAsync(cold, "test -f /tmp/up && echo ready", runtime: runtime);
            Assert.Equal("ready\n", stdout);

            // kill -9 as root: envd starts it again.
            await fx.RunAsync(cold, "kill -9 $(pgrep -x sleep)", user: "root", runtime: runtime);
            string starts = "";
            for (var i = 0; i < 100 && starts != "2\n"; i++)
            {
                await Task.Delay(100, Ct);
                (_, starts, _) = await fx.RunAsync(cold, "wc -l < /tmp/starts", runtime: runtime);
            }
            Assert.Equal("2\n", starts);
        }
        finally
        {
            runtime.DrainWarmPools();
            foreach (var s in await runtime.ListAsync(CancellationToken.None)) await runtime.KillAsync(s.SandboxId, CancellationToken.None);
            runtime.Dispose();
            Directory.Delete(data, true);
        }
    }

    private static async Task WaitAsync(Func<bool> condition)
    {
        for (var i = 0; i < 600 && !condition(); i++) await Task.Delay(100, Ct);
        Assert.True(condition());
    }
}
