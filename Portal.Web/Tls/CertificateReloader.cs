using System.Security.Cryptography.X509Certificates;

namespace Portal.Web.Tls;

/// <summary>
/// Serves the PEM certificate and key from files and picks up new files without a restart
/// (a renewed certificate, or a Kubernetes TLS secret whose mount is swapped under us).
/// Checks the files' timestamps and sizes at most every <see cref="PollInterval"/>; a broken
/// new pair is logged and the last good certificate stays in service.
/// </summary>
public sealed class CertificateReloader : IDisposable
{
    private readonly string _certPath;
    private readonly string _keyPath;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly Timer _timer;
    private (DateTime, long, DateTime, long) _stamp;
    private X509Certificate2 _current;

    public static readonly TimeSpan PollInterval = TimeSpan.FromSeconds(2);

    public CertificateReloader(string certPath, string keyPath, ILogger logger, TimeProvider? time = null)
    {
        _certPath = certPath;
        _keyPath = keyPath;
        _logger = logger;
        _time = time ?? TimeProvider.System;
        _stamp = Stamp();
        _current = Load();
        _timer = new Timer(_ => ReloadIfChanged(), null, PollInterval, PollInterval);
    }

    public X509Certificate2 Current => Volatile.Read(ref _current);

    /// <summary>Raised after a new certificate went into service.</summary>
    public event Action<X509Certificate2>? Reloaded;

    /// <summary>Checks the files now; true when a new certificate was loaded.</summary>
    public bool ReloadIfChanged()
    {
        try
        {
            var stamp = Stamp();
            if (stamp == _stamp) return false;
            var next = Load();
            _stamp = stamp;
            if (next.Thumbprint == Current.Thumbprint) return false;
            Volatile.Write(ref _current, next);
            _logger.LogInformation("TLS certificate reloaded: {Subject}, expires {NotAfter:u}", next.Subject, next.NotAfter.ToUniversalTime());
            Reloaded?.Invoke(next);
            return true;
        }
        catch (Exception e) when (e is IOException or System.Security.Cryptography.CryptographicException or UnauthorizedAccessException)
        {
            // Half-written files during a swap land here; the next poll sees the complete pair.
            _logger.LogWarning("TLS certificate files changed but could not be loaded ({Message}); keeping the current certificate", e.Message);
            return false;
        }
    }

    private X509Certificate2 Load()
    {
        using var pem = X509Certificate2.CreateFromPemFile(_certPath, _keyPath);
        // Re-import as PKCS#12: SslStream on Linux needs a key that is not ephemeral.
        return X509CertificateLoader.LoadPkcs12(pem.Export(X509ContentType.Pkcs12), null);
    }

    private (DateTime, long, DateTime, long) Stamp()
    {
        var c = new FileInfo(_certPath);
        var k = new FileInfo(_keyPath);
        if (!c.Exists) throw new FileNotFoundException($"TLS certificate file not found: {_certPath}");
        if (!k.Exists) throw new FileNotFoundException($"TLS key file not found: {_keyPath}");
        return (c.LastWriteTimeUtc, c.Length, k.LastWriteTimeUtc, k.Length);
    }

    public void Dispose() => _timer.Dispose();
}
