using Portal.Core.Runtime;

namespace Portal.Tests.Runtime.Local;

/// <summary>
/// The base template is like E2B's own (python + build tools, node and npm, git, curl): what an
/// E2B user's first commands expect works, as user and as root. No network is needed: pip
/// installs a package the test writes.
/// </summary>
[Collection(nameof(LocalRuntimeCollection))]
public sealed class LocalRuntimeBaseTemplateTests(LocalRuntimeFixture fx)
{
    [Fact]
    public async Task Base_HasPythonPipNodeNpmGitCurlAndACompiler()
    {
        var sbx = await fx.CreateAsync();
        var (exit, stdout, stderr) = await fx.RunAsync(sbx.SandboxId, string.Join(" && ",
            "python -c 'import sys; print(sys.version_info[0])'",
            "pip --version | cut -d' ' -f1",
            "node -e 'console.log(6*7)'",
            "npm --version >/dev/null && echo npm",
            "git --version | cut -d' ' -f1-2",
            "curl --version | head -1 | cut -d' ' -f1",
            "printf '#include <stdio.h>\\nint main(void){puts(\"compiled\");return 0;}\\n' > /tmp/h.c && gcc -o /tmp/h /tmp/h.c && /tmp/h",
            "make --version | head -1 | cut -d' ' -f1-2"));
        Assert.True(exit == 0, stderr);
        Assert.Equal("3\npip\n42\nnpm\ngit version\ncurl\ncompiled\nGNU Make\n", stdout);
    }

    [Theory]
    [InlineData("user", "/home/user/.local/lib/python3.11/site-packages/")]
    [InlineData("root", "/usr/local/lib/python3.11/dist-packages/")]
    public async Task PipInstall_WorksAsUserAndAsRoot_DespiteDebiansExternallyManagedMarker(string user, string where)
    {
        var sbx = await fx.CreateAsync();
        var (exit, stdout, stderr) = await fx.RunAsync(sbx.SandboxId, string.Join(" && ",
            "d=$(mktemp -d) && mkdir -p $d/hello_portal",
            "echo 'GREETING = \"hi\"' > $d/hello_portal/__init__.py",
            "printf 'from setuptools import setup\\nsetup(name=\"hello-portal\", version=\"1.0\", packages=[\"hello_portal\"])\\n' > $d/setup.py",
            "cd $d && pip install -q --no-index --no-build-isolation . 2>&1 | grep -v -i 'warning' || true",
            "cd / && python -c 'import hello_portal; print(hello_portal.GREETING, hello_portal.__file__)'"), user: user);
        Assert.True(exit == 0, stderr + stdout);
        Assert.StartsWith("hi " + where, stdout.Trim().Split('\n')[^1]);
    }
}
