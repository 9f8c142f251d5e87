using Portal.Envd.Connect;

namespace Portal.Envd.Process;

public static class ProcessEndpoints
{
    public static void MapProcess(this ConnectRouter router, IServiceProvider services)
    {
        // TODO(process): process.Process procedures
    }
}

public sealed class ProcessManager;

public static class PtyExec
{
    public const string Verb = "__pty-exec";
    public static int Run(string[] args) => 127;
}
