// The FAKE Kubernetes API server + FAKE kubelet as a process of its own, for running a real
// portal process against it (scripts/e2e-portal-kubernetes.sh). Not a cluster: see FakeApiServer.
//
//   Portal.FakeKubernetes --envd PATH --kubeconfig OUT [--namespace NS] [--port N]
//
// Prints "ready" once listening; stops (killing every pod's processes) on SIGTERM or SIGINT.
using Portal.FakeKubernetes;

string? envd = null, kubeconfig = null, ns = "sandbox-system";
var port = 0;
for (var i = 0; i < args.Length; i++)
{
    switch (args[i])
    {
        case "--envd": envd = args[++i]; break;
        case "--kubeconfig": kubeconfig = args[++i]; break;
        case "--namespace": ns = args[++i]; break;
        case "--port": port = int.Parse(args[++i]); break;
        default:
            Console.Error.WriteLine($"unknown option {args[i]}; usage: Portal.FakeKubernetes --envd PATH --kubeconfig OUT [--namespace NS] [--port N]");
            return 2;
    }
}
if (envd is null || !File.Exists(envd) || kubeconfig is null)
{
    Console.Error.WriteLine("--envd (the published portal-envd, scripts/publish-envd.sh) and --kubeconfig are required");
    return 2;
}

var store = new FakeStore();
await using var server = await FakeApiServer.StartAsync(store, port);
await using var kubelet = new FakeKubelet(store, envd);
File.WriteAllText(kubeconfig, server.Kubeconfig(ns));
Console.WriteLine($"fake Kubernetes API server on {server.BaseAddress}, kubeconfig {kubeconfig}");
Console.WriteLine("ready");

var done = new TaskCompletionSource();
using var term = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGTERM, c => { c.Cancel = true; done.TrySetResult(); });
using var intr = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGINT, c => { c.Cancel = true; done.TrySetResult(); });
await done.Task;
Console.WriteLine($"fake kubelet: {kubelet.Started} pods started, {kubelet.Running} still running at the stop; API requests: " +
    string.Join(", ", server.Requests.GroupBy(r => $"{r.Verb} {r.Resource}").OrderBy(g => g.Key).Select(g => $"{g.Key} {g.Count()}")));
return 0;
