using Portal.Envd.Connect;
using Portal.Envd.Native;

namespace Portal.Envd.Filesystem;

/// <summary>Maps OS failures to the Connect codes the SDKs turn into the right exceptions.</summary>
public static class Errors
{
    public static ConnectException FromErrno(int errno, string path, string what = "cannot access") => errno switch
    {
        Libc.ENOENT or Libc.ENOTDIR => ConnectException.NotFound($"path '{path}' does not exist"),
        Libc.EACCES or Libc.EPERM => ConnectException.PermissionDenied($"{what} '{path}': permission denied"),
        Libc.ENOSPC => new ConnectException(ConnectCode.ResourceExhausted, $"{what} '{path}': no space left on device"),
        Libc.ENOTSUP => ConnectException.InvalidArgument($"{what} '{path}': not supported by this file system"),
        _ => ConnectException.Internal($"{what} '{path}': errno {errno}"),
    };

    /// <summary>Wraps .NET I/O exceptions thrown inside file work.</summary>
    public static T Guard<T>(string path, Func<T> work)
    {
        try
        {
            return work();
        }
        catch (UnauthorizedAccessException)
        {
            throw ConnectException.PermissionDenied($"cannot access '{path}': permission denied");
        }
        catch (DirectoryNotFoundException)
        {
            throw ConnectException.NotFound($"path '{path}' does not exist");
        }
        catch (FileNotFoundException)
        {
            throw ConnectException.NotFound($"path '{path}' does not exist");
        }
        catch (IOException e) when ((e.HResult & 0xFFFF) == Libc.ENOSPC)
        {
            throw new ConnectException(ConnectCode.ResourceExhausted, $"'{path}': no space left on device");
        }
        catch (IOException e) when (e is not PathTooLongException)
        {
            throw ConnectException.Internal($"'{path}': {e.Message}");
        }
    }
}
