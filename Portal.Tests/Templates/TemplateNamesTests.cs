using Portal.Core;
using Portal.Core.Templates;

namespace Portal.Tests.Templates;

public class TemplateNamesTests
{
    [Theory]
    [InlineData("app", "app", null)]
    [InlineData("My-App", "my-app", null)]
    [InlineData("app:v1.2", "app", "v1.2")]
    [InlineData("app:default", "app", null)]
    [InlineData("team_x/app_1:prod", "team_x/app_1", "prod")]
    public void ValidNames_AreLowerCasedAndSplit(string raw, string name, string? tag)
    {
        var n = TemplateNames.Parse(raw);
        Assert.Equal(name, n.Name);
        Assert.Equal(tag, n.Tag);
    }

    [Theory]
    [InlineData("", "Name is required")]
    [InlineData("a b", "Invalid name")]
    [InlineData("a/b/c", "Invalid name")]
    [InlineData("../etc", "Invalid name")]
    [InlineData("app:", "Invalid tag")]
    [InlineData("app:x y", "Invalid tag")]
    [InlineData("app:123e4567-e89b-12d3-a456-426614174000", "Invalid tag")]
    public void InvalidNames_AreRefusedWithE2bsWording(string raw, string message)
    {
        var e = Assert.Throws<DomainException>(() => TemplateNames.Parse(raw));
        Assert.StartsWith(message, e.Message);
    }

    [Fact]
    public void OverlongNames_AreRefused() => Assert.Throws<DomainException>(() => TemplateNames.Parse(new string('a', 200)));
}
