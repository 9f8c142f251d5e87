using Portal.Core.Sandboxes;
using Portal.Web.Dashboard.Model;

namespace Portal.Tests.Web.Dashboard.Model;

public sealed class SandboxListModelTests
{
    private static SandboxRecord Sandbox(string id, string template = "base", string team = "t1", SandboxStatus status = SandboxStatus.Running,
        Dictionary<string, string>? metadata = null, int minute = 0) => new()
    {
        SandboxId = id, TeamId = team, TemplateId = template, ClientId = "c", Status = status,
        CreatedAt = DateTimeOffset.UnixEpoch.AddMinutes(minute), StartedAt = DateTimeOffset.UnixEpoch, EndAt = DateTimeOffset.UnixEpoch.AddHours(1),
        Metadata = metadata ?? new Dictionary<string, string>(),
    };

    private static SandboxChange Change(SandboxRecord s, long version) => new(s, version, SandboxChangeCause.Present);

    [Fact]
    public void OlderVersion_NeverOverwritesANewerOne_AndADeleteRemoves()
    {
        var m = new SandboxListModel();
        Assert.True(m.Apply(Change(Sandbox("a", status: SandboxStatus.Paused), 3)));
        Assert.False(m.Apply(Change(Sandbox("a"), 2)));
        Assert.Equal(SandboxStatus.Paused, m.Find("a")!.Status);
        Assert.True(m.Apply(Change(Sandbox("a", status: SandboxStatus.Killed), 4)));
        Assert.Equal(0, m.Count);
    }

    [Fact]
    public void Filters_Combine_AndTheViewIsNewestFirst()
    {
        var m = new SandboxListModel();
        m.Reset([
            Change(Sandbox("a", metadata: new() { ["env"] = "prod", ["owner"] = "ann" }, minute: 1), 1),
            Change(Sandbox("b", template: "python", metadata: new() { ["env"] = "dev" }, minute: 2), 1),
            Change(Sandbox("c", team: "t2", status: SandboxStatus.Paused, minute: 3), 1),
        ]);
        Assert.Equal(["c", "b", "a"], m.View().Select(s => s.SandboxId));
        m.State = SandboxStatus.Running;
        Assert.Equal(["b", "a"], m.View().Select(s => s.SandboxId));
        m.Metadata = "env=prod";
        Assert.Equal(["a"], m.View().Select(s => s.SandboxId));
        m.Metadata = "env";
        m.Template = "python";
        Assert.Equal(["b"], m.View().Select(s => s.SandboxId));
        m.Template = null; m.Metadata = null; m.State = null;
        m.Search = "ANN";
        Assert.Equal(["a"], m.View().Select(s => s.SandboxId));
        m.Search = null; m.TeamId = "t2";
        Assert.Equal(["c"], m.View().Select(s => s.SandboxId));
        Assert.Equal(["base", "python"], m.Templates);
    }

    [Fact]
    public void TenThousandRows_SearchFindsExactlyTheMatches()
    {
        var m = new SandboxListModel();
        m.Reset(Enumerable.Range(0, 10_000).Select(i => Change(Sandbox("s" + i, metadata: new() { ["n"] = i.ToString() }, minute: i), 1)));
        m.Search = "s99";
        Assert.Equal(111, m.View().Count); // s99, s990-s999, s9900-s9999
    }
}
