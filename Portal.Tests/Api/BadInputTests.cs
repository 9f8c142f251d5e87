using static Portal.Tests.Api.Http;

namespace Portal.Tests.Api;

/// <summary>Every malformed request gets a clear 4xx in E2B's shape and changes nothing.</summary>
public class BadInputTests
{
    public static TheoryData<string, int, string> BadCreateBodies => new()
    {
        { "{", 400, "invalid JSON" },
        { "[]", 400, "invalid JSON" },
        { "null", 400, "JSON object" },
        { "", 400, "required" },
        { "   ", 400, "required" },
        { "{}", 400, "templateID" },
        { """{"templateID":""}""", 400, "templateID" },
        { """{"templateID":5}""", 400, "templateID" },
        { """{"templateID":"base","timeout":"300"}""", 400, "timeout" },
        { """{"templateID":"base","timeout":-1}""", 400, "timeout" },
        { """{"templateID":"base","timeout":0}""", 400, "timeout" },
        { """{"templateID":"base","timeout":2592001}""", 400, "timeout" },
        { """{"templateID":"base","timeout":99999999999999999999999}""", 400, "timeout" },
        { """{"templateID":"base","timeout":1.5}""", 400, "timeout" },
        { """{"templateID":"base","metadata":"a=b"}""", 400, "metadata" },
        { """{"templateID":"base","metadata":{"a":1}}""", 400, "metadata" },
        { """{"templateID":"base","envVars":{"A":null}}""", 400, "envVars" },
        { """{"templateID":"base","envVars":[]}""", 400, "envVars" },
        { """{"templateID":"base","secure":"yes"}""", 400, "secure" },
        { """{"templateID":"base","autoPause":1}""", 400, "autoPause" },
        { """{"templateID":"base","templateID":"base"}""", 400, "invalid JSON" },
        { """{"templateID":"base"} trailing""", 400, "invalid JSON" },
        { """{"templateID":"no-such-template"}""", 400, "template 'no-such-template' not found" },
        { """{"templateID":"image-hidden"}""", 400, "template 'image-hidden' not found" },
    };

    [Theory]
    [MemberData(nameof(BadCreateBodies))]
    public async Task Create_BadBody_ClearError_NothingCreated(string body, int status, string message)
    {
        await using var host = await PortalHost.StartAsync();
        foreach (var route in new[] { "/v2/sandboxes", "/sandboxes" })
        {
            AssertError(await host.Admin.SendAsync(HttpMethod.Post, route, body), status, message);
        }
        Assert.Equal(0, host.Runtime.Count);
        Assert.Empty((await host.Admin.GetJsonAsync("/v2/sandboxes")).Body!.AsArray());
    }

    [Fact]
    public async Task Create_UnknownFieldsAreIgnored()
    {
        await using var host = await PortalHost.StartAsync();
        var (status, _) = await host.Admin.PostJsonAsync("/v2/sandboxes",
            """{"templateID":"base","mcp":null,"network":{"allowOut":["1.1.1.1"]},"volumeMounts":[],"autoResume":{"enabled":false},"somethingNew":42}""");
        Assert.Equal(201, status);
    }

    [Fact]
    public async Task Create_PropertyNamesMatchCaseInsensitively()
    {
        await using var host = await PortalHost.StartAsync();
        Assert.Equal(201, (await host.Admin.PostJsonAsync("/v2/sandboxes", """{"TemplateID":"base"}""")).Status);
    }

    [Fact]
    public async Task Create_WrongContentType_415()
    {
        await using var host = await PortalHost.StartAsync();
        AssertError(await host.Admin.SendAsync(HttpMethod.Post, "/v2/sandboxes", "<x/>", "application/xml"), 415, "application/json");
        Assert.Equal(0, host.Runtime.Count);
    }

