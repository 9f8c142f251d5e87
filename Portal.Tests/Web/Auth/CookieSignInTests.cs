using System.Net;
using System.Text.RegularExpressions;
using Portal.Tests.Api;
using Portal.Web.Dashboard.Components.Account;

namespace Portal.Tests.Web.Auth;

/// <summary>The dashboard's cookie sign-in over HTTP, and what it means for API callers.</summary>
public sealed partial class CookieSignInTests
{
    [GeneratedRegex("name=\"__RequestVerificationToken\" value=\"([^\"]+)\"")]
    private static partial Regex TokenField();

    /// <summary>Posts the sign-in form as a browser does (antiforgery token from the page); returns the status and the client with its cookies.</summary>
    public static async Task<(int Status, HttpClient Client)> SignInAsync(PortalHost host, string user, string password)
    {
        var client = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false, CookieContainer = new CookieContainer() }) { BaseAddress = host.BaseAddress };
        var form = await client.GetStringAsync("/dashboard/login", Http.Ct);
        var token = TokenField().Match(form).Groups[1].Value;
        using var res = await client.PostAsync("/dashboard/login", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["__RequestVerificationToken"] = token, ["_handler"] = "sign-in", ["Input.UserName"] = user, ["Input.Password"] = password,
        }), Http.Ct);
        return ((int)res.StatusCode, client);
    }

    [Fact]
    public async Task SignedInSession_IsACallerOnTheApi_AndSignOutEndsIt()
    {
        await using var host = await PortalHost.StartAsync();
        var (status, client) = await SignInAsync(host, "admin", PortalHost.AdminPassword);
        Assert.Equal(302, status);
        var (keys, _) = await client.GetJsonAsync("/api-keys");
        Assert.Equal(200, keys);

        var page = await client.GetStringAsync("/dashboard", Http.Ct);
        var token = TokenField().Match(page).Groups[1].Value;
        using (var bad = await client.PostAsync("/dashboard/logout", new FormUrlEncodedContent(new Dictionary<string, string>()), Http.Ct))
            Assert.Equal(400, (int)bad.StatusCode); // no antiforgery token: not signed out
        using (var res = await client.PostAsync("/dashboard/logout", new FormUrlEncodedContent(new Dictionary<string, string> { ["__RequestVerificationToken"] = token }), Http.Ct))
            Assert.Equal(302, (int)res.StatusCode);
        Http.AssertError(await client.GetJsonAsync("/api-keys"), 401);
    }

    [Fact]
    public async Task ApiWithoutCredentials_Or_WithABadCookie_Gets401InE2BShape_NeverARedirect()
    {
        await using var host = await PortalHost.StartAsync();
        Http.AssertError(await host.Client(null).GetJsonAsync("/v2/sandboxes"), 401, "API key");
        var withCookie = host.Client(null);
        withCookie.DefaultRequestHeaders.Add("Cookie", "portal_session=forged");
        Http.AssertError(await withCookie.GetJsonAsync("/v2/sandboxes"), 401, "sign-in required");
        // A dashboard page without a session goes to the sign-in page instead.
        using var noRedirect = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false }) { BaseAddress = host.BaseAddress };
        using var res = await noRedirect.GetAsync("/dashboard/sandboxes", Http.Ct);
        Assert.Equal(302, (int)res.StatusCode);
        Assert.StartsWith("/dashboard/login", res.Headers.Location!.PathAndQuery);
    }

    [Fact]
    public async Task FiveFailures_LockTheAccount_EvenForTheRightPassword()
    {
        await using var host = await PortalHost.StartAsync();
        for (var i = 0; i < 5; i++) Assert.Equal(200, (await SignInAsync(host, "admin", "wrong-" + i)).Status); // the form again, with an error
        Assert.Equal(200, (await SignInAsync(host, "admin", PortalHost.AdminPassword)).Status);
    }

    [Theory]
    [InlineData(null, "/dashboard")]
    [InlineData("dashboard/sandboxes", "/dashboard/sandboxes")]
    [InlineData("/dashboard/api-keys", "/dashboard/api-keys")]
    [InlineData("https://evil.example/dashboard", "/dashboard")]
    [InlineData("//evil.example/dashboard", "/dashboard")]
    [InlineData("/v2/sandboxes", "/dashboard")]
    public void ReturnUrl_IsADashboardPathOnly(string? returnUrl, string expected) => Assert.Equal(expected, SignIn.SafeReturnUrl(returnUrl));
}
