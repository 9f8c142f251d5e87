using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Portal.Core.Runtime;
using Portal.Tests.Runtime.Local;
using Portal.Core;
using Portal.Core.Templates;
using Portal.Core.Templates.Images;
using Portal.Tests.Api;
using Portal.Web.Runtime;

namespace Portal.Tests.Web.Runtime;

/// <summary>Portal:Templates:Images is checked at start-up, each message naming its key.</summary>
[Collection(nameof(LocalRuntimeCollection))]
public sealed class TemplateImagesRegistrationTests(LocalRuntimeFixture fx)
{
    private static ServiceProvider Build(Dictionary<string, string?> settings, ISandboxRuntime runtime)
    {
        var config = new ConfigurationBuilder().AddInMemoryCollection(settings).Build();
        var services = new ServiceCollection().AddLogging().AddSingleton(runtime);
        services.AddTemplateImages(config);
        return services.BuildServiceProvider();
    }

    [Fact]
    public void BadSettings_AreRefused_NamingTheKey()
    {
        using var sp = Build(new()
        {
            ["Portal:Templates:Images:OciLayoutDirectory"] = "/nonexistent/layouts",
            ["Portal:Templates:Images:AllowedRegistries:0"] = "127.0.0.1:5000",
            ["Portal:Templates:Images:InsecureRegistries:0"] = "127.0.0.1:6000",
        }, new FakeSandboxRuntime());
        var failures = string.Join("\n", Assert.Throws<OptionsValidationException>(() => sp.GetRequiredService<ITemplateImageSource>()).Failures);
        Assert.Contains("Portal:Templates:Images:OciLayoutDirectory must be an absolute path of an existing directory", failures);
        Assert.Contains("Portal:Templates:Images:InsecureRegistries holds '127.0.0.1:6000'", failures);
    }

    [Fact]
    public async Task TheLocalRuntime_GetsTheResolver_OtherRuntimesRefuseImages()
    {
        var settings = new Dictionary<string, string?>
        {
            ["Portal:Templates:Images:OciLayoutDirectory"] = Path.GetTempPath(),
            ["Portal:Templates:Images:AllowedRegistries:0"] = "registry.example:5000",
        };
        using (var sp = Build(settings, fx.Runtime))
        {
            Assert.IsType<ImageResolver>(sp.GetRequiredService<ITemplateImageSource>());
            Assert.Equal(["registry.example:5000"], sp.GetRequiredService<IOptions<ImageOptions>>().Value.AllowedRegistries);
        }

        using var fake = Build(settings, new FakeSandboxRuntime());
        var e = await Assert.ThrowsAsync<DomainException>(() => fake.GetRequiredService<ITemplateImageSource>().ResolveAsync("python:3", null, new Progress<string>(), TestContext.Current.CancellationToken));
        Assert.Contains("does not build templates from images", e.Message);
    }
}
