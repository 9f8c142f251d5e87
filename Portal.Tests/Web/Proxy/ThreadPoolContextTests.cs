using System.Collections.Concurrent;
using Portal.Core.Threading;

namespace Portal.Tests.Web.Proxy;

/// <summary>
/// With inline socket completions, awaited I/O completes on epoll threads; code under
/// <see cref="ThreadPoolContext"/> (the control plane) must still start and resume on the thread pool.
/// </summary>
public class ThreadPoolContextTests
{
    [Fact]
    public async Task Run_FromAnIoThread_StartsAndResumesOnThePool()
    {
        var seen = new ConcurrentQueue<string>();
        Task? work = null;
        SynchronizationContext? callerContextAfter = new();
        // A dedicated thread stands in for an epoll thread: it starts the work and completes its I/O.
        var io = new Thread(() =>
        {
            work = ThreadPoolContext.Run(async () =>
            {
                seen.Enqueue(Describe("start"));
                var completion = new TaskCompletionSource(); // completes inline on the completing thread unless a context says otherwise
                new Thread(() => completion.SetResult()).Start();
                await completion.Task;
                seen.Enqueue(Describe("after I/O"));
                await Task.Delay(1, TestContext.Current.CancellationToken);
                seen.Enqueue(Describe("after timer"));
            });
            callerContextAfter = SynchronizationContext.Current;
        });
        io.Start();
        io.Join();
        await work!;

        Assert.Null(callerContextAfter); // the caller's context is left as it was
        Assert.Equal(["start: pool", "after I/O: pool", "after timer: pool"], seen.ToArray());
    }

    [Fact]
    public async Task Run_OnThePool_RunsSynchronouslyUnderTheContext()
    {
        var result = await Task.Run(() =>
        {
            var ranInline = false;
            var task = ThreadPoolContext.Run(() =>
            {
                ranInline = SynchronizationContext.Current is ThreadPoolContext;
                return Task.CompletedTask;
            });
            return (ranInline, task.IsCompletedSuccessfully, after: SynchronizationContext.Current);
        }, TestContext.Current.CancellationToken);
        Assert.True(result.ranInline);
        Assert.True(result.IsCompletedSuccessfully);
        Assert.Null(result.after);
    }

    [Fact]
    public async Task Start_OnThePool_RunsNoneOfTheWorkOnTheCallersTime()
    {
        // Work that cannot finish until the caller goes on: had Start run it inline, it would never return.
        using var gate = new ManualResetEventSlim();
        var ran = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        var returned = await Task.Run(() =>
        {
            ThreadPoolContext.Start(() =>
            {
                var waited = gate.Wait(TimeSpan.FromSeconds(30));
                ran.SetResult(waited && SynchronizationContext.Current is ThreadPoolContext);
                return Task.CompletedTask;
            });
            gate.Set();
            return true;
        }, TestContext.Current.CancellationToken);
        Assert.True(returned);
        Assert.True(await ran.Task.WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken));
    }

    private static string Describe(string step) =>
        $"{step}: {(Thread.CurrentThread.IsThreadPoolThread && SynchronizationContext.Current is ThreadPoolContext ? "pool" : "NOT the pool")}";

    [Theory]
    [InlineData(1, 1)]
    [InlineData(2, 1)]
    [InlineData(4, 1)]
    [InlineData(8, 2)]
    [InlineData(16, 4)]
    public void EpollThreads_OnePerFourCores_AtLeastOne(int cores, int threads) =>
        Assert.Equal(threads, InlineIo.EpollThreads(cores));
}
