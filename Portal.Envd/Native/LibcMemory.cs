using System.Runtime.InteropServices;

namespace Portal.Envd.Native;

/// <summary>Giving memory back to the kernel: glibc's malloc_trim and madvise.</summary>
internal static partial class Libc
{
    internal const int MADV_DONTNEED = 4;

    [LibraryImport("libc")]
    internal static partial int malloc_trim(nuint pad);

    [LibraryImport("libc", SetLastError = true)]
    internal static partial int madvise(nint addr, nuint length, int advice);
}
