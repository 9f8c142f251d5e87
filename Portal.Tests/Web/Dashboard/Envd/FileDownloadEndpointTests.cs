using Portal.Core.Envd;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Portal.Core.Auth;
using Portal.Tests.Api;
using Portal.Tests.Web.Auth;
using Portal.Web.Auth;
using Portal.Web.Dashboard.Envd;

namespace Portal.Tests.Web.Dashboard.Envd;

/// <summary>The file browser's download link: a signed-in session, the caller's own sandboxes, envd's answer streamed.</summary>
public sealed class FileDownloadEndpointTests
{
    [Fact]
    public async Task SignedIn_DownloadsTheFile_AnotherTeamGetsNotFound_EnvdsRefusalsKeepTheirStatus()
    {
        await using var host = await PortalHost.StartAsync(new FakeSandboxRuntime { RealEnvd = true });
        var dir = Directory.CreateTempSubdirectory("portal-download-");
        dir.UnixFileMode = (UnixFileMode)0b111_101_101; // envd reads as the sandbox user, not the test's
        try
        {
            var file = Path.Combine(dir.FullName, "report \"q3\".txt");
            await File.WriteAllTextAsync(file, "numbers", TestContext.Current.CancellationToken);
            var id = (string)(await host.Admin.CreateSandboxAsync())["sandboxID"]!;

            var (_, admin) = await CookieSignInTests.SignInAsync(host, "admin", PortalHost.AdminPassword);
            using (var res = await admin.GetAsync("/" + FileDownloadEndpoint.PathFor(id, file), TestContext.Current.CancellationToken))
            {
                Assert.Equal(200, (int)res.StatusCode);
                Assert.Equal("numbers", await res.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
                Assert.Equal("attachment", res.Content.Headers.ContentDisposition?.DispositionType);
                Assert.Equal("report \"q3\".txt", res.Content.Headers.ContentDisposition?.FileNameStar);
            }
            await AssertErrorAsync(admin, "/" + FileDownloadEndpoint.PathFor(id, Path.Combine(dir.FullName, "missing")), 404, "missing");
            await AssertErrorAsync(admin, "/" + FileDownloadEndpoint.PathFor(id, dir.FullName), 400, "directory");
            await AssertErrorAsync(admin, $"/dashboard/sandboxes/{id}/files", 400, "'path' is required");

            // A member of another team: the sandbox does not exist for them.
            var keys = host.Services.GetRequiredService<ApiKeyService>();
            var adminCaller = new Caller(keys.AdminTeam!, CallerRole.Admin, new Actor(ActorKind.User, "t", "t"));
            var team = await keys.CreateTeamAsync(adminCaller, "other", CancellationToken.None);
            await using (var scope = host.Services.CreateAsyncScope())
                await scope.ServiceProvider.GetRequiredService<UserAccounts>().CreateAsync(adminCaller, "other-member", "other-password-1", team.TeamId, UserRoles.Member);
            var (_, member) = await CookieSignInTests.SignInAsync(host, "other-member", "other-password-1");
            await AssertErrorAsync(member, "/" + FileDownloadEndpoint.PathFor(id, file), 404, id);

            // Signed out: no file, sent to sign in.
            using var anonymous = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false }) { BaseAddress = host.BaseAddress };
            using var signedOut = await anonymous.GetAsync("/" + FileDownloadEndpoint.PathFor(id, file), TestContext.Current.CancellationToken);
            Assert.NotEqual(200, (int)signedOut.StatusCode);
            Assert.DoesNotContain("numbers", await signedOut.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
        }
        finally { dir.Delete(true); }
    }

    private static async Task AssertErrorAsync(HttpClient client, string path, int status, string messagePart)
    {
        using var res = await client.GetAsync(path, TestContext.Current.CancellationToken);
        var body = JsonNode.Parse(await res.Content.ReadAsStringAsync(TestContext.Current.CancellationToken))!;
        Assert.Equal(status, (int)res.StatusCode);
        Assert.Equal(status, (int)body["code"]!);
        Assert.Contains(messagePart, (string)body["message"]!);
    }
}
