using Portal.Core.Sandboxes;
using Portal.Web.Dashboard.Model;

namespace Portal.Tests.Web.Dashboard.Model;

public sealed class CreatesPerMinuteTests
{
    private static SandboxLifecycleEvent At(DateTimeOffset at) =>
        new("e", SandboxEvents.Created, "team", $$"""{"type":"{{SandboxEvents.Created}}","timestamp":"{{at:O}}"}""");

    [Fact]
    public void CountsPerMinute_OldestFirst_AndLeavesOutWhatIsOutsideTheWindow()
    {
        var now = new DateTimeOffset(2026, 1, 1, 12, 30, 20, TimeSpan.Zero);
        var counts = CreatesPerMinute.Count(
        [
            At(now), At(now.AddSeconds(-15)),  // this minute (12:30)
            At(now.AddMinutes(-1)),            // 12:29
            At(now.AddMinutes(-4)),            // 12:26, the window's first minute
            At(now.AddMinutes(-5)),            // before the window
            At(now.AddMinutes(2)),             // a clock ahead: not charted
            new("x", SandboxEvents.Created, "team", """{"type":"x"}"""), // no timestamp
        ], now, 5);
        Assert.Equal([1, 0, 0, 1, 2], counts);
    }

    [Fact]
    public void Labels_NameEveryTenthMinute_EndingNow()
    {
        var now = new DateTimeOffset(2026, 1, 1, 12, 30, 0, TimeSpan.Zero);
        var labels = CreatesPerMinute.Labels(now, 30);
        Assert.Equal(30, labels.Length);
        Assert.Equal("12:30", labels[^1]);
        Assert.Equal("12:20", labels[^11]);
        Assert.Equal("", labels[^2]);
    }
}
