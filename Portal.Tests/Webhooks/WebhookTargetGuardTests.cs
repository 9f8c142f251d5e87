using System.Net;
using Portal.Core.Webhooks;

namespace Portal.Tests.Webhooks;

/// <summary>The private-target rule: which addresses are refused, at save and at connect.</summary>
public class WebhookTargetGuardTests
{
    [Theory]
    [InlineData("127.0.0.1")] [InlineData("127.1.2.3")] [InlineData("::1")] [InlineData("10.1.2.3")] [InlineData("172.16.0.1")]
    [InlineData("172.31.255.255")] [InlineData("192.168.1.1")] [InlineData("169.254.169.254")] [InlineData("100.64.0.1")]
    [InlineData("100.127.255.255")] [InlineData("0.0.0.0")] [InlineData("::")] [InlineData("224.0.0.1")] [InlineData("255.255.255.255")]
    [InlineData("fe80::1")] [InlineData("fd00::1")] [InlineData("fc00::5")] [InlineData("ff02::1")] [InlineData("::ffff:127.0.0.1")]
    [InlineData("::ffff:169.254.169.254")] [InlineData("::10.0.0.1")] [InlineData("64:ff9b::a9fe:a9fe")]
    public void Refused(string address) => Assert.NotNull(WebhookTargetGuard.Refusal(IPAddress.Parse(address)));

    [Theory]
    [InlineData("1.1.1.1")] [InlineData("8.8.8.8")] [InlineData("172.32.0.1")] [InlineData("100.128.0.1")] [InlineData("169.255.0.1")]
    [InlineData("2606:4700::1111")] [InlineData("::ffff:8.8.8.8")]
    public void Allowed(string address) => Assert.Null(WebhookTargetGuard.Refusal(IPAddress.Parse(address)));

    [Theory]
    [InlineData("http://127.0.0.1/hook", "loopback")]
    [InlineData("http://[::1]:8080/hook", "loopback")]
    [InlineData("http://10.0.0.7/hook", "private")]
    [InlineData("http://169.254.169.254/latest/meta-data/", "link-local")]
    [InlineData("http://localhost:9999/hook", "loopback")]
    [InlineData("https://[fd12::1]/hook", "fc00::/7")]
    [InlineData("http://100.64.1.1/", "CGNAT")]
    [InlineData("http://0.0.0.0:80/", "unspecified")]
    public async Task SavedUrl_PrivateTargetRefused_UnlessAllowed(string url, string why)
    {
        var refusal = await WebhookTargetGuard.CheckUrlAsync(url, allowPrivateTargets: false, TestContext.Current.CancellationToken);
        Assert.NotNull(refusal);
        Assert.Contains(why, refusal);
        Assert.Contains("Portal:Webhooks:AllowPrivateTargets", refusal);
        Assert.Null(await WebhookTargetGuard.CheckUrlAsync(url, allowPrivateTargets: true, TestContext.Current.CancellationToken));
    }

    [Theory]
    [InlineData("ftp://example.com/x")] [InlineData("/relative")] [InlineData("example.com/hook")] [InlineData("http://user:pw@example.com/")]
    [InlineData("javascript:alert(1)")] [InlineData("file:///etc/passwd")]
    public async Task SavedUrl_NotHttpOrWithCredentials_Refused(string url) =>
        Assert.NotNull(await WebhookTargetGuard.CheckUrlAsync(url, allowPrivateTargets: true, TestContext.Current.CancellationToken));

    [Fact]
    public async Task Connect_ToANameResolvingToLoopback_Refused()
    {
        // What a rebinding name looks like at connect time: the check is on the addresses dialled.
        var e = await Assert.ThrowsAsync<WebhookTargetRefusedException>(async () =>
            await WebhookTargetGuard.ConnectAsync(new DnsEndPoint("localhost", 9), allowPrivateTargets: false, TestContext.Current.CancellationToken));
        Assert.Contains("loopback", e.Message);
    }
}
