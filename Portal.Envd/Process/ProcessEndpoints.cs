using Portal.Envd.Connect;
using Portal.Envd.Native;

namespace Portal.Envd.Process;

/// <summary>The process.Process Connect service (commands and terminals of the E2B SDKs).</summary>
public static class ProcessEndpoints
{
    public static void MapProcess(this ConnectRouter router, IServiceProvider services)
    {
        var manager = services.GetRequiredService<ProcessManager>();
        var json = ProcessJsonContext.Default;

        router.ServerStreaming("process.Process/Start", json.StartRequest, json.ProcessStreamResponse, ProcessStreamResponse.Keepalive,
            async (request, ctx, stream) =>
            {
                var (process, output) = manager.Start(request, ctx.User, ctx.Timeout);
                // The process has its own timer for after a disconnect; this one fires with the
                // stream's, so the kill does not trail the deadline_exceeded the client sees.
                using var kill = ctx.Deadline.Register(() => process.Signal(Libc.SIGKILL));
                using (output)
                {
                    await stream.WriteAsync(ProcessStreamResponse.Start(process.Pid), ctx.Cancellation);
                    await ForwardAsync(output, stream, ctx.Cancellation);
                }
            });

        router.ServerStreaming("process.Process/Connect", json.ConnectRequest, json.ProcessStreamResponse, ProcessStreamResponse.Keepalive,
            async (request, ctx, stream) =>
            {
                // Connect's own deadline ends this stream only; the process keeps running.
                var process = manager.Find(request.Process, includeExited: true);
                using var output = process.Subscribe();
                await stream.WriteAsync(ProcessStreamResponse.Start(process.Pid), ctx.Cancellation);
                await ForwardAsync(output, stream, ctx.Cancellation);
            });

        router.Unary("process.Process/List", json.ListRequest, json.ListResponse, (_, _) =>
            Task.FromResult(new ListResponse
            {
                Processes = [.. manager.Running.Select(p => new ProcessInfo { Config = p.Config, Pid = p.Pid, Tag = p.Tag })],
            }));

        router.Unary("process.Process/SendInput", json.SendInputRequest, json.EmptyResponse, async (request, ctx) =>
        {
            var process = manager.Find(request.Process);
            if (request.Input?.Pty is { } pty) await process.WritePtyAsync(pty, ctx.Cancellation);
            else if (request.Input?.Stdin is { } stdin) await process.WriteStdinAsync(stdin, ctx.Cancellation);
            else throw ConnectException.InvalidArgument("input needs stdin or pty bytes");
            return EmptyResponse.Instance;
        });

        router.Unary("process.Process/SendSignal", json.SendSignalRequest, json.EmptyResponse, (request, _) =>
        {
            var process = manager.Find(request.Process);
            var signal = request.Signal switch
            {
                ProcessSignal.Sigkill => Libc.SIGKILL,
                ProcessSignal.Sigterm => Libc.SIGTERM,
                _ => throw new ConnectException(ConnectCode.Unimplemented, $"invalid signal: {request.Signal}"),
            };
            process.Signal(signal);
            return Task.FromResult(EmptyResponse.Instance);
        });

        router.Unary("process.Process/Update", json.UpdateRequest, json.EmptyResponse, async (request, _) =>
        {
            var process = manager.Find(request.Process);
            if (request.Pty?.Size is { } size) await process.ResizeAsync(size.Cols, size.Rows);
            return EmptyResponse.Instance;
        });

        router.Unary("process.Process/CloseStdin", json.CloseStdinRequest, json.EmptyResponse, async (request, _) =>
        {
            var process = manager.Find(request.Process);
            await process.CloseStdinAsync();
            return EmptyResponse.Instance;
        });

        // Client streaming cannot be carried by fetch, so no SDK calls it; say so clearly.
        router.ServerStreaming("process.Process/StreamInput", json.StreamInputRequest, json.EmptyResponse, EmptyResponse.Instance,
            (_, _, _) => throw new ConnectException(ConnectCode.Unimplemented,
                "process.Process/StreamInput (client streaming) is not supported; use SendInput"));
    }

    /// <summary>Copies a subscription to the stream until the end event (then the channel completes).</summary>
    private static async Task ForwardAsync(Subscription output, ServerStream<ProcessStreamResponse> stream, CancellationToken ct)
    {
        await foreach (var message in output.Reader.ReadAllAsync(ct))
            await stream.WriteAsync(message, ct);
    }
}
