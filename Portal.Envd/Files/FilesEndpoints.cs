namespace Portal.Envd.Files;

public static class FilesEndpoints
{
    public static void MapFiles(this IEndpointRouteBuilder app, IServiceProvider services)
    {
        // TODO(files): GET/POST /files
    }
}
