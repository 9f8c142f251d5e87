using Microsoft.Playwright;
using Portal.Tests.Api;
using static Portal.Tests.Web.Dashboard.Browser.DashboardBrowserFixture;

namespace Portal.Tests.Web.Dashboard.Browser;

/// <summary>The dashboard in a real browser against the real portal, runtime and SDK.</summary>
[Collection(DashboardBrowserCollection.Name)]
public sealed class DashboardBrowserTests(DashboardBrowserFixture f)
{
    /// <summary>
    /// Clicks <paramref name="trigger"/> and confirms its dialog. The live list re-renders rows as
    /// changes arrive; a click that lands on a row just being replaced is lost (its handler is
    /// gone), so the click is repeated, a bounded number of times, until the dialog shows.
    /// </summary>
    private static async Task ClickAndConfirmAsync(IPage page, ILocator trigger, string button)
    {
        var dialog = page.GetByRole(AriaRole.Dialog);
        for (var attempt = 1; ; attempt++)
        {
            await trigger.ClickAsync();
            try
            {
                await dialog.WaitForAsync(new() { Timeout = 5_000 });
                break;
            }
            catch (TimeoutException) when (attempt < 3) { }
        }
        await ConfirmAsync(page, button);
    }

    private static async Task ConfirmAsync(IPage page, string button)
    {
        await page.GetByRole(AriaRole.Dialog).GetByRole(AriaRole.Button, new() { Name = button, Exact = true }).ClickAsync();
        await page.GetByRole(AriaRole.Dialog).WaitForAsync(new() { State = WaitForSelectorState.Detached });
    }

    [Fact]
    public async Task SandboxFromSdk_AppearsWithoutReload_AndIsPausedResumedKilledFromTheUi()
    {
        var page = await f.SignInAsync();
        await AssertAccessibleAsync(page, "overview");
        await ScreenshotAsync(page, "overview");

        await GotoAsync(page, "/dashboard/sandboxes");
        var id = await f.CreateWithSdkAsync(PortalHost.AdminKey, "owner=browser-test");
        // No reload: the change stream brings the row into the open page.
        var row = page.Locator("tr").Filter(new() { HasText = id });
        await row.WaitForAsync(new() { Timeout = 15_000 });
        Assert.Equal("running", (await row.GetByTestId("state").InnerTextAsync()).Trim());
        await AssertAccessibleAsync(page, "sandboxes");
        await ScreenshotAsync(page, "sandboxes");

        await ClickAndConfirmAsync(page, row.GetByTestId("pause"), "Pause");
        await Assertions.Expect(row.GetByTestId("state")).ToHaveTextAsync("paused", new() { Timeout = 30_000 });

        await ClickAndConfirmAsync(page, row.GetByTestId("resume"), "Resume");
        await Assertions.Expect(row.GetByTestId("state")).ToHaveTextAsync("running", new() { Timeout = 30_000 });

        await ClickAndConfirmAsync(page, row.GetByTestId("kill"), "Kill");
        await Assertions.Expect(row).ToHaveCountAsync(0, new() { Timeout = 30_000 });
        var (status, _) = await f.Host.Admin.GetJsonAsync($"/sandboxes/{id}");
        Assert.Equal(404, status);
    }

