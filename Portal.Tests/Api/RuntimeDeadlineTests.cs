using static Portal.Tests.Api.Http;

namespace Portal.Tests.Api;

/// <summary>A hung runtime call ends in 504 and never holds a sandbox's lock (Portal:Sandboxes:RuntimeCallTimeout).</summary>
public class RuntimeDeadlineTests
{
    private static Task<PortalHost> StartAsync() =>
        PortalHost.StartAsync(config: new Dictionary<string, string?> { ["Portal:Sandboxes:RuntimeCallTimeout"] = "00:00:01" });

    [Fact]
    public async Task AHungPause_Is504_AndTheSandboxCanStillBeKilled()
    {
        await using var host = await StartAsync();
        var id = (string)(await host.Admin.CreateSandboxAsync())["sandboxID"]!;
        host.Runtime.Hang = new TaskCompletionSource();
        AssertError(await host.Admin.PostJsonAsync($"/sandboxes/{id}/pause"), 504, "RuntimeCallTimeout");
        // The lock was released: the next operation on the same sandbox goes through.
        Assert.Equal(204, (await host.Admin.DeleteJsonAsync($"/sandboxes/{id}")).Status);
        Assert.False(host.Runtime.Exists(id));
        host.Runtime.Hang.SetResult();
    }

    [Fact]
    public async Task AHungCreate_Is504_AndWhatItLeavesLaterIsRemoved()
    {
        await using var host = await StartAsync();
        host.Runtime.Hang = new TaskCompletionSource();
        AssertError(await host.Admin.PostJsonAsync("/v2/sandboxes", """{"templateID":"base"}"""), 504, "starting it");
        var (_, list) = await host.Admin.GetJsonAsync("/v2/sandboxes");
        Assert.Empty(list!.AsArray());
        // The runtime finishes the create after the portal gave up: the sandbox is killed, not leaked.
        host.Runtime.Hang.SetResult();
        await SandboxesApiTests.WaitUntil(() => host.Runtime.Count == 0, TimeSpan.FromSeconds(5));
        Assert.Equal(0, host.Runtime.Count);
    }
}
