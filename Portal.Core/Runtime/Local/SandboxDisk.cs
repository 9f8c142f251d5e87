using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Portal.Core.Runtime.Local;

/// <summary>
/// A sandbox's disk: its own ext4 file system in a sparse image file (<c>disk.img</c>) in the
/// sandbox's directory, loop-mounted at <c>disk/</c>, holding the overlay's <c>upper</c> and
/// <c>work</c> directories. Every write in the sandbox lands there, so the template's
/// <c>diskSizeMB</c> is a hard limit (ENOSPC inside) and a full sandbox costs the host at most
/// that much. The host file system has no project quotas (see docs/runtime-local.md), hence an image.
/// </summary>
internal static partial class SandboxDisk
{
    public const string ImageName = "disk.img";
    public const string MountName = "disk";

    public static string UpperOf(string sandboxDir) => Path.Combine(sandboxDir, MountName, "upper");
    public static string WorkOf(string sandboxDir) => Path.Combine(sandboxDir, MountName, "work");

    /// <summary>
    /// Blank file systems per size: mkfs runs once per size and process (it takes 100-300 ms,
    /// mostly waiting on fsync); each sandbox gets a sparse copy of its ~1 MB of metadata.
    /// </summary>
    private static readonly ConcurrentDictionary<int, Lazy<BlankImage>> Blanks = new();

    /// <summary>Makes the image, attaches it to a free loop device and mounts it at <c>disk/</c>.</summary>
    public static void Create(string sandboxDir, int sizeMB)
    {
        if (sizeMB <= 0) throw new ArgumentOutOfRangeException(nameof(sizeMB), sizeMB, "a sandbox's disk size must be positive");
        var blank = BlankOf(sizeMB, Path.GetDirectoryName(sandboxDir)!);
        var image = Path.Combine(sandboxDir, ImageName);
        var mount = Path.Combine(sandboxDir, MountName);
        Directory.CreateDirectory(mount);
        using (var file = File.OpenHandle(image, FileMode.CreateNew, FileAccess.ReadWrite))
        {
            blank.WriteTo(file);
            // The loop device keeps its own reference to the file; ours and the device's fd go
            // once mounted, so the device detaches itself (autoclear) when the mount ends, even
            // if the portal dies.
            using var loop = LoopDevice.Attach(file);
            if (Mount(loop.Path, mount, "ext4", 0, MountOptions) != 0)
                throw new IOException($"mount {loop.Path} ({image}) on {mount}: {Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())}");
        }
        Directory.CreateDirectory(UpperOf(sandboxDir));
        Directory.CreateDirectory(WorkOf(sandboxDir));
    }

    /// <summary>
    /// Mounts an existing image at <c>disk/</c> again (a boot after a filesystem pause). The old
    /// mount must be gone first: ext4 mounted twice through two loop devices would be corrupted,
    /// and the old loop device detaches itself (autoclear) only once its file system has gone
    /// with the sandbox's last process, so this waits (boundedly) for that.
    /// </summary>
    public static void Remount(string sandboxDir, TimeSpan timeout)
    {
        var image = Path.Combine(sandboxDir, ImageName);
        var mount = Path.Combine(sandboxDir, MountName);
        if (!File.Exists(image)) throw new IOException($"the sandbox's disk image {image} is missing");
        var until = Stopwatch.GetTimestamp() + (long)(timeout.TotalSeconds * Stopwatch.Frequency);
        while (IsAttached(image))
        {
            if (Stopwatch.GetTimestamp() > until) throw new IOException($"the sandbox's disk image {image} is still attached to a loop device (its old file system has not gone)");
            Thread.Sleep(10);
        }
        Directory.CreateDirectory(mount);
        using var file = File.OpenHandle(image, FileMode.Open, FileAccess.ReadWrite);
        using var loop = LoopDevice.Attach(file);
        if (Mount(loop.Path, mount, "ext4", 0, MountOptions) != 0)
            throw new IOException($"mount {loop.Path} ({image}) on {mount}: {Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())}");
    }

    /// <summary>Whether some loop device still has <paramref name="image"/> as its backing file.</summary>
    public static bool IsAttached(string image)
    {
        var full = Path.GetFullPath(image);
        foreach (var device in Directory.EnumerateDirectories("/sys/block", "loop*"))
        {
            try
            {
                var backing = Path.Combine(device, "loop", "backing_file"); // only while attached
                if (!File.Exists(backing)) continue;
                var name = File.ReadAllText(backing).Trim();
                if (name == full || name == full + " (deleted)") return true;
            }
            catch (IOException) { /* detached meanwhile */ }
        }
        return false;
    }