    [Fact]
    public async Task Terminal_RunsInTheSandbox_AndAReloadFindsTheSameShell()
    {
        var id = await f.CreateWithSdkAsync(PortalHost.AdminKey);
        try
        {
            var page = await f.SignInAsync();
            await GotoAsync(page, $"/dashboard/sandboxes/{id}");
            var status = page.GetByTestId("terminal-status");
            await Assertions.Expect(status).ToContainTextAsync("started shell", new() { Timeout = 30_000 });
            await page.GetByTestId("terminal").ClickAsync();
            // The hostname proves the shell runs in the sandbox, not on the portal's host.
            await page.Keyboard.TypeAsync("export MARK=same-shell-$$; echo hello-from-terminal; hostname\n");
            var screen = page.Locator(".xterm-rows");
            await Assertions.Expect(screen).ToContainTextAsync("hello-from-terminal");
            await Assertions.Expect(screen).ToContainTextAsync(id);
            await AssertAccessibleAsync(page, "sandbox");
            await ScreenshotAsync(page, "sandbox");
            var pid = (await status.InnerTextAsync()).Split(' ')[^1];

            // Resize: the shell learns the new width (the PTY is resized through envd).
            var columns = new System.Text.RegularExpressions.Regex(@"cols-(a|b)=(\d+)");
            int Columns(string text, string which) => int.Parse(columns.Matches(text).Last(m => m.Groups[1].Value == which).Groups[2].Value);
            await page.Keyboard.TypeAsync("echo cols-a=$(tput cols)\n");
            await Assertions.Expect(screen).ToContainTextAsync(columns);
            var before = Columns(await screen.InnerTextAsync(), "a");
            await page.SetViewportSizeAsync(900, 800);
            await page.GetByTestId("terminal").ClickAsync();
            var narrower = false;
            for (var attempt = 0; attempt < 20 && !narrower; attempt++) // bounded: the resize reaches the PTY asynchronously
            {
                await page.Keyboard.TypeAsync("echo cols-b=$(tput cols)\n");
                await Assertions.Expect(screen).ToContainTextAsync(new System.Text.RegularExpressions.Regex(@"cols-b=\d+"));
                narrower = Columns(await screen.InnerTextAsync(), "b") < before;
                if (!narrower) await page.WaitForTimeoutAsync(250);
            }
            Assert.True(narrower, $"the shell still has {before} columns after the page narrowed");
            await page.SetViewportSizeAsync(1280, 800);

            // Paste (Ctrl+Shift+V) runs what the clipboard holds; copy (Ctrl+Shift+C) puts the selection there.
            await page.Context.GrantPermissionsAsync(["clipboard-read", "clipboard-write"]);
            await page.EvaluateAsync("() => navigator.clipboard.writeText('echo pasted-$((6*7))')");
            await page.GetByTestId("terminal").ClickAsync();
            await page.Keyboard.PressAsync("Control+Shift+V");
            await page.Keyboard.PressAsync("Enter");
            var pasted = page.Locator(".xterm-rows > div").Filter(new() { HasTextRegex = new System.Text.RegularExpressions.Regex("^pasted-42") });
            await pasted.First.WaitForAsync();
            // A triple click selects the line: at the row's place, on xterm's screen layer above the text.
            var box = (await pasted.First.BoundingBoxAsync())!;
            await page.Mouse.ClickAsync(box.X + 10, box.Y + box.Height / 2, new() { ClickCount = 3 });
            await page.Keyboard.PressAsync("Control+Shift+C");
            var copied = "";
            for (var attempt = 0; attempt < 20 && !copied.Contains("pasted-42"); attempt++)
            {
                copied = await page.EvaluateAsync<string>("() => navigator.clipboard.readText()");
                if (!copied.Contains("pasted-42")) await page.WaitForTimeoutAsync(250);
            }
            Assert.Contains("pasted-42", copied);

            await page.ReloadAsync();
            await WaitInteractiveAsync(page);
            await Assertions.Expect(status).ToHaveTextAsync($"attached to shell {pid}", new() { Timeout = 30_000 });
            await page.GetByTestId("terminal").ClickAsync();
            await page.Keyboard.TypeAsync("echo mark=$MARK\n");
            await Assertions.Expect(screen).ToContainTextAsync($"mark=same-shell-{pid}");
        }
        finally { await f.Host.Admin.DeleteJsonAsync($"/sandboxes/{id}"); }
    }

