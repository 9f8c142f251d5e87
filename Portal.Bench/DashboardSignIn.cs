using Microsoft.Playwright;

namespace Portal.Bench;

/// <summary>The dashboard benches' browser: Debian's Chromium, one desktop-sized context signed in as the admin.</summary>
internal static class DashboardSignIn
{
    /// <returns>The page that signed in, now on the overview (the context keeps the cookie for every page).</returns>
    public static async Task<IPage> SignInAsync(IBrowserContext context, string password)
    {
        context.SetDefaultTimeout(60_000);
        var page = await context.NewPageAsync();
        await page.GotoAsync("/dashboard/login");
        await page.FillAsync("#username", "admin");
        await page.FillAsync("#password", password);
        await page.ClickAsync("button[type=submit]");
        await page.WaitForURLAsync("**/dashboard");
        return page;
    }

    public static Task<IBrowserContext> NewContextAsync(IBrowser browser, string baseUrl) =>
        browser.NewContextAsync(new() { BaseURL = baseUrl, ViewportSize = new() { Width = 1280, Height = 800 } });
}