    private static BlankImage BlankOf(int sizeMB, string scratchDir)
    {
        var lazy = Blanks.GetOrAdd(sizeMB, s => new Lazy<BlankImage>(() => BlankImage.Make(s, scratchDir)));
        try { return lazy.Value; }
        catch
        {
            Blanks.TryRemove(KeyValuePair.Create(sizeMB, lazy)); // the next create tries mkfs again
            throw;
        }
    }

    /// <summary>
    /// Lazily unmounts <c>disk/</c>: the file system (and with it the loop device) goes once the
    /// overlay above it is gone too, i.e. when the sandbox's mount namespace ends. Idempotent.
    /// </summary>
    public static void Unmount(string sandboxDir) => NativeSignals.Unmount(Path.Combine(sandboxDir, MountName));

    /// <summary>Used and usable bytes of the sandbox's file system, as <c>df</c> inside the sandbox shows them.</summary>
    public static (long Used, long Total)? Usage(string sandboxDir)
    {
        // Not mounted (a sandbox being made or removed): disk/ is then a plain directory on the host's file system.
        if (StatVfs(Path.Combine(sandboxDir, MountName), out var st) != 0 || st.Blocks == 0
            || StatVfs(sandboxDir, out var host) != 0 || host.FsId == st.FsId) return null;
        var unit = (long)st.FragmentSize;
        return ((long)(st.Blocks - st.FreeBlocks) * unit, (long)st.Blocks * unit);
    }

    // noinit_itable: the image is sparse, so never-written inode tables already read as zeros;
    // the kernel's background zeroing would only fill the host disk with them (32 MB per 2 GB).
    // discard: files deleted in the sandbox give their space back to the host (holes punched).
    private const string MountOptions = "noinit_itable,discard";

    private sealed record BlankImage(long Size, IReadOnlyList<(long Offset, byte[] Data)> Extents)
    {
        private const string MkfsPath = "/sbin/mkfs.ext4";

        public void WriteTo(SafeFileHandle file)
        {
            RandomAccess.SetLength(file, Size);
            foreach (var (offset, data) in Extents) RandomAccess.Write(file, data, offset);
        }

        /// <summary>
        /// mkfs.ext4 without a journal (no jbd2 thread per sandbox; sandboxes do not outlive a
        /// host crash anyway), no reserved blocks (root inside gets the same limit as `user`),
        /// lazy inode tables; then keeps only the written parts of the file.
        /// </summary>
        public static BlankImage Make(int sizeMB, string scratchDir)
        {
            var path = Path.Combine(scratchDir, $".blank-{sizeMB}-{Guid.NewGuid():N}.img");
            try
            {
                if (!File.Exists(MkfsPath)) throw new InvalidOperationException($"{MkfsPath} is missing: sandbox disks are ext4 images; install e2fsprogs (scripts/install-deps.sh)");
                using (var f = File.Create(path)) f.SetLength(sizeMB * 1024L * 1024);
                Run(MkfsPath, "-q", "-F", "-b", "4096", "-m", "0", "-O", "^has_journal", "-E", "lazy_itable_init=1,lazy_journal_init=1,nodiscard", path);
                using var file = File.OpenHandle(path);
                var extents = new List<(long, byte[])>();
                var fd = (int)file.DangerousGetHandle();
                var size = RandomAccess.GetLength(file);
                for (long pos = 0; pos < size;)
                {
                    var data = Lseek(fd, pos, SeekData);
                    if (data < 0) break; // ENXIO: only a hole is left
                    var hole = Lseek(fd, data, SeekHole);
                    var chunk = new byte[hole - data];
                    var read = RandomAccess.Read(file, chunk, data);
                    if (read != chunk.Length) throw new IOException($"short read of {path} at {data}");
                    extents.Add((data, chunk));
                    pos = hole;
                }
                return new BlankImage(size, extents);
            }
            finally
            {
                File.Delete(path);
            }
        }
    }

    /// <summary>Loop devices through /dev/loop-control and LOOP_CONFIGURE: no losetup process per sandbox.</summary>
    private sealed class LoopDevice : IDisposable
    {
        private const ulong LoopCtlGetFree = 0x4C82, LoopConfigure = 0x4C0A;
        private const uint FlagAutoclear = 4, FlagDirectIo = 16;
        private const int EBUSY = 16, ENOENT = 2, EINVAL = 22;
        private readonly SafeFileHandle _device;

