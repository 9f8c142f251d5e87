using Bunit;
using Portal.Core.Runtime;
using Portal.Tests.Api;
using Portal.Web.Dashboard.Components.Pages;
using Portal.Web.Tls;

namespace Portal.Tests.Web.Dashboard.Pages;

public sealed class ConfigurationPageTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("portal-config-page-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task WithoutDomainOrCertificate_OnlyHeaderRoutingWorks_AndItsSettingsNameThisUrl()
    {
        var runtime = new FakeSandboxRuntime();
        runtime.WarmPools.Add(new WarmPoolFill("base", 1, 2));
        await using var t = await DashboardPageContext.StartAsync(runtime: runtime);
        t.SignInAs(t.Admin);
        var page = t.Bunit.Render<Configuration>();

        page.WaitForAssertion(() => Assert.Equal(3, page.FindAll("[data-testid=way-in]").Count));
        Assert.Equal("not set", page.Find("[data-testid=domain]").TextContent);
        Assert.Equal("fake", page.Find("[data-testid=runtime]").TextContent);
        Assert.Contains("None", page.Find("[data-testid=certificate]").TextContent);
        var ways = page.FindAll("[data-testid=way-in]");
        Assert.Equal(["not set up", "not set up", "works"], ways.Select(w => w.QuerySelector("[data-testid=way-in-state]")!.TextContent.Trim()));
        Assert.Contains("E2B_DOMAIN (Portal:Domain) is not set", ways[0].TextContent);
        // bUnit's base URI stands for the URL the browser opened the dashboard with.
        Assert.Equal("E2B_API_URL=http://localhost\nE2B_SANDBOX_URL=http://localhost\nE2B_API_KEY=e2b_…  # a key from the API keys page",
            ways[2].QuerySelector("[data-testid=settings-env]")!.TextContent);
        Assert.Contains("sandbox_url=\"http://localhost\"", ways[2].QuerySelector("[data-testid=settings-python]")!.TextContent);

        var templates = page.Find("[data-testid=template-table]").TextContent;
        Assert.Contains("base-alias", templates);
        Assert.Contains("1 of 2 ready", templates);
        Assert.Contains("code-interpreter-v1", templates);
    }

    [Fact]
    public async Task WithDomainAndAWildcardCertificate_EveryWayInWorks_AndAnExpiryUnder30DaysWarns()
    {
        var files = CertificateGenerator.Generate("sbx.test", _dir, lifetime: TimeSpan.FromDays(12));
        await using var t = await DashboardPageContext.StartAsync(new Dictionary<string, string?>
        {
            ["Portal:Domain"] = "sbx.test",
            ["Portal:Tls:CertificatePath"] = files.Cert,
            ["Portal:Tls:KeyPath"] = files.Key,
        });
        t.SignInAs(t.Admin);
        var page = t.Bunit.Render<Configuration>();

        page.WaitForAssertion(() => Assert.Equal(3, page.FindAll("[data-testid=way-in]").Count));
        var ways = page.FindAll("[data-testid=way-in]");
        Assert.All(ways, w => Assert.Equal("works", w.QuerySelector("[data-testid=way-in-state]")!.TextContent.Trim()));
        Assert.StartsWith("E2B_DOMAIN=sbx.test\n", ways[0].QuerySelector("[data-testid=settings-env]")!.TextContent);
        Assert.StartsWith("E2B_API_URL=https://sbx.test/kruise/api\nE2B_SANDBOX_URL=https://sbx.test\n", ways[1].QuerySelector("[data-testid=settings-env]")!.TextContent);
        Assert.Contains("*.sbx.test", page.Find("[data-testid=certificate-names]").TextContent);
        Assert.Contains("in 11 days", page.Find("[data-testid=certificate-expiry]").TextContent);
        Assert.Contains("expires in 11 days", page.Find("[data-testid=certificate-warning]").TextContent);
    }

    [Fact]
    public async Task ACertificateForAnotherDomain_LeavesNativeAndPrivateNotSetUp_SayingWhy()
    {
        var files = CertificateGenerator.Generate("other.test", _dir);
        await using var t = await DashboardPageContext.StartAsync(new Dictionary<string, string?>
        {
            ["Portal:Domain"] = "sbx.test",
            ["Portal:Tls:CertificatePath"] = files.Cert,
            ["Portal:Tls:KeyPath"] = files.Key,
        });
        var (member, _) = await t.NewTeamAsync("teal");
        t.SignInAs(member); // nothing on the page is a secret: members see it too
        var page = t.Bunit.Render<Configuration>();

        page.WaitForAssertion(() => Assert.Equal(3, page.FindAll("[data-testid=way-in]").Count));
        var ways = page.FindAll("[data-testid=way-in]");
        Assert.Contains("does not cover api.sbx.test and *.sbx.test", ways[0].TextContent);
        Assert.Contains("does not cover sbx.test", ways[1].TextContent);
        Assert.Equal("works", ways[2].QuerySelector("[data-testid=way-in-state]")!.TextContent.Trim());
        Assert.Empty(page.FindAll("[data-testid=certificate-warning]"));
    }

    [Fact]
    public async Task ARuntimeWithoutTemplates_ShowsTheEmptyState()
    {
        var runtime = new FakeSandboxRuntime();
        await using var t = await DashboardPageContext.StartAsync(runtime: runtime);
        t.SignInAs(t.Admin);
        runtime.NoTemplates = true;
        var page = t.Bunit.Render<Configuration>();
        page.WaitForAssertion(() => Assert.NotNull(page.Find("[data-testid=no-templates]")));
    }
}
