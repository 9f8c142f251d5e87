namespace Portal.Core.Threading;

/// <summary>
/// Keeps code off the socket engine's I/O threads. The portal runs with inline socket completions
/// (<see cref="InlineIo"/>): a continuation after a socket read or write runs on the epoll thread
/// that saw it, which is what makes the proxy path cheap, and is only safe for code that never
/// blocks. Everything else (the control plane: SQLite is synchronous; background loops; the local
/// runtime's warm pools) runs under this context: it starts on the thread pool and every
/// <c>await</c> in it resumes on the thread pool, whichever thread completed the awaited I/O.
/// </summary>
public sealed class ThreadPoolContext : SynchronizationContext
{
    public static readonly ThreadPoolContext Instance = new();

    private ThreadPoolContext() { }

    public override void Post(SendOrPostCallback d, object? state) =>
        ThreadPool.QueueUserWorkItem(static s => Invoke(s.d, s.state), (d, state), preferLocal: false);

    public override SynchronizationContext CreateCopy() => this;

    private static void Invoke(SendOrPostCallback d, object? state)
    {
        var previous = Current;
        SetSynchronizationContext(Instance);
        try { d(state); }
        finally { SetSynchronizationContext(previous); }
    }

    /// <summary>
    /// Runs <paramref name="work"/> under this context: on the thread pool (hopping there first
    /// when called on any other thread, e.g. an epoll thread), and resuming there after every await.
    /// The caller's own context is untouched.
    /// </summary>
    public static Task Run<TState>(Func<TState, Task> work, TState state)
    {
        var previous = Current;
        SetSynchronizationContext(Instance);
        try { return Thread.CurrentThread.IsThreadPoolThread ? work(state) : HopAsync(work, state); }
        finally { SetSynchronizationContext(previous); }
    }

    public static Task Run(Func<Task> work) => Run(static w => w(), work);

    /// <summary>
    /// Starts <paramref name="work"/> under this context on a work item of its own and returns at
    /// once: unlike <see cref="Run(Func{Task})"/> on a pool thread, none of it runs on the caller's
    /// time, however long its synchronous first part is.
    /// </summary>
    public static void Start(Func<Task> work) =>
        ThreadPool.UnsafeQueueUserWorkItem(static w => _ = Run(w), work, preferLocal: false);

    private static async Task HopAsync<TState>(Func<TState, Task> work, TState state)
    {
        await Task.Yield(); // posts to Instance: the thread pool
        await work(state);
    }
}

/// <summary>
/// Inline socket completions (<c>DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=1</c>): the runtime
/// reads the variable once, when the first socket is created, so the portal sets it first thing
/// in <c>Main</c> unless the environment already says otherwise (<c>=0</c> turns it off).
/// With inline completions the socket engine's epoll threads do the proxy's work; one such thread
/// per four cores (<c>DOTNET_SYSTEM_NET_SOCKETS_THREAD_COUNT</c>, unless set) batches client and
/// sandbox events on fewer threads with fewer wake-ups (on 2 cores: 1 thread, ~15-20% less CPU per
/// proxied request than the runtime's default in docs/benchmarks.md's A/B).
/// </summary>
public static class InlineIo
{
    public const string Variable = "DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS";
    public const string ThreadCountVariable = "DOTNET_SYSTEM_NET_SOCKETS_THREAD_COUNT";

    /// <summary>Call before anything opens a socket.</summary>
    public static void EnableUnlessConfigured()
    {
        if (Environment.GetEnvironmentVariable(Variable) is null) Environment.SetEnvironmentVariable(Variable, "1");
        if (Enabled && Environment.GetEnvironmentVariable(ThreadCountVariable) is null)
            Environment.SetEnvironmentVariable(ThreadCountVariable, EpollThreads(Environment.ProcessorCount).ToString(System.Globalization.CultureInfo.InvariantCulture));
    }

    /// <summary>Socket engine threads for a machine with <paramref name="cores"/> cores: one per four, at least one.</summary>
    public static int EpollThreads(int cores) => Math.Max(1, cores / 4);

    /// <summary>Whether this process runs socket completions inline (as the runtime read it).</summary>
    public static bool Enabled => Environment.GetEnvironmentVariable(Variable) == "1";
}
