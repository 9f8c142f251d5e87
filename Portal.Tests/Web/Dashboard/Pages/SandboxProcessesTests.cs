using Bunit;
using Microsoft.Extensions.DependencyInjection;
using Portal.Core.Runtime;
using Portal.Tests.Api;
using Portal.Web.Dashboard.Components.Shared;
using Portal.Web.Dashboard.Terminal;

namespace Portal.Tests.Web.Dashboard.Pages;

public sealed class SandboxProcessesTests
{
    [Fact]
    public async Task ListsAShellStartedThroughEnvd_WithItsPid()
    {
        await using var t = await DashboardPageContext.StartAsync(runtime: new FakeSandboxRuntime { RealEnvd = true });
        t.SignInAs(t.Admin);
        var id = (string)(await t.Host.Admin.CreateSandboxAsync())["sandboxID"]!;
        var sandbox = await t.Sandboxes.GetAsync(t.Admin, id, CancellationToken.None);
        // A shell as the terminal starts it: a real process under the sandbox's envd.
        await using var shell = await EnvdPty.OpenAsync(t.Host.Services.GetRequiredService<ISandboxRuntime>(), sandbox, null, 80, 24,
            _ => Task.CompletedTask, _ => Task.CompletedTask, CancellationToken.None);

        var list = t.Bunit.Render<SandboxProcesses>(p => p.Add(x => x.Sandbox, sandbox));
        list.WaitForAssertion(() => Assert.Contains(list.FindAll("[data-testid=process-pid]"), e => e.TextContent.Trim() == shell.Pid.ToString()), TimeSpan.FromSeconds(10));
        Assert.Contains("/bin/bash -i -l", list.Find("[data-testid=process-table]").TextContent);
    }

    [Fact]
    public async Task WithoutEnvd_SaysItCouldNotList()
    {
        await using var t = await DashboardPageContext.StartAsync();
        t.SignInAs(t.Admin);
        var id = (string)(await t.Host.Admin.CreateSandboxAsync())["sandboxID"]!;
        var sandbox = await t.Sandboxes.GetAsync(t.Admin, id, CancellationToken.None);
        var list = t.Bunit.Render<SandboxProcesses>(p => p.Add(x => x.Sandbox, sandbox));
        list.WaitForAssertion(() => Assert.NotNull(list.Find("[data-testid=processes-error]")), TimeSpan.FromSeconds(10));
    }
}
