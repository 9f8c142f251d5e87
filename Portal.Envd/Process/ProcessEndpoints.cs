using System.Threading.Channels;
using Portal.Envd.Connect;

namespace Portal.Envd.Process;

/// <summary>The <c>process.Process</c> Connect service.</summary>
public static class ProcessEndpoints
{
    private const string Service = "process.Process/";

    public static void MapProcess(this ConnectRouter router, IServiceProvider services)
    {
        var manager = services.GetRequiredService<ProcessManager>();
        services.GetRequiredService<IHostApplicationLifetime>().ApplicationStopping.Register(manager.KillAll);
        var json = ProcessJsonContext.Default;

        router.ServerStreaming(Service + "Start", json.StartRequest, json.ProcessEventResponse, ProcessEventResponse.KeepaliveMessage,
            async (req, ctx, stream) =>
            {
                var process = manager.Start(req, ctx.User, ctx.Timeout);
                var events = process.Subscribe();
                // Pump before anything can fail: a client gone before the start event must not
                // leave a process whose output nobody drains and whose end nobody records.
                process.Run();
                await stream.WriteAsync(Event(new ProcessEvent { Start = new StartEvent { Pid = process.Pid } }));
                await ForwardAsync(process, events, stream, ctx);
                // The kill's own end event can beat the call's cancellation to the stream: the
                // deadline is still what ended it, and the client must hear deadline_exceeded.
                if (process.DeadlinePassed)
                    throw new ConnectException(ConnectCode.DeadlineExceeded, $"process {process.Pid} exceeded its deadline of {ctx.Timeout?.TotalMilliseconds:0} ms and was killed");
            });

        router.ServerStreaming(Service + "Connect", json.ConnectRequest, json.ProcessEventResponse, ProcessEventResponse.KeepaliveMessage,
            async (req, ctx, stream) =>
            {
                var process = manager.Find(req.Process);
                var events = process.Subscribe();
                await stream.WriteAsync(Event(new ProcessEvent { Start = new StartEvent { Pid = process.Pid } }));
                await ForwardAsync(process, events, stream, ctx);
            });

        // Client streaming cannot be done over fetch; no SDK calls it.
        router.ServerStreaming(Service + "StreamInput", json.Empty, json.Empty, new Empty(), (_, _, _) =>
            throw new ConnectException(ConnectCode.Unimplemented, "StreamInput (client streaming) is not supported; use SendInput"));

        router.Unary(Service + "List", json.ListRequest, json.ListResponse, (_, _) =>
            Task.FromResult(new ListResponse
            {
                Processes = manager.List().Select(p => new ProcessInfo { Config = p.Config, Pid = p.Pid, Tag = p.Tag }).ToList(),
            }));

        router.Unary(Service + "SendInput", json.SendInputRequest, json.Empty, (req, _) =>
        {
            var process = Live(manager, req.Process);
            process.WriteInput(req.Input ?? throw ConnectException.InvalidArgument("input is required"));
            return Task.FromResult(new Empty());
        });

        router.Unary(Service + "SendSignal", json.SendSignalRequest, json.Empty, (req, _) =>
        {
            Live(manager, req.Process).Signal(req.Signal);
            return Task.FromResult(new Empty());
        });

        router.Unary(Service + "Update", json.UpdateRequest, json.Empty, (req, _) =>
        {
            var process = Live(manager, req.Process);
            if (req.Pty?.Size is { } size) process.Resize(size.Cols, size.Rows);
            return Task.FromResult(new Empty());
        });

        router.Unary(Service + "CloseStdin", json.CloseStdinRequest, json.Empty, (req, _) =>
        {
            Live(manager, req.Process).CloseStdin();
            return Task.FromResult(new Empty());
        });
    }

    private static ManagedProcess Live(ProcessManager manager, ProcessSelector? selector)
    {
        var p = manager.Find(selector);
        return p.Ended.IsCompleted ? throw ConnectException.NotFound($"process {p.Pid} has already ended") : p;
    }

    private static async Task ForwardAsync(ManagedProcess process, ChannelReader<ProcessEvent> events, ServerStream<ProcessEventResponse> stream, CallContext ctx)
    {
        try
        {
            await foreach (var e in events.ReadAllAsync(ctx.Cancellation))
                await stream.WriteAsync(Event(e), ctx.Cancellation);
        }
        finally
        {
            process.Unsubscribe(events);
        }
    }

    private static ProcessEventResponse Event(ProcessEvent e) => new() { Event = e };
}
