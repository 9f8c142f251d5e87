using Microsoft.Extensions.Options;
using Portal.Core.Runtime;
using Portal.Core.Runtime.Local;
using Portal.Core;
using Portal.Core.Templates;
using Portal.Core.Templates.Images;

namespace Portal.Web.Runtime;

/// <summary>
/// <see cref="ITemplateImageSource"/>: template builds turn their <c>fromImage</c> into a template through
/// it. Registered before the template builder's own fallback (a TryAdd), so this one is used. With the local runtime images become templates of its templates directory; other runtimes
/// refuse images with a clear error. Options: <c>Portal:Templates:Images</c>, checked at start-up.
/// </summary>
public static class TemplateImagesRegistration
{
    public static IServiceCollection AddTemplateImages(this IServiceCollection services, IConfiguration config)
    {
        services.AddOptions<ImageOptions>().Bind(config.GetSection(ImageOptions.Section)).ValidateOnStart();
        services.AddSingleton<IValidateOptions<ImageOptions>, ImageOptionsValidator>();
        services.AddSingleton<ITemplateImageSource>(sp =>
        {
            var options = sp.GetRequiredService<IOptions<ImageOptions>>().Value;
            var runtime = sp.GetRequiredService<ISandboxRuntime>();
            return runtime.Templates is LocalTemplateCatalog catalog
                ? new ImageResolver(options, catalog.Directory)
                : new NoImages(runtime.Name);
        });
        return services;
    }

    private sealed class ImageOptionsValidator : IValidateOptions<ImageOptions>
    {
        public ValidateOptionsResult Validate(string? name, ImageOptions options) =>
            options.Validate() is { Count: > 0 } errors ? ValidateOptionsResult.Fail(errors) : ValidateOptionsResult.Success;
    }

    /// <summary>Runtimes whose templates are not root filesystems the portal writes (Kubernetes: container images as they are).</summary>
    private sealed class NoImages(string runtime) : ITemplateImageSource
    {
        public Task<string> ResolveAsync(string image, RegistryCredentials? credentials, IProgress<string> log, CancellationToken ct) =>
            throw DomainException.InvalidArgument($"the '{runtime}' runtime does not build templates from images");
    }
}