    [Fact]
    public async Task Create_OversizedBody_413()
    {
        await using var host = await PortalHost.StartAsync();
        var big = """{"templateID":"base","metadata":{"x":" """ + new string('a', 2 * 1024 * 1024) + "\"}}";
        AssertError(await host.Admin.PostJsonAsync("/v2/sandboxes", big), 413, "larger than");
        // Without a Content-Length (chunked) too.
        using var req = new HttpRequestMessage(HttpMethod.Post, "/v2/sandboxes")
        {
            Content = new StreamContent(new MemoryStream(System.Text.Encoding.UTF8.GetBytes(big))),
        };
        req.Headers.TransferEncodingChunked = true;
        req.Content.Headers.ContentType = new("application/json");
        using var res = await host.Admin.SendAsync(req, Ct);
        Assert.Equal(413, (int)res.StatusCode);
        Assert.Contains("\"code\":413", await res.Content.ReadAsStringAsync(Ct));
        Assert.Equal(0, host.Runtime.Count);
    }

    [Fact]
    public async Task LifecycleRoutes_BadBodies_400_NothingChanged()
    {
        await using var host = await PortalHost.StartAsync();
        var id = (string)(await host.Admin.CreateSandboxAsync("""{"templateID":"base","timeout":600}"""))["sandboxID"]!;
        var end = await SandboxesApiTests.EndAt(host, id);

        AssertError(await host.Admin.PostJsonAsync($"/sandboxes/{id}/timeout", ""), 400, "required");
        AssertError(await host.Admin.PostJsonAsync($"/sandboxes/{id}/timeout", "{}"), 400, "timeout");
        AssertError(await host.Admin.PostJsonAsync($"/sandboxes/{id}/timeout", """{"timeout":"ten"}"""), 400, "timeout");
        AssertError(await host.Admin.PostJsonAsync($"/sandboxes/{id}/timeout", """{"timeout":31536000}"""), 400, "2592000");
        AssertError(await host.Admin.PostJsonAsync($"/v2/sandboxes/{id}/connect", """{"timeout":-5}"""), 400, "timeout");
        AssertError(await host.Admin.PostJsonAsync($"/sandboxes/{id}/connect", "{nope"), 400, "invalid JSON");
        AssertError(await host.Admin.PostJsonAsync($"/sandboxes/{id}/pause", "[1]"), 400, "invalid JSON");
        AssertError(await host.Admin.PostJsonAsync($"/sandboxes/{id}/refreshes", """{"duration":-1}"""), 400, "duration");

        Assert.Equal(end, await SandboxesApiTests.EndAt(host, id));
        Assert.Equal(Portal.Core.Runtime.SandboxState.Running, host.Runtime.StateOf(id));
    }

    [Theory]
    [InlineData("UPPERCASE")]
    [InlineData("has-dash")]
    [InlineData("dot.ted")]
    [InlineData("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")]
    [InlineData("doesnotexist")]
    [InlineData("%20")]
    public async Task InvalidOrUnknownSandboxIds_404(string id)
    {
        await using var host = await PortalHost.StartAsync();
        var e = Uri.EscapeDataString(id).Replace("%2520", "%20");
        AssertError(await host.Admin.GetJsonAsync($"/sandboxes/{e}"), 404, "not found");
        AssertError(await host.Admin.DeleteJsonAsync($"/sandboxes/{e}"), 404, "not found");
        AssertError(await host.Admin.PostJsonAsync($"/sandboxes/{e}/pause"), 404);
        AssertError(await host.Admin.PostJsonAsync($"/v2/sandboxes/{e}/connect"), 404);
        AssertError(await host.Admin.PostJsonAsync($"/sandboxes/{e}/timeout", """{"timeout":10}"""), 404);
        AssertError(await host.Admin.GetJsonAsync($"/sandboxes/{e}/metrics"), 404);
        AssertError(await host.Admin.GetJsonAsync($"/sandboxes/{e}/logs"), 404);
    }