    /// <summary>
    /// Issue item: the dashboard's circuits never run on the socket engine's I/O threads, where the
    /// proxy's inline I/O runs. scripts/test.sh runs this suite with inline socket completions, as
    /// the portal process runs; every circuit activity of every test here is counted by thread.
    /// </summary>
    [Fact]
    public async Task CircuitActivities_NeverArriveOnTheSocketEngineThreads()
    {
        Assert.True(Portal.Core.Threading.InlineIo.Enabled,
            $"this suite must run with {Portal.Core.Threading.InlineIo.Variable}=1 (as scripts/test.sh runs it), or it cannot see what the portal process does");
        var telemetry = Microsoft.Extensions.DependencyInjection.ServiceProviderServiceExtensions.GetRequiredService<Portal.Core.Sandboxes.PortalTelemetry>(f.Host.Services);
        var before = telemetry.CircuitActivities;
        var id = await f.CreateWithSdkAsync(PortalHost.AdminKey);
        try
        {
            var page = await f.SignInAsync();
            await GotoAsync(page, $"/dashboard/sandboxes/{id}");
            await Assertions.Expect(page.GetByTestId("terminal-status")).ToContainTextAsync("started shell", new() { Timeout = 30_000 });
            await page.GetByTestId("terminal").ClickAsync();
            await page.Keyboard.TypeAsync("echo typed-through-the-circuit\n");
            await Assertions.Expect(page.Locator(".xterm-rows")).ToContainTextAsync("typed-through-the-circuit");
            await GotoAsync(page, "/dashboard/sandboxes");
        }
        finally { await f.Host.Admin.DeleteJsonAsync($"/sandboxes/{id}"); }
        Assert.True(telemetry.CircuitActivities > before, "no circuit activity was seen: the check counts nothing");
        Assert.Equal(0, telemetry.CircuitActivitiesOffPool);
    }

    /// <summary>
    /// The circuit gauges on <c>/metrics</c> follow a real page: one more circuit open while a
    /// dashboard page is open; leaving it counts a connection down and a closed circuit, and the
    /// gauge goes back. Other tests' pages may still be open, so counts are relative.
    /// </summary>
    [Fact]
    public async Task Metrics_CountACircuitOpen_WhileItsPageIsOpen_AndItsDisconnectAndCloseWhenLeft()
    {
        using var anonymous = f.Host.Client(null);
        var before = await CircuitMetricsAsync(anonymous);
        var page = await f.SignInAsync(); // the sign-in page is static; /dashboard is the one circuit
        var open = await CircuitMetricsAsync(anonymous, m => m.Open == before.Open + 1);
        Assert.Equal(before.Open + 1, open.Open);
        Assert.Equal(before.Closed, open.Closed);

        // Leaving the page (as a browser does when its tab closes) ends the circuit at once.
        await page.GotoAsync("about:blank");
        await page.Context.CloseAsync();
        var after = await CircuitMetricsAsync(anonymous, m => m.Open == before.Open && m.Closed > before.Closed && m.Disconnects > before.Disconnects);
        Assert.Equal(before.Open, after.Open);
        Assert.Equal(before.Closed + 1, after.Closed);
        Assert.Equal(before.Disconnects + 1, after.Disconnects);
    }

