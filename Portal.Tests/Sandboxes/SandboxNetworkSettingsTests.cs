using Portal.Core;
using Portal.Core.Sandboxes;

namespace Portal.Tests.Sandboxes;

/// <summary>E2B's validation of the network settings, message for message.</summary>
public sealed class SandboxNetworkSettingsTests
{
    [Theory]
    [InlineData(new[] { "example.com" }, "invalid denied CIDR example.com")]
    [InlineData(new[] { "0.0.0.0" }, "invalid denied CIDR 0.0.0.0")]
    [InlineData(new[] { "0.0.0.0/8" }, "invalid denied CIDR 0.0.0.0/8")]
    [InlineData(new[] { "::" }, "invalid denied CIDR ::")]
    [InlineData(new[] { "1.2.3.4/40" }, "invalid denied CIDR 1.2.3.4/40")]
    public void BadDenyOut(string[] deny, string message) =>
        Assert.Equal(message, Assert.Throws<DomainException>(() => SandboxNetworkSettings.ValidateEgress(null, deny)).Message);

    [Fact]
    public void GoodLists_Pass()
    {
        SandboxNetworkSettings.ValidateEgress(["1.1.1.1", "10.0.0.0/8", "example.com", "*.example.com", "*"], ["0.0.0.0/0", "8.8.8.8", "2001:db8::/32"]);
        SandboxNetworkSettings.ValidateEgress(null, null);
    }

    [Fact]
    public void UnspecifiedAllowedAddress_IsRefused() =>
        Assert.Equal("invalid allowed address 0.0.0.0", Assert.Throws<DomainException>(() => SandboxNetworkSettings.ValidateEgress(["0.0.0.0"], null)).Message);

    [Fact]
    public void Domains_NeedAllTrafficDenied() =>
        Assert.Equal("When specifying allowed domains in allow out, you must include 'ALL_TRAFFIC' in deny out to block all other traffic.",
            Assert.Throws<DomainException>(() => SandboxNetworkSettings.ValidateEgress(["example.com"], ["8.8.8.8"])).Message);

    [Theory]
    [InlineData("localhost:${PORT}", null)]
    [InlineData("custom-host.example.com", null)]
    [InlineData("host:notaport", "mask request host is not valid: host:notaport")]
    [InlineData("hôst:${PORT}", "mask request host 'hôst' is not ASCII. Please use ASCII characters only.")]
    public void Mask(string mask, string? message)
    {
        if (message is null) SandboxNetworkSettings.ValidateMask(mask);
        else Assert.Equal(message, Assert.Throws<DomainException>(() => SandboxNetworkSettings.ValidateMask(mask)).Message);
    }
}
