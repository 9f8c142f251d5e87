using Portal.Core.Sandboxes;
using Portal.Web.Dashboard.Model;

namespace Portal.Tests.Web.Dashboard.Model;

public sealed class LiveSandboxFeedTests
{
    private static SandboxRecord Sandbox(string id, SandboxStatus status = SandboxStatus.Running) => new()
    {
        SandboxId = id, TeamId = "t1", TemplateId = "base", ClientId = "c", Status = status,
        CreatedAt = DateTimeOffset.UnixEpoch, StartedAt = DateTimeOffset.UnixEpoch, EndAt = DateTimeOffset.UnixEpoch.AddHours(1),
    };

    [Fact]
    public async Task PageThatFallsBehind_ResubscribesAndShowsTheFreshSnapshot()
    {
        var stream = new SandboxChangeStream();
        var model = new SandboxListModel();
        var renderer = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var renders = 0;
        // The page's renderer is stuck (a slow circuit) while more changes come than its buffer holds.
        Task Invoke(Func<Task> work) => renderer.Task.ContinueWith(_ => work()).Unwrap();
        using var feed = LiveSandboxFeed.Start(stream, _ => true, model, Invoke, () => renders++, live: true);
        for (var i = 0; i < SandboxChangeStream.DefaultCapacity + 100; i++) stream.Publish(Sandbox("s" + i), SandboxChangeCause.Created);
        stream.Publish(Sandbox("s0", SandboxStatus.Killed), SandboxChangeCause.Killed);
        renderer.SetResult();

        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (feed.Resyncs == 0 && DateTime.UtcNow < deadline) await Task.Delay(20, TestContext.Current.CancellationToken);
        Assert.Equal(1, feed.Resyncs);
        Assert.Equal(SandboxChangeStream.DefaultCapacity + 99, model.Count); // every live one, the killed one gone
        Assert.Null(model.Find("s0"));
        Assert.True(renders > 0);
        Assert.Equal(1, stream.SubscriberCount);
    }

    [Fact]
    public void Prerendering_TakesTheSnapshotOnly()
    {
        var stream = new SandboxChangeStream();
        stream.Publish(Sandbox("a"), SandboxChangeCause.Created);
        var model = new SandboxListModel();
        using var feed = LiveSandboxFeed.Start(stream, _ => true, model, w => w(), () => { }, live: false);
        Assert.Equal(1, model.Count);
        Assert.Equal(0, stream.SubscriberCount);
    }
}
