using System.Text.Json;
using System.Text.RegularExpressions;

namespace Portal.Core.Templates;

/// <summary>A private registry's credentials for <c>fromImage</c> (E2B's <c>fromImageRegistry</c>), passed on to <see cref="ITemplateImageSource"/>.</summary>
public sealed record RegistryCredentials(string Type, IReadOnlyDictionary<string, string> Fields);

/// <summary>One step of a build, numbered from 1 as E2B's logs and errors number them.</summary>
public sealed record BuildStep(int Number, string Type, IReadOnlyList<string> Args, bool Force, string? FilesHash);

/// <summary>
/// E2B's <c>TemplateBuildStartV2</c>, parsed and checked before anything runs, so a malformed
/// request is a 400 and not a failed build. Unknown keys (the SDK serialises COPY's
/// <c>forceUpload</c>, <c>resolveSymlinks</c>, <c>gzip</c>) are ignored.
/// </summary>
public sealed partial record BuildRequest(
    string? FromImage, string? FromTemplate, RegistryCredentials? Registry, IReadOnlyList<BuildStep> Steps,
    string? StartCmd, string? ReadyCmd, bool Force)
{
    public const int MaxSteps = 200;
    public const int MaxArgLength = 64 * 1024;

    [GeneratedRegex("^[0-9a-f]{64}$")]
    public static partial Regex FilesHashPattern();

    [GeneratedRegex("^[a-z_][a-z0-9_-]{0,31}$")]
    private static partial Regex UserPattern();

    /// <exception cref="DomainException">400 naming what is wrong.</exception>
    public static BuildRequest Parse(JsonElement body)
    {
        if (body.ValueKind != JsonValueKind.Object) throw DomainException.InvalidArgument("the build request must be a JSON object");
        var fromImage = Str(body, "fromImage");
        var fromTemplate = Str(body, "fromTemplate");
        if (fromImage is not null && fromTemplate is not null) throw DomainException.InvalidArgument("give either 'fromImage' or 'fromTemplate', not both");
        if (fromImage is null && fromTemplate is null) fromImage = "e2bdev/base"; // what E2B builds on when nothing is chosen
        RegistryCredentials? registry = null;
        if (body.TryGetProperty("fromImageRegistry", out var reg) && reg.ValueKind == JsonValueKind.Object)
            registry = new RegistryCredentials(Str(reg, "type") ?? "registry",
                reg.EnumerateObject().Where(p => p.Value.ValueKind == JsonValueKind.String).ToDictionary(p => p.Name, p => p.Value.GetString()!));

        var steps = new List<BuildStep>();
        if (body.TryGetProperty("steps", out var list) && list.ValueKind != JsonValueKind.Null)
        {
            if (list.ValueKind != JsonValueKind.Array) throw DomainException.InvalidArgument("'steps' must be an array");
            foreach (var s in list.EnumerateArray())
            {
                if (steps.Count >= MaxSteps) throw DomainException.InvalidArgument($"a build has at most {MaxSteps} steps");
                steps.Add(ParseStep(s, steps.Count + 1));
            }
        }
        var force = body.TryGetProperty("force", out var f) && f.ValueKind == JsonValueKind.True;
        return new BuildRequest(fromImage, fromTemplate, registry, steps, NonEmpty(Str(body, "startCmd")), NonEmpty(Str(body, "readyCmd")), force);
    }

    private static BuildStep ParseStep(JsonElement s, int number)
    {
        string Where() => $"step {number}";
        if (s.ValueKind != JsonValueKind.Object) throw DomainException.InvalidArgument($"{Where()} must be an object");
        var type = (Str(s, "type") ?? "").ToUpperInvariant();
        var args = new List<string>();
        if (s.TryGetProperty("args", out var a) && a.ValueKind == JsonValueKind.Array)
            foreach (var x in a.EnumerateArray())
            {
                if (x.ValueKind != JsonValueKind.String) throw DomainException.InvalidArgument($"{Where()}: every arg must be a string");
                var text = x.GetString()!;
                if (text.Length > MaxArgLength || text.Contains('\0')) throw DomainException.InvalidArgument($"{Where()}: an arg is longer than {MaxArgLength} characters or holds a NUL");
                args.Add(text);
            }
        var force = s.TryGetProperty("force", out var f) && f.ValueKind == JsonValueKind.True;
        var hash = Str(s, "filesHash");
        switch (type)
        {
            case "RUN":
                if (args.Count is < 1 or > 2 || args[0].Length == 0) throw DomainException.InvalidArgument($"{Where()}: RUN takes [command] or [command, user]");
                if (args.Count == 2 && args[1].Length > 0) CheckUser(args[1], Where());
                break;
            case "COPY":
                if (args.Count is < 2 or > 4 || args[0].Length == 0 || args[1].Length == 0) throw DomainException.InvalidArgument($"{Where()}: COPY takes [src, dest, user?, mode?]");
                if (CopySource.IsOutside(args[0])) throw DomainException.InvalidArgument($"{Where()}: COPY source '{args[0]}' must be a path inside the build context (relative, no '..')");
                if (hash is null || !FilesHashPattern().IsMatch(hash)) throw DomainException.InvalidArgument($"{Where()}: COPY needs a 'filesHash' of 64 lowercase hex digits");
                if (args.Count > 2 && args[2].Length > 0) CheckUser(args[2], Where());
                if (args.Count > 3 && args[3].Length > 0 && !Regex.IsMatch(args[3], "^[0-7]{3,4}$")) throw DomainException.InvalidArgument($"{Where()}: COPY mode '{args[3]}' is not an octal mode");
                break;
            case "ENV":
                if (args.Count == 0 || args.Count % 2 != 0) throw DomainException.InvalidArgument($"{Where()}: ENV takes [name, value, ...]");
                for (var i = 0; i < args.Count; i += 2)
                    if (!Regex.IsMatch(args[i], "^[A-Za-z_][A-Za-z0-9_]*$")) throw DomainException.InvalidArgument($"{Where()}: '{args[i]}' is not an environment variable name");
                break;
            case "WORKDIR":
                if (args.Count != 1 || args[0].Length == 0) throw DomainException.InvalidArgument($"{Where()}: WORKDIR takes [path]");
                break;
            case "USER":
                if (args.Count != 1) throw DomainException.InvalidArgument($"{Where()}: USER takes [name]");
                CheckUser(args[0], Where());
                break;
            default:
                throw DomainException.InvalidArgument($"{Where()}: unknown step type '{Str(s, "type")}' (RUN, COPY, ENV, WORKDIR and USER are supported)");
        }
        return new BuildStep(number, type, args, force, type == "COPY" ? hash : null);
    }

    private static void CheckUser(string user, string where)
    {
        if (!UserPattern().IsMatch(user)) throw DomainException.InvalidArgument($"{where}: '{user}' is not a valid user name");
    }

    private static string? Str(JsonElement o, string name) =>
        o.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    private static string? NonEmpty(string? s) => string.IsNullOrWhiteSpace(s) ? null : s;
}
