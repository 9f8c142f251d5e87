using System.Text;
using Npgsql;

namespace Portal.Tests.Persistence;

/// <summary>Everything the portal's database holds, as text: to prove a secret is not in it.</summary>
public static class StoredText
{
    public static async Task<string> AllAsync(string dataDir)
    {
        if (!TestDatabase.IsPostgres)
        {
            // The file and its WAL, bytes and all: whatever SQLite kept, wherever it kept it.
            var bytes = Directory.GetFiles(dataDir, "portal.db*").SelectMany(File.ReadAllBytes).ToArray();
            return Encoding.ASCII.GetString(bytes);
        }
        await using var conn = new NpgsqlConnection(TestDatabase.ConnectionStringFor(dataDir));
        await conn.OpenAsync();
        var tables = new List<string>();
        await using (var list = new NpgsqlCommand("SELECT tablename FROM pg_tables WHERE schemaname = 'public'", conn))
        await using (var r = await list.ExecuteReaderAsync())
            while (await r.ReadAsync()) tables.Add(r.GetString(0));
        var text = new StringBuilder();
        foreach (var t in tables)
        {
            await using var rows = new NpgsqlCommand($"SELECT t::text FROM \"{t}\" t", conn);
            await using var r = await rows.ExecuteReaderAsync();
            while (await r.ReadAsync()) text.AppendLine(r.GetString(0));
        }
        return text.ToString();
    }
}
