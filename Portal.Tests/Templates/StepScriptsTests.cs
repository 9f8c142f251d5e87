using Portal.Core.Templates;

namespace Portal.Tests.Templates;

public class StepScriptsTests
{
    [Theory]
    [InlineData("$A-x", "1-x")]
    [InlineData("${A}x", "1x")]
    [InlineData("\\$A", "$A")]
    [InlineData("$MISSING.", ".")]
    [InlineData("$HOME/bin:$PATH", "/home/user/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")]
    [InlineData("no refs", "no refs")]
    public void EnvValues_ExpandEarlierVariables(string value, string expected) =>
        Assert.Equal(expected, StepScripts.Expand(value, new Dictionary<string, string> { ["A"] = "1" }, "user"));

    [Fact]
    public void StartCommands_RunAsTheTemplatesUserInItsDirectoryWithItsVariables()
    {
        var s = StepScripts.AsTemplateUser("echo 'hi'", new BuildState { User = "app", Workdir = "/srv", Env = new Dictionary<string, string> { ["K"] = "it's" } });
        Assert.Contains("export K='it'\\''s';", s);
        Assert.Contains("cd '/srv'", s);
        Assert.EndsWith("exec runuser -p -u 'app' -- /bin/bash -c 'echo '\\''hi'\\'''", s);
        Assert.EndsWith("exec /bin/bash -c 'x'", StepScripts.AsTemplateUser("x", new BuildState { User = "root" }));
    }
}
