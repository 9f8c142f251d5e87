using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using Portal.Core.Runtime;
using Portal.Core.Runtime.Local;

namespace Portal.Tests.Runtime.Local;

/// <summary>
/// A real local runtime over a private data directory and cgroup group, with the base
/// template and the published envd that scripts/test.sh prepares (build-template.sh,
/// publish-envd.sh). Every sandbox made through it is killed at the end.
/// </summary>
public sealed class LocalRuntimeFixture : IAsyncLifetime
{
    public static string RepoRoot { get; } = FindRepoRoot();
    public string DataDirectory { get; } = Path.Combine("/var/tmp", $"portal-runtime-tests-{Guid.NewGuid():N}"[..32]);
    public LocalRuntimeOptions Options { get; private set; } = null!;
    public LocalSandboxRuntime Runtime { get; private set; } = null!;

    public ValueTask InitializeAsync()
    {
        var templates = Environment.GetEnvironmentVariable("PORTAL_TEMPLATES_DIR") ?? "/var/lib/sandbox-portal/templates";
        var envd = Path.Combine(RepoRoot, "artifacts", "envd", "portal-envd");
        if (!File.Exists(Path.Combine(templates, "base", "template.json")))
            throw new InvalidOperationException($"template 'base' missing in {templates}: run scripts/build-template.sh (scripts/test.sh does)");
        if (!File.Exists(envd))
            throw new InvalidOperationException($"{envd} missing: run scripts/publish-envd.sh (scripts/test.sh does)");
        Options = new LocalRuntimeOptions
        {
            SandboxesDirectory = Path.Combine(DataDirectory, "sandboxes"),
            TemplatesDirectory = templates,
            EnvdPath = envd,
            CgroupGroup = "portal-test-" + Path.GetFileName(DataDirectory)[^8..],
            // Wired and isolated, never out through this machine's uplink (tests/Network have their own fake one).
            Network = { Uplink = "none" },
            WarmPools = NoCodeInterpreterPool(),
        };
        Runtime = new LocalSandboxRuntime(Options);
        return ValueTask.CompletedTask;
    }

    /// <summary>
    /// The code-interpreter template (scripts/build-code-interpreter-template.sh) may share the
    /// templates directory; its own warm pool would start a kernel in every test runtime.
    /// </summary>
    public static Dictionary<string, int> NoCodeInterpreterPool(Dictionary<string, int>? pools = null) =>
        new(pools ?? []) { ["code-interpreter"] = 0 };

    public static string NewId() => "t" + Guid.NewGuid().ToString("N")[..19];

    public async Task<SandboxInstance> CreateAsync(int? memoryMB = null, IReadOnlyDictionary<string, string>? env = null) =>
        await Runtime.CreateAsync(new SandboxSpec { SandboxId = NewId(), TemplateId = "base", MemoryMB = memoryMB, EnvVars = env ?? new Dictionary<string, string>() }, TestContext.Current.CancellationToken);

    public HttpClient Envd(string sandboxId, LocalSandboxRuntime? runtime = null, string? token = null)
    {
        var http = new HttpClient(new SocketsHttpHandler
        {
            ConnectCallback = async (_, ct) => await (runtime ?? Runtime).ConnectAsync(sandboxId, SandboxPorts.Envd, ct),
        })
        { BaseAddress = new Uri("http://envd"), Timeout = TimeSpan.FromSeconds(30) };
        if (token is not null) http.DefaultRequestHeaders.Add("X-Access-Token", token);
        return http;
    }

