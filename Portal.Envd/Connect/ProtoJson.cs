using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization.Metadata;

namespace Portal.Envd.Connect;

/// <summary>
/// proto3 JSON input rules the source-generated contracts cannot express alone:
/// parsers must accept snake_case field names as well as lowerCamelCase.
/// Keys of map fields (env var names, metadata keys) are data, not field names, and are
/// kept as sent; the contract's metadata tells which objects are maps.
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
                node = Camelize(node, typeInfo);
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

    private static JsonNode? Camelize(JsonNode? node, JsonTypeInfo? type)
    {
        switch (node)
        {
            case JsonObject obj when type?.Kind == JsonTypeInfoKind.Dictionary:
            {
                var values = ElementInfo(type);
                var result = new JsonObject();
                foreach (var (key, value) in obj.ToList())
                {
                    obj.Remove(key);
                    result[key] = Camelize(value, values);
                }
                return result;
            }
            case JsonObject obj:
            {
                var result = new JsonObject();
                foreach (var (key, value) in obj.ToList())
                {
                    obj.Remove(key);
                    var name = ToCamel(key);
                    result[name] = Camelize(value, PropertyInfo(type, name));
                }
                return result;
            }
            case JsonArray arr:
            {
                var items = type?.Kind == JsonTypeInfoKind.Enumerable ? ElementInfo(type) : null;
                var result = new JsonArray();
                foreach (var item in arr.ToList())
                {
                    arr.Remove(item);
                    result.Add(Camelize(item, items));
                }
                return result;
            }
            default:
                return node;
        }
    }

    private static JsonTypeInfo? PropertyInfo(JsonTypeInfo? type, string jsonName)
    {
        if (type is not { Kind: JsonTypeInfoKind.Object }) return null;
        foreach (var p in type.Properties)
            if (string.Equals(p.Name, jsonName, StringComparison.OrdinalIgnoreCase))
                return TypeInfo(type.Options, p.PropertyType);
        return null;
    }

    private static JsonTypeInfo? ElementInfo(JsonTypeInfo type) =>
        type.ElementType is { } t ? TypeInfo(type.Options, t) : null;

    private static JsonTypeInfo? TypeInfo(JsonSerializerOptions options, Type type) =>
        options.TryGetTypeInfo(Nullable.GetUnderlyingType(type) ?? type, out var info) ? info : null;

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
