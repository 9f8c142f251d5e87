using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Portal.Core.Auth;
using Portal.Core.Persistence;
using Portal.Core.Runtime;
using Portal.Core.Sandboxes;

namespace Portal.Core.Templates;

/// <summary>A template with the build its listing shows (the newest).</summary>
public sealed record TemplateListing(TemplateRecord Template, TemplateBuild? LatestBuild);

/// <summary>
/// E2B's template API over the registry (<see cref="IPortalStore"/>) and the builder. A team sees
/// and changes only its own templates: another team's ID answers 404 (403 where E2B says "exists,
/// not yours": a name lookup, or starting from a private template).
/// </summary>
public sealed class TemplateService(
    IPortalStore store,
    ISandboxRuntime runtime,
    TemplateBuilder builder,
    TemplateFiles files,
    IOptions<TemplateOptions> options,
    TimeProvider clock,
    ILogger<TemplateService> log)
{
    public TemplateOptions Options => options.Value;
    public TemplateFiles Files => files;

    // ---------------------------------------------------------------- build

    /// <summary>POST /v3/templates: the named template (made when new) and a build waiting for its steps.</summary>
    public async Task<(TemplateRecord Template, TemplateBuild Build)> RequestBuildAsync(Caller caller, string? rawName, IReadOnlyList<string>? tags, int? cpuCount, int? memoryMB, CancellationToken ct)
    {
        if (!builder.Supported)
            throw DomainException.InvalidArgument($"template builds need a runtime that can build them: the '{runtime.Name}' runtime's templates are container images made outside the portal");
        var name = TemplateNames.Parse(rawName);
        var allTags = (tags ?? []).Select(TemplateNames.ValidateTag).ToList();
        if (name.Tag is { } t) allTags.Add(t);
        if (allTags.Count == 0) allTags.Add(TemplateNames.DefaultTag);
        allTags = allTags.Distinct(StringComparer.Ordinal).ToList();
        if (cpuCount is < 1 or > 64) throw DomainException.InvalidArgument("'cpuCount' must be 1-64");
        if (memoryMB is < 128 or > 262144) throw DomainException.InvalidArgument("'memoryMB' must be 128-262144");
        if (await runtime.Templates.FindAsync(name.Name, ct) is { ParentTemplateId: null })
            throw DomainException.Conflict($"'{name.Name}' is a built-in template: choose another name");

        var now = clock.GetUtcNow();
        var template = await store.FindTemplateByNameAsync(name.Name, ct);
        if (template is null)
        {
            var made = new TemplateRecord
            {
                TemplateId = SandboxIds.New(), TeamId = caller.TeamId, Names = [name.Name], CpuCount = cpuCount ?? 2, MemoryMB = memoryMB ?? 512,
                DiskSizeMB = 2048, CreatedAt = now, UpdatedAt = now, CreatedById = caller.Who.Id, CreatedByName = caller.Who.Name,
            };
            if (await store.AddTemplateAsync(made, ct)) template = made;
            else template = await store.FindTemplateByNameAsync(name.Name, ct) ?? throw DomainException.Conflict($"name '{name.Name}' is being taken: try again");
        }
        if (template.TeamId != caller.TeamId)
            throw DomainException.Conflict($"the name '{name.Name}' is taken by another team");
        var build = new TemplateBuild
        {
            BuildId = Guid.NewGuid().ToString(), TemplateId = template.TemplateId, TeamId = caller.TeamId, Status = TemplateBuildStatus.Waiting,
            CreatedAt = now, Tags = allTags, CpuCount = cpuCount ?? template.CpuCount, MemoryMB = memoryMB ?? template.MemoryMB,
        };
        await store.AddTemplateBuildAsync(build, ct);
        return (template, build);
    }

    /// <summary>GET /templates/{id}/files/{hash}: whether the team has these files already.</summary>
    public async Task<bool> FilesPresentAsync(Caller caller, string templateId, string hash, CancellationToken ct)
    {
        if (!BuildRequest.FilesHashPattern().IsMatch(hash)) throw DomainException.InvalidArgument("Invalid files hash");
        await OwnAsync(caller, templateId, ct);
        return files.TryUse(caller.TeamId, hash);
    }

    /// <summary>The upload PUT (already authorised by its signed URL).</summary>
    public Task UploadAsync(string teamId, string hash, Stream body, long? contentLength, CancellationToken ct) =>
        files.SaveAsync(teamId, hash, body, contentLength, options.Value.MaxUploadBytes, ct);

    /// <summary>POST /v2/templates/{id}/builds/{buildID}: checks the steps and starts the build.</summary>
    public async Task StartBuildAsync(Caller caller, string templateId, string buildId, JsonElement body, CancellationToken ct)
    {
        await OwnAsync(caller, templateId, ct);
        var build = await OwnBuildAsync(caller, templateId, buildId, ct);
        if (build.Status != TemplateBuildStatus.Waiting || build.RequestJson is not null)
            throw DomainException.Conflict($"build '{buildId}' has already been started");
        var request = BuildRequest.Parse(body);
        build = build with { RequestJson = body.GetRawText(), StartCmd = request.StartCmd, ReadyCmd = request.ReadyCmd };
        await store.SaveTemplateBuildAsync(build, ct);
        builder.Start(build, request);
        log.LogInformation("Template {TemplateId} build {BuildId} started for team {TeamId}: {Steps} steps", templateId, buildId, caller.TeamId, request.Steps.Count);
    }

    /// <summary>GET .../status: the build and a page of its log.</summary>
    public async Task<(TemplateBuild Build, IReadOnlyList<BuildLogEntry> Logs)> GetStatusAsync(Caller caller, string templateId, string buildId, int offset, int limit, string? level, CancellationToken ct)
    {
        await OwnAsync(caller, templateId, ct);
        var build = await OwnBuildAsync(caller, templateId, buildId, ct);
        if (level is not null && level is not ("debug" or "info" or "warn" or "error")) throw DomainException.InvalidArgument("'level' must be debug, info, warn or error");
        var logs = await store.ListTemplateBuildLogsAsync(buildId, Math.Max(0, offset), Math.Clamp(limit, 0, 100), level, ct);
        return (build, logs);
    }

    // ---------------------------------------------------------------- names and tags

    /// <summary>GET /templates/aliases/{alias}: the template, 403 when another team's private one, 404 when none.</summary>
    public async Task<(string TemplateId, bool Public)> FindAliasAsync(Caller caller, string alias, CancellationToken ct)
    {
        var name = TemplateNames.Parse(alias);
        var template = await store.FindTemplateByNameAsync(name.Name, ct);
        if (template is null)
        {
            if (await runtime.Templates.FindAsync(name.Name, ct) is { ParentTemplateId: null } builtIn) return (builtIn.TemplateId, true);
            throw DomainException.NotFound($"template '{alias}' not found");
        }
        if (template.TeamId != caller.TeamId && !template.Public)
            throw DomainException.PermissionDenied($"You don't have access to the template '{alias}'");
        return (template.TemplateId, template.Public);
    }

    /// <summary>POST /templates/tags: points more tags at the build <paramref name="target"/> (<c>name:tag</c>) names.</summary>
    public async Task<(string BuildId, IReadOnlyList<string> Tags)> AssignTagsAsync(Caller caller, string? target, IReadOnlyList<string>? tags, CancellationToken ct)
    {
        var name = TemplateNames.Parse(target);
        if (tags is null || tags.Count == 0) throw DomainException.InvalidArgument("'tags' must name at least one tag");
        var newTags = tags.Select(TemplateNames.ValidateTag).Distinct(StringComparer.Ordinal).ToList();
        var template = await OwnByNameAsync(caller, name.Name, ct);
        var source = (await store.ListTemplateTagsAsync(template.TemplateId, ct)).FirstOrDefault(t => t.Tag == (name.Tag ?? TemplateNames.DefaultTag))
            ?? throw DomainException.NotFound($"template '{name}' has no such tag");
        await store.SetTemplateTagsAsync(template.TemplateId, source.BuildId, newTags, clock.GetUtcNow(), ct);
        return (source.BuildId, newTags);
    }

    /// <summary>DELETE /templates/tags.</summary>
    public async Task RemoveTagsAsync(Caller caller, string? rawName, IReadOnlyList<string>? tags, CancellationToken ct)
    {
        var name = TemplateNames.Parse(rawName);
        if (tags is null || tags.Count == 0) throw DomainException.InvalidArgument("'tags' must name at least one tag");
        var list = tags.Select(TemplateNames.ValidateTag).Distinct(StringComparer.Ordinal).ToList();
        var template = await OwnByNameAsync(caller, name.Name, ct);
        if (await store.RemoveTemplateTagsAsync(template.TemplateId, list, ct) == 0)
            throw DomainException.NotFound($"template '{name.Name}' has none of the tags {string.Join(", ", list)}");
    }

    public async Task<IReadOnlyList<TemplateTag>> GetTagsAsync(Caller caller, string templateId, CancellationToken ct)
    {
        await OwnAsync(caller, templateId, ct);
        return await store.ListTemplateTagsAsync(templateId, ct);
    }

    // ---------------------------------------------------------------- list, publish, delete

    /// <summary>
    /// The caller's team's templates, oldest first, each with its newest build: all of them
    /// (<paramref name="limit"/> null, GET /templates), or one page (GET /v2/templates).
    /// </summary>
    public async Task<(IReadOnlyList<TemplateListing> Items, string? NextToken)> ListAsync(Caller caller, int? limit, string? nextToken, CancellationToken ct)
    {
        var after = nextToken is { Length: > 0 } t ? PageToken.Decode(t, SandboxIds.IsWellFormed) : ((long, string)?)null;
        var rows = await store.ListTemplatesAsync(caller.TeamId, after, limit + 1, ct);
        var page = limit is { } n && rows.Count > n ? rows.Take(n).ToList() : rows;
        var latest = await store.FindLatestTemplateBuildsAsync(page.Select(t => t.TemplateId).ToList(), ct);
        var result = page.Select(t => new TemplateListing(t, latest.GetValueOrDefault(t.TemplateId))).ToList();
        var next = page.Count < rows.Count ? PageToken.Encode(page[^1].CreatedAt, page[^1].TemplateId) : null;
        return (result, next);
    }

    /// <summary>One of the team's templates with a page of its builds, newest first (GET /templates/{id}).</summary>
    public async Task<(TemplateRecord Template, IReadOnlyList<TemplateBuild> Builds, string? NextToken)> GetWithBuildsAsync(
        Caller caller, string templateId, int limit, string? nextToken, CancellationToken ct)
    {
        var template = await OwnAsync(caller, templateId, ct);
        var after = nextToken is { Length: > 0 } t ? PageToken.Decode(t, id => Guid.TryParse(id, out _)) : ((long, string)?)null;
        var rows = await store.ListBuildsOfTemplateAsync(templateId, after, limit + 1, ct);
        if (rows.Count <= limit) return (template, rows, null);
        var page = rows.Take(limit).ToList();
        return (template, page, PageToken.Encode(page[^1].CreatedAt, page[^1].BuildId));
    }

    public async Task<TemplateRecord> SetPublicAsync(Caller caller, string templateId, bool isPublic, CancellationToken ct)
    {
        var template = await OwnAsync(caller, templateId, ct);
        if (!await store.SetTemplatePublicAsync(templateId, isPublic, clock.GetUtcNow(), ct)) throw NotFound(templateId);
        return template with { Public = isPublic };
    }

    /// <summary>
    /// DELETE /templates/{id}: the registry entry first (no new sandbox can start from it), then the
    /// runtime templates its builds made; sandboxes running on them keep working.
    /// </summary>
    public async Task DeleteAsync(Caller caller, string templateId, CancellationToken ct)
    {
        await OwnAsync(caller, templateId, ct);
        var made = await store.DeleteTemplateAsync(templateId, ct) ?? throw NotFound(templateId);
        foreach (var runtimeTemplate in made)
        {
            try { await runtime.DeleteTemplateAsync(runtimeTemplate, CancellationToken.None); }
            catch (Exception e) { log.LogWarning(e, "Template {TemplateId}: its runtime template {RuntimeTemplate} was not removed", templateId, runtimeTemplate); }
        }
        await builder.PruneLayersAsync(caller.TeamId, CancellationToken.None);
        log.LogInformation("Template {TemplateId} deleted by team {TeamId}", templateId, caller.TeamId);
    }

    // ---------------------------------------------------------------- sandboxes

    /// <summary>For sandbox creation: the registry's answer, or null to fall back to the runtime's built-in templates.</summary>
    public Task<ResolvedTemplate?> ResolveAsync(Caller caller, string reference, CancellationToken ct) =>
        TemplateResolver.ResolveAsync(store, caller.TeamId, reference, ct);

    public Task RecordSpawnAsync(string templateId, CancellationToken ct) => store.RecordTemplateSpawnAsync(templateId, clock.GetUtcNow(), ct);

    // ---------------------------------------------------------------- tenancy

    private async Task<TemplateRecord> OwnAsync(Caller caller, string templateId, CancellationToken ct)
    {
        var template = await store.FindTemplateAsync(templateId, ct);
        if (template is null || template.TeamId != caller.TeamId) throw NotFound(templateId);
        return template;
    }

    private async Task<TemplateRecord> OwnByNameAsync(Caller caller, string name, CancellationToken ct)
    {
        var template = await store.FindTemplateByNameAsync(name, ct);
        if (template is null || template.TeamId != caller.TeamId) throw DomainException.NotFound($"template '{name}' not found");
        return template;
    }

    private async Task<TemplateBuild> OwnBuildAsync(Caller caller, string templateId, string buildId, CancellationToken ct)
    {
        var build = await store.FindTemplateBuildAsync(buildId, ct);
        if (build is null || build.TemplateId != templateId || build.TeamId != caller.TeamId)
            throw DomainException.InvalidArgument($"Build '{buildId}' not found");
        return build;
    }

    private static DomainException NotFound(string templateId) => DomainException.NotFound($"template '{templateId}' not found");
}