    /// <summary>Runs a shell command in the sandbox through envd's process service; returns exit code and output.</summary>
    /// <summary>Runs a script through envd as <paramref name="user"/> (null: the sandbox's default user).</summary>
    public async Task<(int ExitCode, string Stdout, string Stderr)> RunAsync(string sandboxId, string script, string? user = "user", LocalSandboxRuntime? runtime = null, string? token = null)
    {
        using var http = Envd(sandboxId, runtime, token);
        var payload = Encoding.UTF8.GetBytes(new JsonObject { ["process"] = new JsonObject { ["cmd"] = "/bin/bash", ["args"] = new JsonArray("-c", script) }, ["stdin"] = false }.ToJsonString());
        var frame = new byte[5 + payload.Length];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(1), (uint)payload.Length);
        payload.CopyTo(frame, 5);
        using var req = new HttpRequestMessage(HttpMethod.Post, "/process.Process/Start") { Content = new ByteArrayContent(frame) };
        req.Content.Headers.ContentType = new("application/connect+json");
        if (user is not null)
            req.Headers.Authorization = System.Net.Http.Headers.AuthenticationHeaderValue.Parse("Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes(user + ":")));
        req.Headers.Add("Connect-Timeout-Ms", "60000");
        using var res = await http.SendAsync(req, HttpCompletionOption.ResponseHeadersRead, TestContext.Current.CancellationToken);
        var stdout = new StringBuilder();
        var stderr = new StringBuilder();
        var exit = int.MinValue;
        await using var body = await res.Content.ReadAsStreamAsync(TestContext.Current.CancellationToken);
        try
        {
            await ReadAsync();
        }
        catch (IOException e)
        {
            // Say what envd said before the stream broke: a failure here is otherwise a mystery.
            var log = Path.Combine(Options.SandboxesDirectory, sandboxId, "sandbox.log");
            var tail = File.Exists(log) ? string.Join("\n", File.ReadLines(log).TakeLast(30)) : "(no sandbox.log)";
            throw new IOException($"envd's stream broke: {e.Message}\nstdout so far: {stdout}\nstderr so far: {stderr}\nsandbox.log:\n{tail}", e);
        }
        return (exit, stdout.ToString(), stderr.ToString());

        async Task ReadAsync()
        {
            await foreach (var (flags, json) in Portal.Tests.Envd.EnvdServer.ReadEnvelopesAsync(body, TestContext.Current.CancellationToken))
            {
                var node = JsonNode.Parse(json)!;
                if ((flags & 2) != 0)
                {
                    if (node["error"] is { } error) throw new InvalidOperationException($"envd error: {error.ToJsonString()}");
                    break;
                }
                var ev = node["event"]!;
                if (ev["data"]?["stdout"] is { } o) stdout.Append(Encoding.UTF8.GetString(Convert.FromBase64String(o.GetValue<string>())));
                if (ev["data"]?["stderr"] is { } e) stderr.Append(Encoding.UTF8.GetString(Convert.FromBase64String(e.GetValue<string>())));
                if (ev["end"] is { } end) exit = end["exitCode"]?.GetValue<int>() ?? 0;
            }
        }
    }

    public async Task WriteFileAsync(string sandboxId, string path, string content)
    {
        using var http = Envd(sandboxId);
        var form = new MultipartFormDataContent { { new StringContent(content), "file", path } };
        (await http.PostAsync("/files", form, TestContext.Current.CancellationToken)).EnsureSuccessStatusCode();
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var s in await Runtime.ListAsync(CancellationToken.None))
            await Runtime.KillAsync(s.SandboxId, CancellationToken.None);
        Runtime.Dispose();
        try { Directory.Delete(DataDirectory, true); } catch (IOException) { }
        // The runtime keeps its (now empty) group cgroup in every hierarchy; this fixture's group is its own.
        foreach (var hierarchy in Directory.GetDirectories("/sys/fs/cgroup").Append("/sys/fs/cgroup"))
        {
            var own = CgroupDriver.OwnPath(hierarchy == "/sys/fs/cgroup" ? "" : Path.GetFileName(hierarchy));
            try { Directory.Delete(Path.Combine(hierarchy, own, Options.CgroupGroup)); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        }
    }

    private static string FindRepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Portal.sln"))) return dir.FullName;
        throw new InvalidOperationException("Portal.sln not found above the test binaries");
    }
}
