using Portal.Envd;
using Portal.Envd.Process;

// Helper mode: envd re-executes itself to start a process on a pseudo-terminal
// (new session, controlling tty), because .NET cannot hand a child an arbitrary fd.
if (args.Length > 0 && args[0] == PtyExec.Verb)
    return PtyExec.Run(args);

EnvdOptions options;
try
{
    if (args.Contains("--help") || args.Contains("-h"))
    {
        Console.WriteLine(EnvdOptions.Usage);
        return 0;
    }
    options = EnvdOptions.Parse(args);
}
catch (ArgumentException e)
{
    Console.Error.WriteLine($"portal-envd: {e.Message}");
    Console.Error.WriteLine(EnvdOptions.Usage);
    return 2;
}

InlineSocketCompletions.EnableUnlessConfigured();

// A daemon reads nothing from its own stdin; children started without stdin inherit this.
Portal.Envd.Native.Libc.RedirectStdinToDevNull();

var app = EnvdApp.Build(options);
await app.RunAsync();
return 0;
