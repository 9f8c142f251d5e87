using Microsoft.AspNetCore.Builder;
using Portal.Tests.Api;
using Portal.Tests.Runtime.Local;

namespace Portal.Tests.Web.Proxy;

/// <summary>
/// The proxy suites run on both server transports: each class as it is, on the portal's epoll
/// transport (the default), and again as a class derived below, on Kestrel's socket transport
/// (<c>Portal:Transport=sockets</c>): the fast path writes to either kind of socket, and the
/// client side of every exchange differs between them.
/// </summary>
public abstract class TransportSuite
{
    protected virtual string Transport => "epoll";

    protected Task<PortalHost> StartPortalAsync(FakeSandboxRuntime? runtime = null, IDictionary<string, string?>? config = null, Action<WebApplicationBuilder>? configure = null)
    {
        var all = new Dictionary<string, string?>(config ?? new Dictionary<string, string?>()) { ["Portal:Transport"] = Transport };
        return PortalHost.StartAsync(runtime, config: all, configure: configure);
    }
}

public class Http1ConnectionProxyTestsOnSockets : Http1ConnectionProxyTests { protected override string Transport => "sockets"; }

public class Http1ForwarderTestsOnSockets : Http1ForwarderTests { protected override string Transport => "sockets"; }

public class ProxyTestsOnSockets : ProxyTests { protected override string Transport => "sockets"; }

public class RequestHeadDifferentialTestsOnSockets : RequestHeadDifferentialTests { protected override string Transport => "sockets"; }

[Collection(nameof(LocalRuntimeCollection))]
public class MisbehavingSandboxServerTestsOnSockets(LocalRuntimeFixture fixture) : MisbehavingSandboxServerTests(fixture) { protected override string Transport => "sockets"; }
