using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Portal.Core.Runtime;
using static Portal.Tests.Api.Http;

namespace Portal.Tests.Api;

public class PersistenceTests
{
    [Fact]
    public async Task Restart_KeepsSandboxesKeysAndTeams()
    {
        var dir = PortalHost.NewDataDir();
        var runtime = new FakeSandboxRuntime();
        try
        {
            string running, paused, teamKey;
            await using (var first = await PortalHost.StartAsync(runtime, dir, keepDataDir: true))
            {
                running = (string)(await first.Admin.CreateSandboxAsync("""{"templateID":"base","metadata":{"k":"v"}}"""))["sandboxID"]!;
                paused = (string)(await first.Admin.CreateSandboxAsync())["sandboxID"]!;
                await first.Admin.PostJsonAsync($"/sandboxes/{paused}/pause");
                var team = (await first.Admin.PostJsonAsync("/teams", """{"name":"t"}""")).Body!;
                teamKey = (string)(await first.Admin.PostJsonAsync("/api-keys", $$"""{"name":"k","teamID":"{{team["teamID"]}}"}""")).Body!["key"]!;
            }

            await using var second = await PortalHost.StartAsync(runtime, dir, keepDataDir: true);
            var list = (await second.Admin.GetJsonAsync("/v2/sandboxes")).Body!.AsArray();
            Assert.Equal(new[] { running, paused }.Order(), list.Select(x => (string)x!["sandboxID"]!).Order());
            Assert.Equal("v", (string)list.Single(x => (string)x!["sandboxID"]! == running)!["metadata"]!["k"]!);
            Assert.Equal("paused", (string)(await second.Admin.GetJsonAsync($"/sandboxes/{paused}")).Body!["state"]!);
            Assert.Equal(200, (await second.Client(teamKey).GetJsonAsync("/v2/sandboxes")).Status);
            Assert.Equal(201, (await second.Admin.PostJsonAsync($"/v2/sandboxes/{paused}/connect")).Status);
            Assert.Equal(204, (await second.Admin.DeleteJsonAsync($"/sandboxes/{running}")).Status);
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public async Task Restart_SandboxGoneFromRuntime_IsMarkedKilled()
    {
        var dir = PortalHost.NewDataDir();
        var runtime = new FakeSandboxRuntime();
        try
        {
            string gone, kept;
            await using (var first = await PortalHost.StartAsync(runtime, dir, keepDataDir: true))
            {
                gone = (string)(await first.Admin.CreateSandboxAsync())["sandboxID"]!;
                kept = (string)(await first.Admin.CreateSandboxAsync())["sandboxID"]!;
            }
            runtime.Vanish(gone);
            await using var second = await PortalHost.StartAsync(runtime, dir, keepDataDir: true);
            Assert.Equal([kept], (await second.Admin.GetJsonAsync("/v2/sandboxes")).Body!.AsArray().Select(x => (string)x!["sandboxID"]!));
            var logs = (await second.Admin.GetJsonAsync($"/v2/sandboxes/{gone}/logs")).Body!["logs"]!.AsArray();
            Assert.Contains(logs, l => ((string)l!["message"]!).Contains("no longer has it"));
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public async Task Database_IsInWalMode_WithMigrationsApplied()
    {
        await using var host = await PortalHost.StartAsync();
        if (Persistence.TestDatabase.IsPostgres)
        {
            await using var pg = new Npgsql.NpgsqlConnection(Persistence.TestDatabase.ConnectionStringFor(host.DataDir));
            await pg.OpenAsync(Ct);
            await using var q = new Npgsql.NpgsqlCommand("SELECT COUNT(*) FROM \"__EFMigrationsHistory\"", pg);
            Assert.True((long)(await q.ExecuteScalarAsync(Ct))! >= 1);
            return; // WAL is SQLite's
        }
        await using var conn = new SqliteConnection($"Data Source={host.DatabasePath}");
        await conn.OpenAsync(Ct);
        await using var cmd = conn.CreateCommand();
        cmd.CommandText = "PRAGMA journal_mode;";
        Assert.Equal("wal", (string)(await cmd.ExecuteScalarAsync(Ct))!);
        cmd.CommandText = "SELECT COUNT(*) FROM __EFMigrationsHistory;";
        Assert.True((long)(await cmd.ExecuteScalarAsync(Ct))! >= 1);
    }

    [Fact]
    public async Task CreatedRecord_IsCommittedBeforeTheResponse()
    {
        await using var host = await PortalHost.StartAsync();
        var id = (string)(await host.Admin.CreateSandboxAsync())["sandboxID"]!;
        // A second store on the same database (another process could do the same) reads it back.
        using var store = Persistence.TestDatabase.Store(host.DataDir);
        Assert.Equal(Portal.Core.Sandboxes.SandboxStatus.Running, (await store.FindSandboxAsync(id, Ct))!.Status);
    }
}

public class OptionsTests
{
    [Theory]
    [InlineData("Portal:DataDir", "relative/dir", "Portal:DataDir")]
    [InlineData("Portal:AdminApiKey", "e2b_short", "Portal:AdminApiKey")]
    [InlineData("Portal:Database", "Database=portal;Username=u", "Portal:Database")]
    [InlineData("Portal:Database", "no-such-keyword=1", "Portal:Database")]
    [InlineData("Portal:MaxApiBodyBytes", "10", "Portal:MaxApiBodyBytes")]
    [InlineData("Portal:Sandboxes:DefaultTimeoutSeconds", "0", "Portal:Sandboxes:DefaultTimeoutSeconds")]
    [InlineData("Portal:Sandboxes:MaxTimeoutSeconds", "0", "Portal:Sandboxes:MaxTimeoutSeconds")]
    [InlineData("Portal:Sandboxes:DeadlineCheckInterval", "00:00:00", "Portal:Sandboxes:DeadlineCheckInterval")]
    [InlineData("Portal:Sandboxes:RuntimeCallTimeout", "00:00:00", "Portal:Sandboxes:RuntimeCallTimeout")]
    [InlineData("Portal:Proxy:ActivityTimeout", "-00:00:01", "Portal:Proxy:ActivityTimeout")]
    [InlineData("Portal:Transport", "uring", "Portal:Transport")]
    public async Task BadConfiguration_FailsAtStartup_NamingTheKey(string key, string value, string named)
    {
        var e = await Assert.ThrowsAnyAsync<Exception>(() => PortalHost.StartAsync(config: new Dictionary<string, string?> { [key] = value }));
        var all = e is OptionsValidationException ov ? string.Join("\n", ov.Failures) : e.ToString();
        Assert.Contains(named, all);
    }

    [Theory]
    [InlineData("TmpSizePercent", "0", "Portal:LocalRuntime:TmpSizePercent must be 1-90")]
    [InlineData("ShmSizePercent", "91", "Portal:LocalRuntime:ShmSizePercent must be 1-90")]
    [InlineData("TmpSizePercent", "70", "Portal:LocalRuntime:TmpSizePercent + Portal:LocalRuntime:ShmSizePercent must be at most 90")]
    [InlineData("Network:AddressPool", "10.0.0.0/30", "Portal:LocalRuntime:Network:AddressPool must be an IPv4 CIDR from /8 to /29")]
    [InlineData("Network:AddressPool", "fd00::/64", "Portal:LocalRuntime:Network:AddressPool must be an IPv4 CIDR")]
    [InlineData("Network:Uplink", "nosuchif0", "Portal:LocalRuntime:Network:Uplink must name an interface of this host")]
    [InlineData("Network:OpenRanges:0", "169.254.0.0/16", "Portal:LocalRuntime:Network:OpenRanges must hold IPv4 addresses or CIDRs outside")]
    [InlineData("Network:DnsServers:0", "resolver.example", "Portal:LocalRuntime:Network:DnsServers must hold IPv4 addresses")]
    [InlineData("Network:TableName", "bad-name;flush ruleset", "Portal:LocalRuntime:Network:TableName must be at most 64 letters")]
    public async Task BadLocalRuntimeLimits_FailAtStartup_NamingTheKey(string key, string value, string message)
    {
        var dir = PortalHost.NewDataDir();
        try
        {
            var e = await Assert.ThrowsAnyAsync<Exception>(async () =>
            {
                var app = Portal.Web.Hosting.PortalWebApplication.Build(["--urls", "http://127.0.0.1:0", "--Portal:DataDir", dir, $"--Portal:LocalRuntime:{key}", value]);
                await using var _ = app;
                await app.StartAsync(Ct);
            });
            var all = e is OptionsValidationException ov ? string.Join("\n", ov.Failures) : e.ToString();
            Assert.Contains(message, all);
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public async Task MissingRuntime_FailsAtStartup_NamingTheKey()
    {
        var dir = PortalHost.NewDataDir();
        try
        {
            var e = await Assert.ThrowsAnyAsync<Exception>(async () =>
            {
                var app = Portal.Web.Hosting.PortalWebApplication.Build(["--urls", "http://127.0.0.1:0", "--Portal:DataDir", dir, "--Portal:Runtime", "nonesuch"]);
                await using var _ = app;
                await app.StartAsync(Ct);
            });
            Assert.Contains("Portal:Runtime", e.ToString());
        }
        finally { Directory.Delete(dir, true); }
    }
}
