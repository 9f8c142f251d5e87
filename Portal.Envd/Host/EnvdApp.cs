using System.Net;
using Portal.Envd.Connect;
using Portal.Envd.Files;
using Portal.Envd.Filesystem;
using Portal.Envd.Process;
using Portal.Envd.Sandbox;
using Portal.Envd.Tunnel;
using Portal.Envd.Users;

namespace Portal.Envd;

/// <summary>Builds the envd web host; tests boot it in-process on a free port.</summary>
public static class EnvdApp
{
    public static WebApplication Build(EnvdOptions options, Action<ILoggingBuilder>? logging = null)
    {
        Process.ChildSignals.Install();
        // The empty builder: no configuration sources (no appsettings.json, no environment
        // variables, nothing that could start a file watcher: each watcher is an inotify
        // instance, and the kernel allows only 128 per user, shared by every sandbox), no
        // hosting-startup or console-logger machinery. The content root is named explicitly so
        // nothing looks at the working directory (often "/" inside a sandbox). This is most of
        // what makes the first /health come quickly and keeps the binary (and RSS) small.
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions
        {
            ContentRootPath = AppContext.BaseDirectory,
            EnvironmentName = "Production",
            ApplicationName = "portal-envd",
        });
        builder.WebHost.UseKestrelCore();
        // 64 KB buffers instead of 4 KB ones: 16x fewer socket reads and reader wake-ups on
        // uploads (see BlockMemoryPool). Registered last, so Kestrel's factory is replaced.
        builder.Services.AddSingleton<Microsoft.AspNetCore.Connections.IMemoryPoolFactory<byte>>(BlockMemoryPool.Instance);
        // The portal's epoll transport instead of the runtime's socket engine (EpollTransportFactory
        // says why); Linux only, as envd.
        if (OperatingSystem.IsLinux())
            builder.Services.AddSingleton<Microsoft.AspNetCore.Connections.IConnectionListenerFactory, Transport.EpollTransportFactory>();
        builder.Services.AddRoutingCore();
        builder.Logging.AddProvider(new StderrLoggerProvider(LogLevel.Warning));
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        logging?.Invoke(builder.Logging);

        builder.WebHost.ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            // Uploads are streamed to disk; no body size cap (disk full answers 507).
            k.Limits.MaxRequestBodySize = null;
            k.Limits.MinRequestBodyDataRate = null;
            k.Limits.MinResponseDataRate = null;
            // Uploads hold up to half of this unconsumed to write it in large pieces (FilesEndpoints).
            k.Limits.MaxRequestBufferSize = 1024 * 1024;
            k.Limits.KeepAliveTimeout = TimeSpan.FromMinutes(10);
            if (options.Socket is { } socket)
            {
                if (File.Exists(socket)) File.Delete(socket);
                k.ListenUnixSocket(socket);
            }
            else
            {
                var address = options.Host is "0.0.0.0" or "*" ? IPAddress.Any
                    : options.Host == "localhost" ? IPAddress.Loopback
                    : IPAddress.Parse(options.Host);
                k.Listen(address, options.Port);
            }
        });

        var state = new EnvdState(options.DefaultUser, options.AccessToken);
        var directory = new UserDirectory(options.EtcDirectory);
        var users = new UserResolver(directory, state);
        builder.Services.AddSingleton(state);
        builder.Services.AddSingleton(users);
        builder.Services.AddSingleton(new MetricsSampler());
        builder.Services.AddSingleton<ProcessManager>();
        builder.Services.AddSingleton<WatcherRegistry>();
        builder.Services.AddSingleton(directory);
        builder.Services.AddSingleton<EntryInfoReader>();

        var trimmer = new IdleMemoryTrimmer();
        builder.Services.AddSingleton(trimmer);

        var app = builder.Build();
        app.Use(trimmer.Middleware);
        app.UseMiddleware<AccessTokenMiddleware>();

        var router = new ConnectRouter(app, users, app.Logger);
        app.MapSandbox(state, app.Services.GetRequiredService<MetricsSampler>());
        router.MapProcess(app.Services);
        router.MapFilesystem(app.Services);
        app.MapFiles(app.Services);
        app.MapTunnel();
        app.MapFreeze();
        var start = options.StartCommand is { } command ? new StartCommand(command, options.ReadyCommand) : null;
        StartCommand.Map(app, start);
        if (start is not null) app.Lifetime.ApplicationStarted.Register(() => start.Run(app.Lifetime.ApplicationStopping));
        router.MapFallbacks();

        if (options.Socket is { } path)
        {
            // The portal connects as root; a sandbox user must not talk to envd's socket directly.
            app.Lifetime.ApplicationStarted.Register(() => File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite));
        }
        return app;
    }
}
