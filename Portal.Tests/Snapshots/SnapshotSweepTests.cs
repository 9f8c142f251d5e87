using Microsoft.Extensions.DependencyInjection;
using Portal.Core.Persistence;
using Portal.Core.Snapshots;
using Portal.Tests.Api;
using static Portal.Tests.Api.Http;

namespace Portal.Tests.Snapshots;

/// <summary>Removal is two-step: gone for callers at once, the runtime's template once nothing stands on it.</summary>
public class SnapshotSweepTests
{
    [Fact]
    public async Task DeletedSnapshotUnderAnother_KeepsItsTemplateUntilTheOtherGoes()
    {
        await using var host = await PortalHost.StartAsync();
        var sbx = (string)(await host.Admin.CreateSandboxAsync())["sandboxID"]!;
        var a = (string)(await host.Admin.PostJsonAsync($"/sandboxes/{sbx}/snapshots", "{}")).Body!["snapshotID"]!;
        var fromA = (string)(await host.Admin.CreateSandboxAsync($$"""{"templateID":"{{a}}"}"""))["sandboxID"]!;
        var b = (string)(await host.Admin.PostJsonAsync($"/sandboxes/{fromA}/snapshots", "{}")).Body!["snapshotID"]!;
        var rawA = a.Split(':')[0];
        var rawB = b.Split(':')[0];
        Assert.Equal(rawA, (await host.Runtime.Templates.FindAsync(rawB, Ct))!.ParentTemplateId);

        Assert.Equal(204, (await host.Admin.DeleteJsonAsync($"/templates/{a}")).Status);
        Assert.Contains(rawA, host.Runtime.MadeTemplates); // b stands on it
        AssertError(await host.Admin.PostJsonAsync("/v2/sandboxes", $$"""{"templateID":"{{a}}"}"""), 400, "not found");
        await host.Admin.CreateSandboxAsync($$"""{"templateID":"{{b}}"}""");

        Assert.Equal(204, (await host.Admin.DeleteJsonAsync($"/templates/{b}")).Status);
        Assert.Empty(host.Runtime.MadeTemplates);
        var store = host.Services.GetRequiredService<IPortalStore>();
        Assert.Null(await store.FindSnapshotAsync(rawA, Ct));
        Assert.Null(await store.FindSnapshotAsync(rawB, Ct));
    }

    [Fact]
    public async Task Tidy_RemovesForkCopiesNoSandboxRunsOn()
    {
        await using var host = await PortalHost.StartAsync();
        var sbx = (string)(await host.Admin.CreateSandboxAsync())["sandboxID"]!;
        var store = host.Services.GetRequiredService<IPortalStore>();
        var team = (string)(await host.Admin.GetJsonAsync("/teams")).Body!.AsArray().Single(t => (bool)t!["isAdmin"]!)!["teamID"]!;
        // Two copies a fork cut short left (a restart between the copy and its forks): one has a sandbox on it.
        foreach (var id in new[] { "leftcopy1", "usedcopy1" })
        {
            await host.Runtime.SnapshotAsync(sbx, id, Ct);
            await store.AddSnapshotAsync(new SnapshotRecord
            {
                SnapshotId = id, TeamId = team, SourceSandboxId = sbx, ParentTemplateId = "base", Listed = false, CreatedAt = DateTimeOffset.UtcNow,
            }, Ct);
        }
        await host.Runtime.CreateAsync(new Portal.Core.Runtime.SandboxSpec { SandboxId = "onusedcopy1", TemplateId = "usedcopy1" }, Ct);

        Assert.Equal(1, await host.Services.GetRequiredService<SnapshotService>().TidyAsync(Ct));
        Assert.Equal(["usedcopy1"], host.Runtime.MadeTemplates);
        Assert.Null(await store.FindSnapshotAsync("leftcopy1", Ct));
        Assert.Null((await store.FindSnapshotAsync("usedcopy1", Ct))!.RemovedAt);
    }
}
