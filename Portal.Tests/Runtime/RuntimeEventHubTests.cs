using Portal.Core.Runtime;

namespace Portal.Tests.Runtime;

/// <summary>
/// The runtimes' watch fan-out: a watcher that subscribes while a create is under way (the
/// sandbox already in the runtime's list, its Created event not yet published) sees it once.
/// </summary>
public sealed class RuntimeEventHubTests
{
    private static SandboxInstance Instance(string id) => new()
    {
        SandboxId = id, TemplateId = "base", State = SandboxState.Running, StartedAt = DateTimeOffset.UnixEpoch,
        CpuCount = 1, MemoryMB = 512, DiskSizeMB = 1024, EnvdVersion = "0.0.0",
    };

    [Fact]
    public async Task AWatcherJoiningMidCreate_SeesTheSandboxOnce_ALaterOneFromTheSnapshot()
    {
        var hub = new RuntimeEventHub(TimeProvider.System);
        var listed = new List<SandboxInstance> { Instance("old") };
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);

        hub.BeginCreate("new");
        listed.Add(Instance("new")); // the runtime lists it before its create returns
        var during = hub.WatchAsync(() => listed, stop.Token).GetAsyncEnumerator(stop.Token);
        Assert.True(await during.MoveNextAsync());
        Assert.Equal(("old", SandboxEventKind.Created), (during.Current.Sandbox.SandboxId, during.Current.Kind));

        hub.Publish(SandboxEventKind.Created, Instance("new"));
        hub.EndCreate("new");
        Assert.True(await during.MoveNextAsync());
        Assert.Equal(("new", SandboxEventKind.Created), (during.Current.Sandbox.SandboxId, during.Current.Kind));

        var after = hub.WatchAsync(() => listed, stop.Token).GetAsyncEnumerator(stop.Token);
        var seen = new List<string>();
        for (var i = 0; i < 2 && await after.MoveNextAsync(); i++) seen.Add(after.Current.Sandbox.SandboxId);
        Assert.Equal(["old", "new"], seen);

        // Nothing more was queued for the first watcher: the next event is the next publish.
        hub.Publish(SandboxEventKind.Killed, Instance("old"));
        Assert.True(await during.MoveNextAsync());
        Assert.Equal(SandboxEventKind.Killed, during.Current.Kind);
        await stop.CancelAsync();
    }

    [Fact]
    public async Task AFailedCreate_IsNoLongerHeldBack()
    {
        var hub = new RuntimeEventHub(TimeProvider.System);
        hub.BeginCreate("x");
        hub.EndCreate("x");
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        var watcher = hub.WatchAsync(() => [Instance("x")], stop.Token).GetAsyncEnumerator(stop.Token);
        Assert.True(await watcher.MoveNextAsync());
        Assert.Equal("x", watcher.Current.Sandbox.SandboxId);
        await stop.CancelAsync();
    }
}
