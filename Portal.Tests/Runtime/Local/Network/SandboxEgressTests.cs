using System.Net;
using Portal.Core.Runtime;
using Portal.Core.Runtime.Local.Network;

namespace Portal.Tests.Runtime.Local.Network;

/// <summary>E2B's decision order and pattern rules, as the domain proxy applies them.</summary>
public sealed class SandboxEgressTests
{
    private static uint Ip(string s) => Ipv4Cidr.ToUInt(IPAddress.Parse(s));

    [Theory]
    [InlineData("example.com", "example.com", true)]
    [InlineData("example.com", "EXAMPLE.com.", true)]
    [InlineData("example.com", "www.example.com", false)]
    [InlineData("*.example.com", "www.example.com", true)]
    [InlineData("*.example.com", "a.b.example.com", true)]
    [InlineData("*.example.com", "example.com", false)]
    [InlineData("*.example.com", "badexample.com", false)]
    [InlineData("*", "anything.test", true)]
    [InlineData("example.com", null, false)]
    public void Domains_MatchExactly_OrAnySubdomain(string pattern, string? host, bool allowed) =>
        Assert.Equal(allowed, SandboxEgress.From([pattern], ["0.0.0.0/0"]).AllowsDomain(host));

    [Fact]
    public void AllowBeatsDeny_DenyBeatsDefault_DefaultAllows()
    {
        var e = SandboxEgress.From(["1.1.1.1", "192.0.2.0/24"], ["0.0.0.0/0"]);
        Assert.True(e.AllowsAddress(Ip("1.1.1.1")));
        Assert.True(e.AllowsAddress(Ip("192.0.2.77")));
        Assert.False(e.AllowsAddress(Ip("8.8.8.8")));
        var deny = SandboxEgress.From(null, ["8.8.8.8"]);
        Assert.False(deny.AllowsAddress(Ip("8.8.8.8")));
        Assert.True(deny.AllowsAddress(Ip("1.1.1.1")));
        Assert.True(SandboxEgress.Open.AllowsAddress(Ip("8.8.8.8")));
    }

    [Fact]
    public void NoInternetAccess_DeniesEverything_KeepsAllowOut()
    {
        var e = SandboxEgress.From(["1.1.1.1"], ["8.8.8.8"], allowInternetAccess: false);
        Assert.Equal([new Ipv4Cidr(0, 0)], e.DenyCidrs);
        Assert.True(e.AllowsAddress(Ip("1.1.1.1")));
        Assert.False(e.AllowsAddress(Ip("9.9.9.9")));
    }

    [Fact]
    public void CoveredEntries_AreDropped_SoNoElementsOverlap()
    {
        var e = SandboxEgress.From(["1.1.1.0/24", "1.1.1.1", "1.1.1.0/24", "8.8.8.8"], ["0.0.0.0/0", "8.8.8.8", "10.0.0.0/8"]);
        Assert.Equal(["1.1.1.0/24", "8.8.8.8/32"], e.AllowCidrs.Select(c => c.ToString()));
        Assert.Equal(["0.0.0.0/0"], e.DenyCidrs.Select(c => c.ToString()));
    }

    [Fact]
    public void Lists_RoundTrip()
    {
        var e = SandboxEgress.From(["10.1.2.3/8", "Example.COM", "*.x.test"], ["192.0.2.1"]);
        var (allow, deny) = e.ToLists();
        Assert.Equal(["10.0.0.0/8", "example.com", "*.x.test"], allow);
        Assert.Equal(["192.0.2.1/32"], deny);
        Assert.Equal(e.AllowDomains, SandboxEgress.From(allow, deny).AllowDomains);
    }

    [Theory]
    [InlineData("1.2.3.4", true)]
    [InlineData("1.2.3.4/33", false)]
    [InlineData("1.2.3", false)]
    [InlineData("0x01.2.3.4", false)]
    [InlineData("example.com", false)]
    [InlineData("::1", false)]
    public void Cidr_IsDottedDecimalIpv4Only(string text, bool ok) => Assert.Equal(ok, Ipv4Cidr.TryParse(text, out _));
}
