using Portal.Bench;

// Benchmark commands that print their numbers (docs/benchmarks.md). One verb per area.
var verb = args.FirstOrDefault();
switch (verb)
{
    case "runtime":
        return await RuntimeBench.RunAsync(args[1..]);
    default:
        Console.Error.WriteLine("usage: dotnet run -c Release --project Portal.Bench -- runtime [--envd PATH] [--templates DIR] [--max N]");
        Console.Error.WriteLine("(the envd benchmark is scripts/bench-envd.sh: it drives the real E2B SDK)");
        return 2;
}
