using System.Security.Cryptography;
using System.Text;
using Npgsql;
using Portal.Core.Persistence;

namespace Portal.Tests.Persistence;

/// <summary>
/// The database the store and control-plane tests run on: a SQLite file in the test's data
/// directory by default; a PostgreSQL database of its own per data directory when
/// <c>PORTAL_TEST_POSTGRES</c> names a server (scripts/test.sh runs those suites both ways).
/// </summary>
public static class TestDatabase
{
    /// <summary>An Npgsql connection string for a role that may create databases, or null.</summary>
    public static string? Server => Environment.GetEnvironmentVariable("PORTAL_TEST_POSTGRES") is { Length: > 0 } s ? s : null;

    public static bool IsPostgres => Server is not null;

    /// <summary>What <c>Portal:Database</c> should say for a portal on <paramref name="dataDir"/>: null on SQLite.</summary>
    public static string? ConnectionStringFor(string dataDir)
    {
        if (Server is not { } server) return null;
        var name = NameFor(dataDir);
        using (var admin = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(server) { Database = "postgres", Pooling = false }.ToString()))
        {
            admin.Open();
            using var exists = new NpgsqlCommand("SELECT 1 FROM pg_database WHERE datname = @n", admin);
            exists.Parameters.AddWithValue("n", name);
            if (exists.ExecuteScalar() is null)
                try { new NpgsqlCommand($"CREATE DATABASE \"{name}\"", admin).ExecuteNonQuery(); }
                catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.DuplicateDatabase) { }
        }
        return new NpgsqlConnectionStringBuilder(server) { Database = name }.ToString();
    }

    /// <summary>
    /// Removes the PostgreSQL database of <paramref name="dataDir"/>, if any, as far as it can: a
    /// server process of another role (autovacuum) may hold it for a moment, and what is left then
    /// is dropped by <c>scripts/postgres-test.sh drop</c> after the run.
    /// </summary>
    public static void Drop(string dataDir)
    {
        if (Server is not { } server) return;
        NpgsqlConnection.ClearAllPools();
        using var admin = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(server) { Database = "postgres", Pooling = false }.ToString());
        admin.Open();
        for (var attempt = 0; attempt < 5; attempt++)
        {
            try
            {
                new NpgsqlCommand($"DROP DATABASE IF EXISTS \"{NameFor(dataDir)}\" WITH (FORCE)", admin).ExecuteNonQuery();
                return;
            }
            catch (PostgresException e) when (e.SqlState is PostgresErrorCodes.InsufficientPrivilege or PostgresErrorCodes.ObjectInUse)
            {
                Thread.Sleep(200);
            }
        }
    }

    public static EfPortalStore Store(string dataDir) =>
        EfPortalStore.Open(ConnectionStringFor(dataDir), Path.Combine(dataDir, "portal.db"));

    private static string NameFor(string dataDir) =>
        "portal_test_" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(Path.GetFullPath(dataDir))))[..20];
}
