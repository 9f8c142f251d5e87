using Portal.Core;
using Portal.Core.Templates;
using Portal.Core.Templates.Images;

namespace Portal.Tests.Templates.Images;

/// <summary>Pulls from the test's own registry on 127.0.0.1: the only registry these tests talk to.</summary>
public sealed class RegistryPullTests : IDisposable
{
    private readonly ImageTestDirs _dirs = new();
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => _dirs.Dispose();

    private static OciTestImage TinyImage() => new OciTestImage()
        .Layer(w => w.Dir("bin").File("bin/sh", "#!fake shell", 0x1ED).Dir("etc").File("etc/old", "old"))
        .Layer(w => w.File("etc/.wh.old", "").File("etc/message", "pulled"))
        .Build("PATH=/usr/bin:/bin");

    private ImageOptions AllowOnly(FakeRegistry registry) =>
        new() { AllowedRegistries = [registry.Host], InsecureRegistries = [registry.Host] };

    [Fact]
    public async Task AnonymousPull_FollowsTheIndexToLinuxAmd64_VerifiesAndUnpacks_ThenServesFromCache()
    {
        await using var registry = await FakeRegistry.StartAsync();
        var image = TinyImage();
        registry.Push("team/tiny", image);

        var resolved = await _dirs.Resolver(AllowOnly(registry)).ResolveImageAsync($"{registry.Host}/team/tiny:1.0", null, _dirs.Progress, Ct);

        Assert.Equal(image.ManifestDigest, resolved.ManifestDigest);
        Assert.Equal(["PATH=/usr/bin:/bin"], resolved.Env);
        var root = Path.Combine(_dirs.Templates, resolved.TemplateId, "rootfs");
        Assert.Equal("pulled", File.ReadAllText(Path.Combine(root, "etc/message")));
        Assert.False(File.Exists(Path.Combine(root, "etc/old")));
        Assert.Contains("GET /v2/team/tiny/manifests/1.0", registry.Requests);
        Assert.Contains($"GET /v2/team/tiny/manifests/{image.ManifestDigest}", registry.Requests); // amd64 from the index, not the arm64 decoy
        Assert.DoesNotContain(registry.Requests, r => r.Contains("aaaaaaaa"));

        // Same manifest again: asked for, but no blob fetched.
        registry.Requests.Clear();
        var again = await _dirs.Resolver(AllowOnly(registry)).ResolveImageAsync($"{registry.Host}/team/tiny:1.0", null, _dirs.Progress, Ct);
        Assert.Equal(resolved.TemplateId, again.TemplateId);
        Assert.DoesNotContain(registry.Requests, r => r.Contains("/blobs/"));
    }

    [Fact]
    public async Task BearerChallenge_GetsATokenWithTheGivenCredentials_AndPulls()
    {
        await using var registry = await FakeRegistry.StartAsync();
        registry.RequireToken = true;
        registry.Username = "alice";
        registry.Password = "s3cret";
        registry.Push("private/app", TinyImage());
        var credentials = new RegistryCredentials("registry", new Dictionary<string, string> { ["type"] = "registry", ["username"] = "alice", ["password"] = "s3cret" });

        var resolved = await _dirs.Resolver(AllowOnly(registry)).ResolveImageAsync($"{registry.Host}/private/app:2", credentials, _dirs.Progress, Ct);

        Assert.Equal("pulled", File.ReadAllText(Path.Combine(_dirs.Templates, resolved.TemplateId, "rootfs/etc/message")));
        Assert.Equal(["GET /v2/private/app/manifests/2", "GET /token"], registry.Requests.Take(2));
        Assert.Equal(1, registry.Requests.Count(r => r == "GET /token")); // the token is reused for the blobs
    }

    [Fact]
    public async Task BearerChallenge_Anonymous_GetsAnAnonymousToken()
    {
        await using var registry = await FakeRegistry.StartAsync();
        registry.RequireToken = true;
        registry.Push("tiny", TinyImage()); // no library/ prefix: that is Docker Hub's alone

        var resolved = await _dirs.Resolver(AllowOnly(registry)).ResolveImageAsync($"{registry.Host}/tiny", null, _dirs.Progress, Ct);

        Assert.NotNull(resolved.ManifestDigest);
        Assert.Contains("GET /token", registry.Requests);
    }

