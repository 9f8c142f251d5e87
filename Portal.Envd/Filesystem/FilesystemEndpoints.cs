using Portal.Envd.Connect;

namespace Portal.Envd.Filesystem;

public static class FilesystemEndpoints
{
    public static void MapFilesystem(this ConnectRouter router, IServiceProvider services)
    {
        // TODO(filesystem): filesystem.Filesystem procedures
    }
}

public sealed class WatcherRegistry;
