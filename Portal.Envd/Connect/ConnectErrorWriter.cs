using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace Portal.Envd.Connect;

/// <summary>Writes Connect error JSON: <c>{"code":"not_found","message":"..."}</c>.</summary>
public static class ConnectErrorWriter
{
    // Error texts quote paths and media types: keep '+', quotes and non-ASCII readable.
    private static readonly JsonWriterOptions Options = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static byte[] ErrorJson(ConnectCode code, string message)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, Options))
        {
            w.WriteStartObject();
            w.WriteString("code", code.WireName());
            w.WriteString("message", message);
            w.WriteEndObject();
        }
        return ms.ToArray();
    }

    /// <summary>End-of-stream payload: <c>{}</c> or <c>{"error":{...}}</c>.</summary>
    public static byte[] EndStreamJson(ConnectException? error)
    {
        if (error is null) return "{}"u8.ToArray();
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, Options))
        {
            w.WriteStartObject();
            w.WritePropertyName("error");
            w.WriteStartObject();
            w.WriteString("code", error.Code.WireName());
            w.WriteString("message", error.Message);
            w.WriteEndObject();
            w.WriteEndObject();
        }
        return ms.ToArray();
    }

    public static async Task WriteUnaryErrorAsync(HttpResponse response, ConnectCode code, string message)
    {
        if (response.HasStarted) return;
        response.StatusCode = code.HttpStatus();
        response.ContentType = "application/json";
        var body = ErrorJson(code, message);
        response.ContentLength = body.Length;
        await response.Body.WriteAsync(body);
    }

    public static string Utf8(byte[] b) => Encoding.UTF8.GetString(b);
}
