using Portal.Envd.Connect;
using Portal.Envd.Users;

namespace Portal.Envd.Filesystem;

/// <summary>
/// The <c>filesystem.Filesystem</c> Connect service; every operation runs as the caller's user,
/// except that MakeDir makes folders as E2B's envd does (<see cref="OwnedDirectories"/>).
/// </summary>
public static class FilesystemEndpoints
{
    private const string Service = "filesystem.Filesystem/";

    public static void MapFilesystem(this ConnectRouter router, IServiceProvider services)
    {
        var entries = services.GetRequiredService<EntryInfoReader>();
        var watchers = services.GetRequiredService<WatcherRegistry>();
        var json = FilesystemJsonContext.Default;

        router.Unary(Service + "Stat", json.PathRequest, json.EntryResponse, (req, ctx) =>
        {
            var path = PathResolver.Resolve(req.Path, ctx.User);
            return Task.FromResult(new EntryResponse { Entry = As(ctx.User, path, () => entries.Read(path)) });
        });

        router.Unary(Service + "MakeDir", json.PathRequest, json.EntryResponse, (req, ctx) =>
        {
            var path = PathResolver.Resolve(req.Path, ctx.User);
            // As envd itself, like uploads: see OwnedDirectories.
            var existing = Errors.Guard(path, () => entries.TryRead(path));
            if (existing is not null)
                throw existing.Type == FileType.Directory
                    ? new ConnectException(ConnectCode.AlreadyExists, $"directory '{path}' already exists")
                    : ConnectException.InvalidArgument($"path '{path}' already exists and is not a directory");
            OwnedDirectories.Ensure(path, ctx.User);
            var entry = Errors.Guard(path, () => entries.Read(path));
            return Task.FromResult(new EntryResponse { Entry = entry });
        });

        router.Unary(Service + "Move", json.MoveRequest, json.EntryResponse, (req, ctx) =>
        {
            var source = PathResolver.Resolve(req.Source, ctx.User);
            var destination = PathResolver.Resolve(req.Destination, ctx.User);
            var entry = As(ctx.User, source, () =>
            {
                var from = entries.TryRead(source) ?? throw ConnectException.NotFound($"path '{source}' does not exist");
                Directory.CreateDirectory(Path.GetDirectoryName(destination)!);
                if (from.Type == FileType.Directory) Directory.Move(source, destination);
                else File.Move(source, destination, overwrite: true);
                return entries.Read(destination);
            });
            return Task.FromResult(new EntryResponse { Entry = entry });
        });

        router.Unary(Service + "ListDir", json.ListDirRequest, json.ListDirResponse, (req, ctx) =>
        {
            var path = PathResolver.Resolve(req.Path, ctx.User);
            var depth = Math.Max(1u, req.Depth);
            var list = As(ctx.User, path, () =>
            {
                var root = entries.Read(path);
                if (root.Type != FileType.Directory) throw ConnectException.InvalidArgument($"path '{path}' is not a directory");
                var result = new List<EntryInfo>();
                Walk(entries, path, depth, result);
                return result;
            });
            return Task.FromResult(new ListDirResponse { Entries = list });
        });

        router.Unary(Service + "Remove", json.PathRequest, json.EmptyMessage, (req, ctx) =>
        {
            var path = PathResolver.Resolve(req.Path, ctx.User);
            As(ctx.User, path, () =>
            {
                var entry = entries.TryRead(path);
                if (entry is null) return 0;
                if (entry.Type == FileType.Directory && entry.SymlinkTarget is null) Directory.Delete(path, recursive: true);
                else File.Delete(path);
                return 0;
            });
            return Task.FromResult(new EmptyMessage());
        });

        router.ServerStreaming(Service + "WatchDir", json.WatchDirRequest, json.WatchDirResponse, WatchDirResponse.KeepaliveMessage,
            async (req, ctx, stream) =>
            {
                var path = PathResolver.Resolve(req.Path, ctx.User);
                using var watcher = new DirectoryWatcher(path, req.Recursive, req.IncludeEntry, ctx.User, entries);
                await stream.WriteAsync(new WatchDirResponse { Start = new StartMarker() });
                await foreach (var e in watcher.Events.ReadAllAsync(ctx.Cancellation))
                    await stream.WriteAsync(new WatchDirResponse { Filesystem = e }, ctx.Cancellation);
            });

        router.Unary(Service + "CreateWatcher", json.WatchDirRequest, json.CreateWatcherResponse, (req, ctx) =>
        {
            var path = PathResolver.Resolve(req.Path, ctx.User);
            var watcher = new DirectoryWatcher(path, req.Recursive, req.IncludeEntry, ctx.User, entries);
            return Task.FromResult(new CreateWatcherResponse { WatcherId = watchers.Add(watcher) });
        });

        router.Unary(Service + "GetWatcherEvents", json.WatcherRequest, json.WatcherEventsResponse, (req, _) =>
            Task.FromResult(new WatcherEventsResponse { Events = watchers.Drain(req.WatcherId) }));

        router.Unary(Service + "RemoveWatcher", json.WatcherRequest, json.EmptyMessage, (req, _) =>
        {
            watchers.Remove(req.WatcherId);
            return Task.FromResult(new EmptyMessage());
        });
    }

    private static T As<T>(EnvdUser user, string path, Func<T> work) => FsIdentity.RunAs(user, () => Errors.Guard(path, work));

    /// <summary>Lexical walk: each entry, then (within depth) its children; symlinked dirs are not descended.</summary>
    private static void Walk(EntryInfoReader entries, string dir, uint depth, List<EntryInfo> result)
    {
        var names = Directory.EnumerateFileSystemEntries(dir).Select(Path.GetFileName).OfType<string>().Order(StringComparer.Ordinal);
        foreach (var name in names)
        {
            var path = Path.Combine(dir, name);
            var entry = entries.TryRead(path);
            if (entry is null) continue;
            result.Add(entry);
            if (depth > 1 && entry.Type == FileType.Directory && entry.SymlinkTarget is null)
            {
                try { Walk(entries, path, depth - 1, result); }
                catch (UnauthorizedAccessException) { }
            }
        }
    }
}