    /// <summary>
    /// A circuit whose WebSocket drops while its page stays open: the portal counts the connection
    /// down, the page shows Blazor's reconnect UI (#components-reconnect-modal: what
    /// Portal.Bench dashboard-load watches for) and the circuit comes back, never closed.
    /// </summary>
    [Fact]
    public async Task Metrics_CountADroppedCircuitConnection_AndThePageShowsTheReconnectUi()
    {
        using var anonymous = f.Host.Client(null);
        var page = await f.NewPageAsync();
        IWebSocketRoute? browserSide = null, serverSide = null;
        await page.RouteWebSocketAsync(new System.Text.RegularExpressions.Regex("/_blazor"), ws =>
        {
            var server = ws.ConnectToServer(); // frames pass through unchanged
            if (browserSide is null) (browserSide, serverSide) = (ws, server);
        });
        await page.GotoAsync("/dashboard/login");
        await SubmitSignInAsync(page, AdminUser, AdminPassword);
        await page.WaitForURLAsync("**/dashboard");
        await WaitInteractiveAsync(page);
        Assert.NotNull(browserSide);
        var before = await CircuitMetricsAsync(anonymous);

        await browserSide!.CloseAsync();
        await serverSide!.CloseAsync();
        await page.Locator("#components-reconnect-modal").WaitForAsync(new() { State = WaitForSelectorState.Attached, Timeout = 30_000 });
        var down = await CircuitMetricsAsync(anonymous, m => m.Disconnects > before.Disconnects);
        Assert.Equal(before.Disconnects + 1, down.Disconnects);
        Assert.Equal(before.Open, down.Open); // disconnected, kept for the browser to come back
        Assert.Equal(before.Closed, down.Closed);

        // Blazor reconnects on a new WebSocket to the same circuit: still one open, none closed.
        await page.Locator("#components-reconnect-modal").WaitForAsync(new() { State = WaitForSelectorState.Hidden, Timeout = 30_000 });
        var back = await CircuitMetricsAsync(anonymous);
        Assert.Equal(before.Open, back.Open);
        Assert.Equal(before.Closed, back.Closed);
        await page.Context.CloseAsync();
    }

    /// <summary>The circuit gauge and counters from <c>/metrics</c>; with <paramref name="until"/>, polled (bounded) until it holds.</summary>
    private static async Task<(long Open, long Disconnects, long Closed)> CircuitMetricsAsync(HttpClient client, Func<(long Open, long Disconnects, long Closed), bool>? until = null)
    {
        async Task<(long, long, long)> ReadAsync()
        {
            var text = await client.GetStringAsync("/metrics");
            long Value(string name) => long.Parse(text.Split('\n').Single(l => l.StartsWith(name + " ", StringComparison.Ordinal))[(name.Length + 1)..],
                System.Globalization.CultureInfo.InvariantCulture);
            return (Value("portal_dashboard_circuits_open"), Value("portal_dashboard_circuit_disconnects_total"), Value("portal_dashboard_circuits_closed_total"));
        }
        var m = await ReadAsync();
        for (var i = 0; i < 100 && until is not null && !until(m); i++) { await Task.Delay(100); m = await ReadAsync(); }
        return m;
    }

    [Fact]
    public async Task SandboxPage_ListsProcesses_ChartsMetrics_AndMovesFilesBothWays()
    {
        var id = await f.CreateWithSdkAsync(PortalHost.AdminKey);
        try
        {
            var page = await f.SignInAsync();
            await GotoAsync(page, $"/dashboard/sandboxes/{id}");
            // The terminal's shell is a process envd runs: the list shows it (refreshed by itself).
            var status = page.GetByTestId("terminal-status");
            await Assertions.Expect(status).ToContainTextAsync("started shell", new() { Timeout = 30_000 });
            var pid = (await status.InnerTextAsync()).Split(' ')[^1];
            var shell = page.GetByTestId("process-table").Locator("tr").Filter(new() { HasText = "/bin/bash -i -l" });
            await Assertions.Expect(shell.GetByTestId("process-pid")).ToHaveTextAsync(pid, new() { Timeout = 30_000 });

            // Samples of the real sandbox's cgroup arrive while the page is open.
            await Assertions.Expect(page.GetByTestId("cpu-chart")).ToBeVisibleAsync(new() { Timeout = 30_000 });
            await Assertions.Expect(page.GetByTestId("memory-now")).ToContainTextAsync(" MB of ");

            // Upload into the home directory, then download it back through the portal.
            var name = "from-browser-" + Guid.NewGuid().ToString("N")[..6] + ".txt";
            await page.Locator("input[type=file]").SetInputFilesAsync(new FilePayload { Name = name, MimeType = "text/plain", Buffer = "uploaded from the browser"u8.ToArray() });
            var link = page.GetByTestId("download").Filter(new() { HasText = name });
            await link.WaitForAsync(new() { Timeout = 30_000 });
            var download = await page.RunAndWaitForDownloadAsync(() => link.ClickAsync());
            Assert.Equal(name, download.SuggestedFilename);
            Assert.Equal("uploaded from the browser", await File.ReadAllTextAsync((await download.PathAsync())!, TestContext.Current.CancellationToken));
            var (exit, output, error) = await f.SdkAsync("read", PortalHost.AdminKey, id, $"/home/user/{name}"); // the SDK finds it in the sandbox
            Assert.True(exit == 0 && output == "uploaded from the browser", $"the file is not in the sandbox ({exit}): {output} {error}");
        }
        finally { await f.Host.Admin.DeleteJsonAsync($"/sandboxes/{id}"); }
    }

