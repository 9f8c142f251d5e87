using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization.Metadata;

namespace Portal.Envd.Connect;

/// <summary>
/// proto3 JSON input rules the source-generated contracts cannot express alone:
/// parsers must accept snake_case field names as well as lowerCamelCase.
/// </summary>
public static class ProtoJson
{
    public static T Deserialize<T>(ReadOnlySpan<byte> json, JsonTypeInfo<T> typeInfo)
    {
        if (json.IsEmpty || IsWhitespace(json))
            json = "{}"u8;
        try
        {
            if (HasSnakeCaseProperty(json))
            {
                var node = JsonNode.Parse(json);
                node = Camelize(node);
                return node.Deserialize(typeInfo) ?? throw ConnectException.InvalidArgument("request message must be a JSON object");
            }
            return JsonSerializer.Deserialize(json, typeInfo) ?? throw ConnectException.InvalidArgument("request message must be a JSON object");
        }
        catch (JsonException e)
        {
            throw ConnectException.InvalidArgument($"invalid JSON request message: {e.Message}");
        }
        catch (FormatException e)
        {
            throw ConnectException.InvalidArgument($"invalid JSON request message: {e.Message}");
        }
        catch (InvalidOperationException e)
        {
            throw ConnectException.InvalidArgument($"invalid JSON request message: {e.Message}");
        }
    }

    private static bool IsWhitespace(ReadOnlySpan<byte> s)
    {
        foreach (var b in s)
            if (b is not ((byte)' ' or (byte)'\n' or (byte)'\r' or (byte)'\t')) return false;
        return true;
    }

    private static bool HasSnakeCaseProperty(ReadOnlySpan<byte> json)
    {
        if (json.IndexOf((byte)'_') < 0) return false;
        var reader = new Utf8JsonReader(json, new JsonReaderOptions { AllowTrailingCommas = false });
        try
        {
            while (reader.Read())
            {
                if (reader.TokenType == JsonTokenType.PropertyName && reader.ValueSpan.IndexOf((byte)'_') >= 0)
                    return true;
            }
        }
        catch (JsonException)
        {
            return false; // let the real parser report the error
        }
        return false;
    }

    private static JsonNode? Camelize(JsonNode? node)
    {
        switch (node)
        {
            case JsonObject obj:
            {
                var result = new JsonObject();
                foreach (var (key, value) in obj.ToList())
                {
                    obj.Remove(key);
                    result[ToCamel(key)] = Camelize(value);
                }
                return result;
            }
            case JsonArray arr:
            {
                var result = new JsonArray();
                foreach (var item in arr.ToList())
                {
                    arr.Remove(item);
                    result.Add(Camelize(item));
                }
                return result;
            }
            default:
                return node;
        }
    }

    private static string ToCamel(string name)
    {
        if (!name.Contains('_')) return name;
        var sb = new StringBuilder(name.Length);
        var upper = false;
        foreach (var c in name)
        {
            if (c == '_') { upper = sb.Length > 0; continue; }
            sb.Append(upper ? char.ToUpperInvariant(c) : c);
            upper = false;
        }
        return sb.ToString();
    }
}