    [Fact]
    public async Task WrongCredentials_AreRefused_WithTheRegistrysWord()
    {
        await using var registry = await FakeRegistry.StartAsync();
        registry.RequireToken = true;
        registry.Username = "alice";
        registry.Password = "s3cret";
        registry.Push("private/app", TinyImage());

        var e = await Assert.ThrowsAsync<DomainException>(() => _dirs.Resolver(AllowOnly(registry)).ResolveImageAsync(
            $"{registry.Host}/private/app:2", new RegistryCredentials("registry", new Dictionary<string, string> { ["username"] = "alice", ["password"] = "wrong" }), _dirs.Progress, Ct));
        Assert.Contains("token service answered 401 (credentials refused)", e.Message);
        Assert.Empty(_dirs.TemplateEntries());
    }

    [Fact]
    public async Task CorruptedBlobs_AreRefused_ByDigest_AndLeaveNothing()
    {
        await using var registry = await FakeRegistry.StartAsync();
        registry.CorruptBlobs = true;
        registry.Push("team/tiny", TinyImage());

        var e = await Assert.ThrowsAsync<DomainException>(() => _dirs.Resolver(AllowOnly(registry)).ResolveImageAsync($"{registry.Host}/team/tiny:1.0", null, _dirs.Progress, Ct));
        Assert.Contains("does not match its descriptor", e.Message);
        Assert.Empty(_dirs.TemplateEntries());
    }

    [Fact]
    public async Task PinnedDigest_ThatTheRegistryDoesNotServe_IsRefused()
    {
        await using var registry = await FakeRegistry.StartAsync();
        var image = TinyImage();
        registry.Push("team/tiny", image);

        var pinned = await _dirs.Resolver(AllowOnly(registry)).ResolveImageAsync($"{registry.Host}/team/tiny@{image.IndexDigest}", null, _dirs.Progress, Ct);
        Assert.Equal(image.ManifestDigest, pinned.ManifestDigest);
        var e = await Assert.ThrowsAsync<DomainException>(() => _dirs.Resolver(AllowOnly(registry))
            .ResolveImageAsync($"{registry.Host}/team/tiny@sha256:{new string('b', 64)}", null, _dirs.Progress, Ct));
        Assert.Contains("not found", e.Message);
    }

    [Fact]
    public async Task Registries_NotAllowed_AreNotContacted()
    {
        await using var registry = await FakeRegistry.StartAsync();
        registry.Push("team/tiny", TinyImage());

        var e = await Assert.ThrowsAsync<DomainException>(() => _dirs.Resolver(new ImageOptions()).ResolveImageAsync($"{registry.Host}/team/tiny:1.0", null, _dirs.Progress, Ct));
        Assert.Contains("Portal:Templates:Images:AllowedRegistries", e.Message);
        Assert.Empty(registry.Requests);
    }

    [Fact]
    public void Options_AreValidated_NamingTheKeys()
    {
        var errors = new ImageOptions
        {
            OciLayoutDirectory = "relative/dir",
            AllowedRegistries = ["ok.example:5000", "bad host/"],
            InsecureRegistries = ["127.0.0.1:1"],
            MaxImageSizeMB = 1,
        }.Validate();
        Assert.Equal(4, errors.Count);
        Assert.Contains(errors, m => m.StartsWith("Portal:Templates:Images:OciLayoutDirectory"));
        Assert.Contains(errors, m => m.StartsWith("Portal:Templates:Images:AllowedRegistries holds 'bad host/'"));
        Assert.Contains(errors, m => m.StartsWith("Portal:Templates:Images:InsecureRegistries holds '127.0.0.1:1'"));
        Assert.Contains(errors, m => m.StartsWith("Portal:Templates:Images:MaxImageSizeMB"));
        Assert.Empty(new ImageOptions { OciLayoutDirectory = _dirs.Layouts }.Validate());
    }

    [Theory]
    [InlineData("realm=\"https://auth.example/token\",service=\"registry.example\",scope=\"repository:a/b:pull,push\"", "https://auth.example/token", "repository:a/b:pull,push")]
    [InlineData("realm=https://auth.example/token,service=x", "https://auth.example/token", null)]
    public void ChallengeParameters_AreParsed_QuotedCommasIncluded(string header, string realm, string? scope)
    {
        var p = OciRegistryClient.Parameters(header);
        Assert.Equal(realm, p["realm"]);
        Assert.Equal(scope, p.GetValueOrDefault("scope"));
    }
}
