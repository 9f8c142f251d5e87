using System.Runtime.InteropServices;

namespace Portal.Envd.Process;

/// <summary>
/// How to start this envd binary again (for <see cref="PtyExec"/>): the native file under
/// NativeAOT or an apphost, else <c>dotnet portal-envd.dll</c> — also when envd is hosted
/// inside another program (the test runner), where the process path is not envd at all.
/// (RuntimeFeature.IsDynamicCodeSupported cannot tell NativeAOT apart: PublishAot turns it
/// off in JIT runs too.)
/// </summary>
public static class SelfCommand
{
    private static readonly Lazy<(string File, string[] Prefix)> Resolved = new(Resolve);

    public static string File => Resolved.Value.File;

    /// <summary>Arguments that go before the helper verb (the dll path for the dotnet host).</summary>
    public static IReadOnlyList<string> Prefix => Resolved.Value.Prefix;

    private static (string, string[]) Resolve()
    {
        var self = Environment.ProcessPath ?? throw new InvalidOperationException("cannot determine envd's own executable path");
        var assemblyName = typeof(SelfCommand).Assembly.GetName().Name!;
        var selfName = Path.GetFileNameWithoutExtension(self);
        if (selfName == assemblyName)
            return (self, []); // NativeAOT binary or apphost

        var dll = Path.Combine(AppContext.BaseDirectory, assemblyName + ".dll");
        if (selfName == "dotnet")
            return (self, [dll]);
        if (System.IO.File.Exists(dll))
            return (FindDotnetHost(), [dll]); // hosted by another program (the test runner)
        return (self, []); // a renamed NativeAOT binary (no dll beside it)
    }

    private static string FindDotnetHost()
    {
        // .../dotnet/shared/Microsoft.NETCore.App/<version>/ → .../dotnet/dotnet
        var runtimeDir = RuntimeEnvironment.GetRuntimeDirectory().TrimEnd('/');
        var root = Path.GetDirectoryName(Path.GetDirectoryName(Path.GetDirectoryName(runtimeDir)));
        foreach (var candidate in new[]
                 {
                     Environment.GetEnvironmentVariable("DOTNET_HOST_PATH"),
                     root is null ? null : Path.Combine(root, "dotnet"),
                     Environment.GetEnvironmentVariable("DOTNET_ROOT") is { } r ? Path.Combine(r, "dotnet") : null,
                 })
        {
            if (!string.IsNullOrEmpty(candidate) && System.IO.File.Exists(candidate)) return candidate;
        }
        return "dotnet";
    }
}
