using Portal.Core.Templates;

namespace Portal.Core.Persistence;

/// <summary>The template registry: templates, their names, tags, builds with their logs, and the layer cache.</summary>
public partial interface IPortalStore
{
    /// <summary>Adds a template with its names; false (nothing written) when one of the names is taken meanwhile.</summary>
    Task<bool> AddTemplateAsync(TemplateRecord template, CancellationToken ct);
    Task<TemplateRecord?> FindTemplateAsync(string templateId, CancellationToken ct);
    /// <summary>By one of its names (without tag).</summary>
    Task<TemplateRecord?> FindTemplateByNameAsync(string name, CancellationToken ct);
    /// <summary>
    /// A team's templates, oldest first: those after <paramref name="after"/> (a page cursor's
    /// creation time and ID), at most <paramref name="limit"/> when given.
    /// </summary>
    Task<IReadOnlyList<TemplateRecord>> ListTemplatesAsync(string teamId, (long Ms, string Id)? after, int? limit, CancellationToken ct);
    /// <summary>Sets the public flag (and the update time); false when the template is gone.</summary>
    Task<bool> SetTemplatePublicAsync(string templateId, bool isPublic, DateTimeOffset at, CancellationToken ct);
    /// <summary>Counts a sandbox started from the template.</summary>
    Task RecordTemplateSpawnAsync(string templateId, DateTimeOffset at, CancellationToken ct);
    /// <summary>
    /// Deletes the template with its names, tags, builds and their logs; the runtime templates its
    /// ready builds made, or null when there was no such template.
    /// </summary>
    Task<IReadOnlyList<string>?> DeleteTemplateAsync(string templateId, CancellationToken ct);

    /// <summary>Adds a build and counts it on its template (update time too).</summary>
    Task AddTemplateBuildAsync(TemplateBuild build, CancellationToken ct);
    Task<TemplateBuild?> FindTemplateBuildAsync(string buildId, CancellationToken ct);
    /// <summary>Builds in these states (a team's, or every team's), oldest first: a restart's unfinished ones, the layers in use.</summary>
    Task<IReadOnlyList<TemplateBuild>> ListTemplateBuildsAsync(IReadOnlyCollection<TemplateBuildStatus> statuses, string? teamId, CancellationToken ct);
    /// <summary>A template's builds, newest first, after the cursor <paramref name="after"/>, at most <paramref name="limit"/>.</summary>
    Task<IReadOnlyList<TemplateBuild>> ListBuildsOfTemplateAsync(string templateId, (long Ms, string Id)? after, int limit, CancellationToken ct);
    /// <summary>Each template's newest build, whatever its state, in one query; templates without builds are absent.</summary>
    Task<IReadOnlyDictionary<string, TemplateBuild>> FindLatestTemplateBuildsAsync(IReadOnlyCollection<string> templateIds, CancellationToken ct);
    /// <summary>
    /// Replaces the build's row. A build that became ready also takes its <see cref="TemplateBuild.Tags"/>
    /// in the same transaction (a tag moves from an older build to this one).
    /// </summary>
    Task SaveTemplateBuildAsync(TemplateBuild build, CancellationToken ct);

    Task AddTemplateBuildLogsAsync(string buildId, IReadOnlyList<BuildLogEntry> entries, CancellationToken ct);
    /// <summary>Log entries at <paramref name="minLevel"/> or above (null: all), in order, from index <paramref name="offset"/>.</summary>
    Task<IReadOnlyList<BuildLogEntry>> ListTemplateBuildLogsAsync(string buildId, int offset, int limit, string? minLevel, CancellationToken ct);

    Task<IReadOnlyList<TemplateTag>> ListTemplateTagsAsync(string templateId, CancellationToken ct);
    /// <summary>Points <paramref name="tags"/> of the template at <paramref name="buildId"/>.</summary>
    Task SetTemplateTagsAsync(string templateId, string buildId, IReadOnlyList<string> tags, DateTimeOffset at, CancellationToken ct);
    /// <summary>Removes tags; how many existed.</summary>
    Task<int> RemoveTemplateTagsAsync(string templateId, IReadOnlyList<string> tags, CancellationToken ct);

    Task<TemplateLayer?> FindTemplateLayerAsync(string key, CancellationToken ct);
    /// <summary>Inserts or replaces the layer under its key.</summary>
    Task SaveTemplateLayerAsync(TemplateLayer layer, CancellationToken ct);
    /// <summary>A team's cached layers, newest first.</summary>
    Task<IReadOnlyList<TemplateLayer>> ListTemplateLayersAsync(string teamId, CancellationToken ct);
    Task DeleteTemplateLayerAsync(string key, CancellationToken ct);
}
