using Portal.Core;
using Portal.Core.Auth;
using Portal.Core.Snapshots;

namespace Portal.Tests.Snapshots;

public class SnapshotNamesTests
{
    [Theory]
    [InlineData("my-snap", null, "my-snap", null)]
    [InlineData(" My_Snap ", null, "my_snap", null)]
    [InlineData("team/my-snap:V1.2", "team", "my-snap", "v1.2")]
    [InlineData("abc123:default", null, "abc123", "default")]
    public void Parse_AsE2bNormalisesNames(string input, string? ns, string alias, string? tag)
    {
        var p = SnapshotNames.Parse(input);
        Assert.Equal((ns, alias, tag), (p.Namespace, p.Alias, p.Tag));
        Assert.Equal(tag ?? "default", p.EffectiveTag);
    }

    [Theory]
    [InlineData("")]
    [InlineData("a b")]
    [InlineData("a/b/c")]
    [InlineData("x:")]
    [InlineData("x:6f9619ff-8b86-d011-b42d-00cf4fc964ff")]
    [InlineData("../etc")]
    public void Parse_RefusesWhatE2bRefuses(string input) =>
        Assert.Equal(DomainErrorKind.InvalidArgument, Assert.Throws<DomainException>(() => SnapshotNames.Parse(input)).Kind);

    [Theory]
    [InlineData("Alpha Team", "alpha-team")]
    [InlineData("  ünïcode!! team ", "n-code-team")]
    [InlineData("***", "team-t1")]
    public void SlugOf_TeamName(string name, string slug) =>
        Assert.Equal(slug, SnapshotNames.SlugOf(new Team { TeamId = "t1", Name = name, CreatedAt = DateTimeOffset.UnixEpoch }));
}