    [Theory]
    [InlineData("limit=0", "limit")]
    [InlineData("limit=101", "limit")]
    [InlineData("limit=abc", "limit")]
    [InlineData("limit=1&limit=2", "limit")]
    [InlineData("nextToken=garbage!!", "nextToken")]
    [InlineData("nextToken=Zm9v", "nextToken")]
    [InlineData("state=dead", "state")]
    [InlineData("state=running,zombie", "state")]
    [InlineData("order=up", "order")]
    [InlineData("startedAfter=yesterday", "startedAfter")]
    [InlineData("metadata=novalue", "metadata")]
    [InlineData("metadata=%3Dv", "metadata")]
    // Malformed filters are refused, never read as a filter that matches nothing (an empty list)
    [InlineData("metadata=a%3D%25ZZ", "percent escape")]
    [InlineData("metadata=%25", "percent escape")]
    [InlineData("metadata=a%3Db%25252", "percent escape")]
    [InlineData("metadata=a%3Db%3Dc", "metadata")]
    [InlineData("metadata=a%3Db%26", "metadata")]
    [InlineData("metadata=a%3Db%26%26c%3Dd", "metadata")]
    public async Task ListV2_BadQuery_400(string query, string message)
    {
        await using var host = await PortalHost.StartAsync();
        AssertError(await host.Admin.GetJsonAsync("/v2/sandboxes?" + query), 400, message);
    }

    [Fact]
    public async Task UnknownRouteAndWrongMethod_JsonErrors()
    {
        await using var host = await PortalHost.StartAsync();
        AssertError(await host.Admin.GetJsonAsync("/no/such/route"), 404, "no such route");
        AssertError(await host.Admin.SendAsync(HttpMethod.Put, "/v2/sandboxes", "{}"), 405, "not allowed");
        AssertError(await host.Admin.SendAsync(HttpMethod.Patch, "/sandboxes/abc"), 405);
    }

    [Fact]
    public async Task AuthIsCheckedBeforeTheBody()
    {
        await using var host = await PortalHost.StartAsync();
        AssertError(await host.Client(null).PostJsonAsync("/v2/sandboxes", "{broken"), 401);
        AssertError(await host.Client("e2b_1111111111111111111111111111111111111111").PostJsonAsync("/v2/sandboxes", """{"templateID":"base"}"""), 401, "invalid API key");
        Assert.Equal(0, host.Runtime.Count);
    }

    [Fact]
    public async Task ProxyHeaders_Malformed_400()
    {
        await using var host = await PortalHost.StartAsync();
        var c = host.Client(null);
        foreach (var (id, port) in new[] { ("BAD-ID", "49983"), ("abc", "port"), ("abc", "0"), ("abc", "70000"), ("", "49983") })
        {
            using var req = new HttpRequestMessage(HttpMethod.Get, "/health");
            req.Headers.TryAddWithoutValidation("E2b-Sandbox-Id", id);
            req.Headers.TryAddWithoutValidation("E2b-Sandbox-Port", port);
            using var res = await c.SendAsync(req, Ct);
            Assert.Equal(400, (int)res.StatusCode);
            Assert.Contains("\"code\":400", await res.Content.ReadAsStringAsync(Ct));
        }
    }
}

public class MetadataFilterTests
{
    [Theory]
    [InlineData("a%3Db%252520c", "a", "b c")]         // raw query value of JS {a:'b c'} (the SDK encodes each pair, then the whole string)
    [InlineData("odd%2520key%3Da%252520b%25253Dc%252526d", "odd key", "a b=c&d")]
    [InlineData("k%3Dplus+sign", "k", "plus sign")]    // '+' is a space, as Go's QueryUnescape
    public void Parse_UndoesTheRemainingTwoLevels(string decodedOnce, string key, string value)
    {
        var filter = Portal.Core.Sandboxes.MetadataFilter.Parse(Uri.UnescapeDataString(decodedOnce));
        Assert.Equal(value, Assert.Single(filter!)
            is var kv && kv.Key == key ? kv.Value : throw new Xunit.Sdk.XunitException($"key {kv.Key}"));
    }

    [Fact]
    public void Parse_MultiplePairs_AllMustMatch()
    {
        var filter = Portal.Core.Sandboxes.MetadataFilter.Parse("a=1&b=2")!;
        Assert.True(Portal.Core.Sandboxes.MetadataFilter.Matches(new Dictionary<string, string> { ["a"] = "1", ["b"] = "2", ["c"] = "3" }, filter));
        Assert.False(Portal.Core.Sandboxes.MetadataFilter.Matches(new Dictionary<string, string> { ["a"] = "1" }, filter));
    }
}
