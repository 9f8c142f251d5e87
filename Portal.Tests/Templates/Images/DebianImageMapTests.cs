using Portal.Core;
using Portal.Core.Templates.Images;

namespace Portal.Tests.Templates.Images;

public sealed class DebianImageMapTests
{
    [Theory]
    [InlineData("debian:stable")]      // fromDebianImage()
    [InlineData("debian")]
    [InlineData("debian:bookworm")]
    [InlineData("debian:12")]
    [InlineData("debian:12.11-slim")]
    [InlineData("docker.io/library/debian:bookworm-slim")]
    [InlineData("python:3")]           // fromPythonImage()
    [InlineData("python:3.11")]
    [InlineData("python:3.11.2-slim-bookworm")]
    [InlineData("python:3.11-bookworm")]
    [InlineData("node:lts")]           // fromNodeImage()
    [InlineData("node:18")]
    [InlineData("node:18.19-slim")]
    [InlineData("node:lts-bookworm")]
    [InlineData("e2bdev/base")]        // fromBaseImage() and what an empty build starts from
    [InlineData("e2bdev/base:latest")]
    public void DebianBasedImages_MapOntoTheBaseTemplate(string image)
    {
        var result = Assert.IsType<DebianImageMap.Mapped>(DebianImageMap.Map(ImageReference.Parse(image)));
        Assert.Equal("base", result.TemplateId);
        Assert.Contains("bookworm", result.Note);
    }

    [Theory]
    [InlineData("python:3.12", "Python 3.12 is not available", "python:3.11")]
    [InlineData("python:3.13-slim", "Python 3.13 is not available", "Python 3.11")]
    [InlineData("python:3.11-alpine", "not available", "python:3.11")]
    [InlineData("python:3.11-bullseye", "not available", "bookworm")]
    [InlineData("node:20", "node:20 is not available", "Node.js 18")]
    [InlineData("node:22-alpine", "not available", "node:18")]
    [InlineData("debian:trixie", "debian:trixie is not available", "debian:bookworm")]
    [InlineData("debian:11", "not available", "Debian 12")]
    [InlineData("ubuntu:latest", "Ubuntu images are not available", "fromDebianImage()")] // fromUbuntuImage()
    [InlineData("ubuntu:22.04", "Ubuntu images are not available", "debian:bookworm")]
    public void VersionsBookwormDoesNotShip_AreRefused_NamingWhatIs(string image, string said, string offered)
    {
        var result = Assert.IsType<DebianImageMap.Unavailable>(DebianImageMap.Map(ImageReference.Parse(image)));
        Assert.Contains(said, result.Reason);
        Assert.Contains(offered, result.Reason);
    }

    [Theory]
    [InlineData("fedora:40")]
    [InlineData("alpine:3")]
    [InlineData("ghcr.io/acme/python:3.11")]                                        // another registry's "python"
    [InlineData("python@sha256:0000000000000000000000000000000000000000000000000000000000000000")] // exact bytes: only a registry has them
    public void OtherImages_AreNotMapped(string image) =>
        Assert.IsType<DebianImageMap.NotMapped>(DebianImageMap.Map(ImageReference.Parse(image)));

    [Theory]
    [InlineData("python:3.11", "docker.io", "library/python", "3.11", null)]
    [InlineData("e2bdev/base", "docker.io", "e2bdev/base", "latest", null)]
    [InlineData("127.0.0.1:5000/team/app:v2", "127.0.0.1:5000", "team/app", "v2", null)]
    [InlineData("localhost/app", "localhost", "app", "latest", null)]
    [InlineData("ghcr.io/a/b@sha256:1111111111111111111111111111111111111111111111111111111111111111", "ghcr.io", "a/b", "latest", "sha256:1111111111111111111111111111111111111111111111111111111111111111")]
    public void References_ParseLikeDocker(string image, string registry, string repository, string tag, string? digest)
    {
        var r = ImageReference.Parse(image);
        Assert.Equal((registry, repository, tag, digest), (r.Registry, r.Repository, r.Tag, r.Digest));
    }

    [Theory]
    [InlineData("")]
    [InlineData("Python:3")]
    [InlineData("python:3 && rm -rf /")]
    [InlineData("a/../b")]
    [InlineData("python@sha256:xyz")]
    public void BadReferences_AreRefused(string image) =>
        Assert.Throws<DomainException>(() => ImageReference.Parse(image));
}
