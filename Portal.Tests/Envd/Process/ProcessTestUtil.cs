using System.Globalization;
using System.Text.Json.Nodes;

namespace Portal.Tests.Envd.Process;

internal static class ProcessTestUtil
{
    public static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>The sandbox user's uid here (1000 on CI images, may differ on dev machines).</summary>
    public static uint UserUid => uint.Parse(File.ReadLines("/etc/passwd").Select(l => l.Split(':')).First(f => f[0] == "user")[2], CultureInfo.InvariantCulture);

    public static string UserHome => File.ReadLines("/etc/passwd").Select(l => l.Split(':')).First(f => f[0] == "user")[5];

    /// <summary>True while the pid exists and is not a zombie.</summary>
    public static bool IsAlive(uint pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var state = stat[(stat.LastIndexOf(')') + 2)..][0];
            return state != 'Z' && state != 'X';
        }
        catch (IOException)
        {
            return false;
        }
    }

    public static async Task WaitUntilAsync(Func<bool> condition, TimeSpan timeout, string what)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"timed out waiting for {what}");
            await Task.Delay(50, Ct);
        }
    }

    public static async Task<List<uint>> ListPidsAsync(EnvdServer envd)
    {
        var (status, body) = await envd.UnaryAsync("process.Process/List", new { });
        Assert.Equal(200, status);
        return body!["processes"]?.AsArray().Select(p => p!["pid"]!.GetValue<uint>()).ToList() ?? [];
    }

    public static Task<(int Status, JsonNode? Body)> SignalAsync(EnvdServer envd, object selector, object signal) =>
        envd.UnaryAsync("process.Process/SendSignal", new { process = selector, signal });

    public static string B64(string s) => Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes(s));

    /// <summary>A follow-up call that must still work after a bad request.</summary>
    public static async Task AssertStillServesAsync(EnvdServer envd)
    {
        await using var s = await ProcessStream.RunAsync(envd, "echo still-alive");
        Assert.Equal("still-alive\n", s.Stdout);
    }
}
