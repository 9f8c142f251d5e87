using Portal.Bench;

// Benchmark commands that print their numbers (docs/benchmarks.md). One verb per area.
var verb = args.FirstOrDefault();
switch (verb)
{
    case "runtime":
        return await RuntimeBench.RunAsync(args[1..]);
    case "proxy":
        return await ProxyBench.RunAsync(args[1..]);
    case "changes":
        return await ChangeStreamBench.RunAsync(args[1..]);
    case "webhooks":
        return await WebhookBench.RunAsync(args[1..]);
    case "disk":
        return await DiskBench.RunAsync(args[1..]);
    case "dashboard":
        return await DashboardBench.RunAsync(args[1..]);
    case "dashboard-load":
        return await DashboardLoadBench.RunAsync(args[1..]);
    case "kubernetes":
        return await KubernetesBench.RunAsync(args[1..]);
    case "network":
        return await NetworkBench.RunAsync(args[1..]);
    default:
        Console.Error.WriteLine("usage: dotnet run -c Release --project Portal.Bench -- runtime [--envd PATH] [--templates DIR] [--max N] [--idle-seconds S]");
        Console.Error.WriteLine("       dotnet run -c Release --project Portal.Bench -- disk [--size MB] [--burst N]");
        Console.Error.WriteLine("       dotnet run -c Release --project Portal.Bench -- kubernetes [--claims N] [--pods N]   (against the fake API server)");
        Console.Error.WriteLine("       (scripts/bench-network.sh: networking, with a fake internet; runs 'network')");
        Console.Error.WriteLine("       dotnet run -c Release --project Portal.Bench -- changes [--subscribers N] [--sandboxes N] [--rounds R]");
        Console.Error.WriteLine("       dotnet run -c Release --project Portal.Bench -- dashboard [--sandboxes N] [--rounds R] [--circuits C per batch] [--batches B]   (Debian's Chromium)");
        Console.Error.WriteLine("       dotnet run -c Release --project Portal.Bench -- webhooks [--sandboxes N] [--updates K] [--concurrency C]");
        Console.Error.WriteLine("       dotnet run -c Release --project Portal.Bench -- proxy --sandbox ID --token T --socket PATH --domain D --portal IP:PORT [--nginx IP:PORT]");
        Console.Error.WriteLine("       (scripts/bench-proxy.sh starts the portal, a sandbox and nginx, then runs 'proxy'; with BENCH_DASHBOARDS=N it runs 'dashboard-load')");
        Console.Error.WriteLine("(scripts/bench-portal.sh burst N: N concurrent creates through the portal's API with the real E2B SDK)");
        Console.Error.WriteLine("(the envd benchmark is scripts/bench-envd.sh: it drives the real E2B SDK)");
        return 2;
}
