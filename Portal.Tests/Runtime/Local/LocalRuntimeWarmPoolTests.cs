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
            WarmPools = new() { ["base"] = 2 },
        };
        var runtime = new LocalSandboxRuntime(options);
        try
        {
            await WaitAsync(() => runtime.WarmCount("base") == 2);
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

    private static async Task WaitAsync(Func<bool> condition)
    {
        for (var i = 0; i < 600 && !condition(); i++) await Task.Delay(100, Ct);
        Assert.True(condition());
    }
}