    [Fact]
    public async Task ApiKeyCreatedInTheUi_CreatesASandboxWithTheSdk_AndOnceRevokedIsRefused()
    {
        var page = await f.SignInAsync();
        await GotoAsync(page, "/dashboard/api-keys");
        await page.GetByTestId("key-name").FillAsync("browser-made");
        await page.GetByTestId("create-key").ClickAsync();
        var secret = (await page.GetByTestId("new-key-secret").InnerTextAsync()).Trim();
        Assert.Matches("^e2b_[0-9a-f]{40}$", secret);
        await AssertAccessibleAsync(page, "api keys");
        await ScreenshotAsync(page, "api-keys");

        var id = await f.CreateWithSdkAsync(secret);
        Assert.Equal(0, (await f.SdkAsync("list", secret)).Exit);

        var row = page.Locator("tr").Filter(new() { HasText = "browser-made" });
        await ClickAndConfirmAsync(page, row.GetByTestId("revoke"), "Revoke");
        await Assertions.Expect(row).ToHaveCountAsync(0);
        var (exit, _, error) = await f.SdkAsync("list", secret);
        Assert.True(exit == 3, $"expected the SDK's AuthenticationError, got exit {exit}: {error}");
        await f.Host.Admin.DeleteJsonAsync($"/sandboxes/{id}");
    }

    [Fact]
    public async Task ConfigurationPage_HeaderRoutingSettings_AreWhatTheSdkNeeds()
    {
        var page = await f.SignInAsync();
        await GotoAsync(page, "/dashboard/configuration");
        var way = page.GetByTestId("way-in").Filter(new() { HasText = "Header routing" });
        await Assertions.Expect(way.GetByTestId("way-in-state")).ToHaveTextAsync("works");
        var env = await way.GetByTestId("settings-env").InnerTextAsync();
        var url = env.Split('\n').Single(l => l.StartsWith("E2B_API_URL=", StringComparison.Ordinal))["E2B_API_URL=".Length..];
        Assert.Contains($"E2B_SANDBOX_URL={url}", env);
        // The settings as copied from the page take the real SDK to this portal.
        var (exit, _, error) = await f.SdkAtAsync(url, "list", PortalHost.AdminKey);
        Assert.True(exit == 0, $"the SDK with the page's settings failed ({exit}): {error}");
        await AssertAccessibleAsync(page, "configuration");
        await ScreenshotAsync(page, "configuration");
    }

