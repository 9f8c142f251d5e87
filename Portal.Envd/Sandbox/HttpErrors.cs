using System.Text.Json;

namespace Portal.Envd.Sandbox;

/// <summary>envd's plain-HTTP error shape: <c>{"code": 404, "message": "..."}</c>.</summary>
public static class HttpErrors
{
    public static async Task WriteAsync(HttpResponse response, int status, string message)
    {
        if (response.HasStarted) return;
        response.StatusCode = status;
        response.ContentType = "application/json";
        var body = JsonSerializer.SerializeToUtf8Bytes(new HttpError { Code = status, Message = message }, SandboxJsonContext.Default.HttpError);
        response.ContentLength = body.Length;
        await response.Body.WriteAsync(body);
    }
}
