using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Portal.Core.Templates;
using Portal.Web.Options;

namespace Portal.Web.Templates;

public static class TemplateRegistration
{
    /// <summary>Template builds: options (<c>Portal:Templates</c>), uploaded files, the builder and the API's service.</summary>
    public static IServiceCollection AddTemplates(this IServiceCollection services, IConfiguration config)
    {
        services.AddOptions<TemplateOptions>().Bind(config.GetSection(TemplateOptions.Section)).ValidateOnStart();
        services.AddSingleton<IValidateOptions<TemplateOptions>, TemplateOptionsValidator>();
        services.AddSingleton(sp =>
        {
            var o = sp.GetRequiredService<IOptions<TemplateOptions>>().Value;
            return new TemplateFiles(o.FilesDirectory ?? Path.Combine(sp.GetRequiredService<IOptions<PortalOptions>>().Value.DataDir, "template-files"),
                sp.GetRequiredService<TimeProvider>());
        });
        // Images come from another seam (an OCI puller); until one is registered, fromImage is refused clearly.
        services.AddSingleton<TemplateBuilder>();
        services.AddSingleton<TemplateService>();
        return services;
    }
}

internal sealed class TemplateOptionsValidator : IValidateOptions<TemplateOptions>
{
    public ValidateOptionsResult Validate(string? name, TemplateOptions o)
    {
        const string s = TemplateOptions.Section;
        var errors = new List<string>();
        if (o.MaxConcurrentBuilds is < 1 or > 64) errors.Add($"{s}:MaxConcurrentBuilds must be 1-64 (got {o.MaxConcurrentBuilds})");
        if (o.MaxUploadBytes < 1024) errors.Add($"{s}:MaxUploadBytes must be at least 1024 (got {o.MaxUploadBytes})");
        if (o.UploadUrlLifetime < TimeSpan.FromSeconds(10) || o.UploadUrlLifetime > TimeSpan.FromDays(1)) errors.Add($"{s}:UploadUrlLifetime must be between 00:00:10 and 1.00:00:00");
        if (o.StepTimeout < TimeSpan.FromSeconds(1)) errors.Add($"{s}:StepTimeout must be at least 00:00:01");
        if (o.ReadyTimeout < TimeSpan.FromSeconds(1)) errors.Add($"{s}:ReadyTimeout must be at least 00:00:01");
        if (o.MaxLogEntries < 100) errors.Add($"{s}:MaxLogEntries must be at least 100");
        if (o.UploadRetention < TimeSpan.FromMinutes(1)) errors.Add($"{s}:UploadRetention must be at least 00:01:00 (got {o.UploadRetention})");
        if (o.FilesDirectory is { Length: > 0 } d && !Path.IsPathRooted(d)) errors.Add($"{s}:FilesDirectory must be an absolute path (got '{d}')");
        return errors.Count > 0 ? ValidateOptionsResult.Fail(errors) : ValidateOptionsResult.Success;
    }
}