    [Fact]
    public async Task WebhookRegisteredInTheUi_ToALoopbackReceiver_ListsItsDelivery()
    {
        const string secret = "browser-webhook-secret";
        await using var receiver = await Portal.Tests.Webhooks.WebhookReceiver.StartAsync(secret);
        var page = await f.SignInAsync();
        await GotoAsync(page, "/dashboard/webhooks");
        await page.GetByTestId("hook-name").FillAsync("browser-hook");
        await page.GetByTestId("hook-url").FillAsync(receiver.Url);
        await page.GetByTestId("hook-secret").FillAsync(secret);
        await page.GetByTestId("save-hook").ClickAsync();
        var row = page.Locator("tr").Filter(new() { HasText = "browser-hook" });
        await row.WaitForAsync();

        var id = await f.CreateWithSdkAsync(PortalHost.AdminKey);
        try
        {
            await row.GetByTestId("show-deliveries").ClickAsync();
            // The open list refreshes by itself: no reload, no click.
            var delivery = page.GetByTestId("delivery-table").Locator("tr").Filter(new() { HasText = id }).First;
            await delivery.WaitForAsync(new() { Timeout = 30_000 });
            await Assertions.Expect(delivery.GetByTestId("delivery-outcome")).ToHaveTextAsync("delivered");
            await Assertions.Expect(delivery.GetByTestId("delivery-status")).ToHaveTextAsync("200");
            await Assertions.Expect(delivery.GetByTestId("delivery-latency")).ToHaveTextAsync(new System.Text.RegularExpressions.Regex(@"^\d+ ms$"));
            Assert.Contains(receiver.Received, d => d.SandboxId == id && d.SignatureValid);
            await AssertAccessibleAsync(page, "webhooks");
            await ScreenshotAsync(page, "webhooks");

            await ClickAndConfirmAsync(page, row.GetByTestId("delete-hook"), "Delete");
            await Assertions.Expect(row).ToHaveCountAsync(0);
        }
        finally { await f.Host.Admin.DeleteJsonAsync($"/sandboxes/{id}"); }
    }

    [Fact]
    public async Task Member_SeesOnlyTheirTeamsSandboxes()
    {
        var (team, user, password, key) = await f.NewTeamWithMemberAsync("blue" + Guid.NewGuid().ToString("N")[..6]);
        var theirs = await f.CreateWithSdkAsync(key);
        var admins = await f.CreateWithSdkAsync(PortalHost.AdminKey);
        try
        {
            var admin = await f.SignInAsync();
            await GotoAsync(admin, "/dashboard/users");
            await AssertAccessibleAsync(admin, "users");
            await ScreenshotAsync(admin, "users");

            var page = await f.SignInAsync(user, password);
            await GotoAsync(page, "/dashboard/sandboxes");
            await page.Locator("tr").Filter(new() { HasText = theirs }).WaitForAsync();
            Assert.Equal(0, await page.Locator("tr").Filter(new() { HasText = admins }).CountAsync());
            Assert.Contains(team.Name, await page.GetByTestId("who").InnerTextAsync());
            // Nor through a direct link.
            await GotoAsync(page, $"/dashboard/sandboxes/{admins}");
            await Assertions.Expect(page.GetByTestId("not-found")).ToBeVisibleAsync();
        }
        finally
        {
            await f.Host.Admin.DeleteJsonAsync($"/sandboxes/{theirs}");
            await f.Host.Admin.DeleteJsonAsync($"/sandboxes/{admins}");
        }
    }

    [Fact]
    public async Task FiveWrongPasswords_LockTheAccount()
    {
        var (_, user, password, _) = await f.NewTeamWithMemberAsync("lock" + Guid.NewGuid().ToString("N")[..6]);
        var page = await f.NewPageAsync();
        await page.GotoAsync("/dashboard/login");
        await AssertAccessibleAsync(page, "sign-in");
        await ScreenshotAsync(page, "sign-in");
        for (var i = 0; i < 5; i++)
        {
            await SubmitSignInAsync(page, user, "wrong-password-" + i);
            await Assertions.Expect(page.GetByTestId("sign-in-error")).ToBeVisibleAsync();
        }
        await SubmitSignInAsync(page, user, password);
        await Assertions.Expect(page.GetByTestId("sign-in-error")).ToContainTextAsync("locked");
        Assert.Contains("/dashboard/login", page.Url);
    }
}