        public string Path { get; }

        private LoopDevice(string path, SafeFileHandle device) => (Path, _device) = (path, device);

        public static LoopDevice Attach(SafeFileHandle backing)
        {
            if (!File.Exists("/dev/loop-control"))
                throw new IOException("the local runtime needs loop devices for sandbox disks and /dev/loop-control is missing (load the kernel module: modprobe loop)");
            using var control = File.OpenHandle("/dev/loop-control", FileMode.Open, FileAccess.ReadWrite);
            // Concurrent creates may be handed the same free device; the loser gets EBUSY and asks again.
            for (var attempt = 0; attempt < 64; attempt++)
            {
                var n = Ioctl((int)control.DangerousGetHandle(), LoopCtlGetFree, IntPtr.Zero);
                if (n < 0) throw new IOException($"LOOP_CTL_GET_FREE: {Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())}");
                var path = $"/dev/loop{n}";
                EnsureNode(path, n);
                var device = File.OpenHandle(path, FileMode.Open, FileAccess.ReadWrite);
                // Direct I/O: the sandbox's pages are cached once, in its own file system, not
                // a second time as the image's pages on the host.
                var error = Configure(device, backing, FlagAutoclear | FlagDirectIo);
                if (error == EINVAL) error = Configure(device, backing, FlagAutoclear);
                if (error == 0) return new LoopDevice(path, device);
                device.Dispose();
                if (error != EBUSY) throw new IOException($"LOOP_CONFIGURE {path}: {Marshal.GetPInvokeErrorMessage(error)}");
            }
            throw new IOException("no free loop device after 64 attempts");
        }

        private static unsafe int Configure(SafeFileHandle device, SafeFileHandle backing, uint flags)
        {
            // struct loop_config { u32 fd; u32 block_size; struct loop_info64 info; u64 reserved[8]; }
            Span<byte> config = stackalloc byte[304];
            config.Clear();
            BinaryPrimitives.WriteUInt32LittleEndian(config, (uint)backing.DangerousGetHandle());
            BinaryPrimitives.WriteUInt32LittleEndian(config[4..], 4096); // ext4's block size: no read-modify-write
            BinaryPrimitives.WriteUInt32LittleEndian(config[(8 + 52)..], flags); // info.lo_flags
            fixed (byte* p = config)
                return Ioctl((int)device.DangerousGetHandle(), LoopConfigure, (IntPtr)p) == 0 ? 0 : Marshal.GetLastPInvokeError();
        }

        /// <summary>devtmpfs makes the node; without it (a minimal /dev) make it ourselves.</summary>
        private static void EnsureNode(string path, int n)
        {
            if (File.Exists(path)) return;
            const uint S_IFBLK = 0x6000;
            var dev = (7UL << 8) | ((ulong)n & 0xff) | (((ulong)n & ~0xffUL) << 12); // makedev(7, n)
            if (Mknod(path, S_IFBLK | 0x180, dev) != 0 && Marshal.GetLastPInvokeError() is var e && e != 17 /* EEXIST */)
                throw new IOException($"mknod {path}: {Marshal.GetPInvokeErrorMessage(e)}");
        }

        public void Dispose() => _device.Dispose();
    }

    private const int SeekData = 3, SeekHole = 4;

    [StructLayout(LayoutKind.Sequential)]
    private struct StatVfsBuf
    {
        public ulong BlockSize, FragmentSize, Blocks, FreeBlocks, AvailableBlocks, Files, FreeFiles, AvailableFiles, FsId, Flags, NameMax;
        public unsafe fixed int Spare[6];
    }

    [LibraryImport("libc", EntryPoint = "statvfs", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int StatVfs(string path, out StatVfsBuf buf);

    [LibraryImport("libc", EntryPoint = "lseek", SetLastError = true)]
    private static partial long Lseek(int fd, long offset, int whence);

    [LibraryImport("libc", EntryPoint = "ioctl", SetLastError = true)]
    private static partial int Ioctl(int fd, ulong request, IntPtr arg);

    [LibraryImport("libc", EntryPoint = "mknod", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Mknod(string path, uint mode, ulong dev);

    [LibraryImport("libc", EntryPoint = "mount", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Mount(string source, string target, string type, ulong flags, string data);

    private static void Run(string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file) { UseShellExecute = false, RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi) ?? throw new InvalidOperationException($"could not start {file}");
        var err = p.StandardError.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0) throw new InvalidOperationException($"{file} {string.Join(' ', args)} failed: {err.Trim()}");
    }
}
