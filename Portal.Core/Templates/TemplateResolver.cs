using Portal.Core.Persistence;

namespace Portal.Core.Templates;

/// <summary>A registry template as a sandbox (or a build) starts from it: which build its tag points at.</summary>
public sealed record ResolvedTemplate(TemplateRecord Template, TemplateBuild Build, string? Tag);

/// <summary>Finds what a template reference (<c>name</c>, <c>name:tag</c>, an ID, <c>ID:tag</c>) means for a team.</summary>
public static class TemplateResolver
{
    /// <summary>
    /// The template and its ready build, or null when the registry has no such template (the
    /// caller then asks the runtime's built-in ones).
    /// </summary>
    /// <exception cref="DomainException">403 another team's private template; 400 no such tag or nothing built yet.</exception>
    public static async Task<ResolvedTemplate?> ResolveAsync(IPortalStore store, string teamId, string reference, CancellationToken ct)
    {
        var text = reference.Trim();
        string? tag = null;
        var colon = text.IndexOf(':');
        if (colon >= 0) { tag = text[(colon + 1)..].ToLowerInvariant(); text = text[..colon]; }
        if (text.Length is 0 or > TemplateNames.MaxLength) return null;
        var template = await store.FindTemplateAsync(text, ct) ?? await store.FindTemplateByNameAsync(text.ToLowerInvariant(), ct);
        if (template is null) return null;
        if (template.TeamId != teamId && !template.Public)
            throw DomainException.PermissionDenied($"You don't have access to the template '{reference}'");
        var wanted = tag is null or TemplateNames.DefaultTag ? TemplateNames.DefaultTag : tag;
        var tags = await store.ListTemplateTagsAsync(template.TemplateId, ct);
        var pointed = tags.FirstOrDefault(t => t.Tag == wanted);
        if (pointed is null)
            throw DomainException.InvalidArgument(tag is null
                ? $"template '{reference}' has no ready build yet"
                : $"template '{text}' has no tag '{tag}'");
        var build = await store.FindTemplateBuildAsync(pointed.BuildId, ct);
        if (build is not { Status: TemplateBuildStatus.Ready, RuntimeTemplateId: not null })
            throw DomainException.InvalidArgument($"template '{reference}': the build its tag points at is not ready");
        return new ResolvedTemplate(template, build, tag);
    }
}
