using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace Portal.Core.Templates.Images;

/// <summary>
/// Reads one repository of a registry through the OCI distribution API: manifests by tag or digest,
/// blobs by digest, with the registry's token flow (401 + <c>WWW-Authenticate: Bearer realm=…</c>,
/// anonymous or with basic credentials) or plain basic auth.
/// Written here because NuGet has no maintained OCI registry client (Docker.DotNet talks to a Docker
/// daemon, which this host does not run); the part of the protocol a pull needs is a few requests.
/// </summary>
internal sealed class OciRegistryClient(HttpClient http, ImageReference image, RegistryCredentials? credentials, ImageOptions options) : IOciImageSource
{
    private static readonly string[] ManifestTypes =
        [OciMediaTypes.Index, OciMediaTypes.Manifest, OciMediaTypes.DockerList, OciMediaTypes.DockerManifest];

    private readonly string _base = $"{(options.IsInsecure(image.Registry) ? "http" : "https")}://{ImageOptions.ApiHost(image.Registry)}/v2/{image.Repository}";
    private AuthenticationHeaderValue? _auth;

    public string Name => image.ToString();

    public async Task<byte[]> GetManifestAsync(string reference, int maxBytes, CancellationToken ct)
    {
        using var res = await SendAsync(() =>
        {
            var req = new HttpRequestMessage(HttpMethod.Get, $"{_base}/manifests/{reference}");
            foreach (var t in ManifestTypes) req.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue(t));
            return req;
        }, ct);
        await using var body = await res.Content.ReadAsStreamAsync(ct);
        using var ms = new MemoryStream();
        await OciLayoutSource.CopyAtMostAsync(body, ms, maxBytes, ct);
        if (ms.Length > maxBytes) throw ImageErrors.Refused($"{Name}: the manifest is larger than {maxBytes} bytes");
        return ms.ToArray();
    }

    public async Task CopyBlobAsync(OciDescriptor blob, Stream destination, CancellationToken ct)
    {
        using var res = await SendAsync(() => new HttpRequestMessage(HttpMethod.Get, $"{_base}/blobs/{blob.Digest}"), ct);
        await using var body = await res.Content.ReadAsStreamAsync(ct);
        await OciLayoutSource.CopyAtMostAsync(body, destination, blob.Size, ct);
    }

    /// <summary>Sends, answering one authentication challenge; a non-success answer becomes a <see cref="DomainException"/>.</summary>
    private async Task<HttpResponseMessage> SendAsync(Func<HttpRequestMessage> request, CancellationToken ct)
    {
        for (var attempt = 0; ; attempt++)
        {
            using var req = request();
            req.Headers.Authorization = _auth;
            HttpResponseMessage res;
            try { res = await http.SendAsync(req, HttpCompletionOption.ResponseHeadersRead, ct); }
            catch (HttpRequestException e) { throw new DomainException(DomainErrorKind.Unavailable, $"{Name}: registry {image.Registry} is not reachable: {e.Message}", e); }
            if (res.IsSuccessStatusCode) return res;
            using (res)
            {
                if (res.StatusCode == HttpStatusCode.Unauthorized && attempt == 0)
                {
                    _auth = await AnswerChallengeAsync(res.Headers.WwwAuthenticate, ct);
                    continue;
                }
                throw ImageErrors.Refused(res.StatusCode switch
                {
                    HttpStatusCode.NotFound => $"{Name}: not found in the registry",
                    HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden => $"{Name}: the registry denied access{(credentials is null ? " (no credentials given: fromImage(image, {{username, password}}))" : " with the credentials given")}",
                    _ => $"{Name}: the registry answered {(int)res.StatusCode} {res.ReasonPhrase}",
                });
            }
        }
    }

    private async Task<AuthenticationHeaderValue> AnswerChallengeAsync(HttpHeaderValueCollection<AuthenticationHeaderValue> challenges, CancellationToken ct)
    {
        var basic = Basic();
        foreach (var c in challenges)
        {
            if (c.Scheme.Equals("Bearer", StringComparison.OrdinalIgnoreCase)) return new("Bearer", await FetchTokenAsync(Parameters(c.Parameter), basic, ct));
            if (c.Scheme.Equals("Basic", StringComparison.OrdinalIgnoreCase) && basic is not null) return basic;
        }
        throw ImageErrors.Refused($"{Name}: the registry wants credentials{(credentials is null ? " (none given: fromImage(image, {username, password}))" : " it did not offer a way to send")}");
    }

    private AuthenticationHeaderValue? Basic() =>
        credentials?.Fields.GetValueOrDefault("username") is { } u && credentials.Fields.GetValueOrDefault("password") is { } p
            ? new("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes(u + ":" + p)))
            : null;

    private async Task<string> FetchTokenAsync(Dictionary<string, string> challenge, AuthenticationHeaderValue? basic, CancellationToken ct)
    {
        if (!challenge.TryGetValue("realm", out var realm) || !Uri.TryCreate(realm, UriKind.Absolute, out var realmUri)
            || realmUri.Scheme is not ("https" or "http"))
            throw ImageErrors.Refused($"{Name}: the registry's token challenge has no usable realm");
        // The token service gets the user's credentials: only hosts the operator allowed, and over
        // plain HTTP only where the registry itself is allowed to be plain.
        var authority = realmUri.IsDefaultPort ? realmUri.Host : $"{realmUri.Host}:{realmUri.Port}";
        if (!options.IsAllowed(authority) && !string.Equals(authority, ImageOptions.ApiHost(image.Registry), StringComparison.OrdinalIgnoreCase))
            throw ImageErrors.Refused($"{Name}: the registry sends clients to token service '{authority}', which is not among Portal:Templates:Images:AllowedRegistries");
        if (realmUri.Scheme == "http" && !options.IsInsecure(authority) && !options.IsInsecure(image.Registry))
            throw ImageErrors.Refused($"{Name}: the registry's token service '{realm}' is plain HTTP");
        var query = new List<string>();
        if (challenge.TryGetValue("service", out var service)) query.Add("service=" + Uri.EscapeDataString(service));
        query.Add("scope=" + Uri.EscapeDataString(challenge.GetValueOrDefault("scope") ?? $"repository:{image.Repository}:pull"));
        var url = new UriBuilder(realmUri) { Query = string.Join('&', [.. (realmUri.Query.Length > 1 ? [realmUri.Query[1..]] : Array.Empty<string>()), .. query]) }.Uri;
        using var req = new HttpRequestMessage(HttpMethod.Get, url);
        req.Headers.Authorization = basic;
        using var res = await http.SendAsync(req, HttpCompletionOption.ResponseHeadersRead, ct);
        if (!res.IsSuccessStatusCode)
            throw ImageErrors.Refused($"{Name}: the registry's token service answered {(int)res.StatusCode}{(res.StatusCode == HttpStatusCode.Unauthorized ? " (credentials refused)" : "")}");
        await using var body = await res.Content.ReadAsStreamAsync(ct);
        using var ms = new MemoryStream();
        await OciLayoutSource.CopyAtMostAsync(body, ms, 1 << 20, ct);
        try
        {
            using var doc = JsonDocument.Parse(ms.ToArray());
            foreach (var key in new[] { "token", "access_token" })
                if (doc.RootElement.TryGetProperty(key, out var t) && t.GetString() is { Length: > 0 } token) return token;
        }
        catch (JsonException) { }
        throw ImageErrors.Refused($"{Name}: the registry's token service gave no token");
    }

    /// <summary>Parses <c>realm="…",service="…",scope="…"</c> (quoted values may hold commas).</summary>
    internal static Dictionary<string, string> Parameters(string? text)
    {
        var result = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        var i = 0;
        while (text is not null && i < text.Length)
        {
            while (i < text.Length && (text[i] == ',' || text[i] == ' ')) i++;
            var eq = text.IndexOf('=', i);
            if (eq < 0) break;
            var key = text[i..eq].Trim();
            i = eq + 1;
            var value = new StringBuilder();
            if (i < text.Length && text[i] == '"')
            {
                for (i++; i < text.Length && text[i] != '"'; i++)
                    value.Append(text[i] == '\\' && i + 1 < text.Length ? text[++i] : text[i]);
                i++;
            }
            else
                for (; i < text.Length && text[i] != ','; i++) value.Append(text[i]);
            result[key] = value.ToString().Trim();
        }
        return result;
    }
}
