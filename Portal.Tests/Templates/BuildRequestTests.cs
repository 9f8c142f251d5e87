using System.Text.Json;
using Portal.Core;
using Portal.Core.Templates;

namespace Portal.Tests.Templates;

public class BuildRequestTests
{
    private static BuildRequest Parse(string json) => BuildRequest.Parse(JsonDocument.Parse(json).RootElement);

    [Fact]
    public void TheSdksExample_ParsesEveryStep_AndIgnoresUnknownKeys()
    {
        var r = Parse("""
            {"startCmd":"python -m http.server 8000","readyCmd":"[ -n \"$(ss -Htuln sport = :8000)\" ]",
             "steps":[
              {"type":"RUN","args":["apt-get update","root"],"force":false},
              {"type":"COPY","args":["*.txt","/data/","",""],"force":true,"forceUpload":true,"resolveSymlinks":true,"gzip":false,"filesHash":"f6265388d8996df0af24bffbdd2b56c3092ef29fa9c291c1b713af64154a2d63"},
              {"type":"ENV","args":["FOO","bar","X","1"],"force":false},
              {"type":"WORKDIR","args":["/app"],"force":false},
              {"type":"USER","args":["user"],"force":false}],
             "force":false,"fromTemplate":"base"}
            """);
        Assert.Equal("base", r.FromTemplate);
        Assert.Null(r.FromImage);
        Assert.Equal(5, r.Steps.Count);
        Assert.Equal([1, 2, 3, 4, 5], r.Steps.Select(s => s.Number));
        Assert.True(r.Steps[1].Force);
        Assert.Equal("f6265388d8996df0af24bffbdd2b56c3092ef29fa9c291c1b713af64154a2d63", r.Steps[1].FilesHash);
        Assert.Equal("python -m http.server 8000", r.StartCmd);
    }

    [Fact]
    public void NothingChosen_BuildsOnE2bsBaseImage()
    {
        Assert.Equal("e2bdev/base", Parse("""{"steps":[]}""").FromImage);
        Assert.Equal("registry", Parse("""{"fromImage":"x","fromImageRegistry":{"type":"registry","username":"u","password":"p"}}""").Registry!.Type);
    }

    [Theory]
    [InlineData("""{"fromImage":"a","fromTemplate":"b"}""", "not both")]
    [InlineData("""{"fromTemplate":"base","steps":[{"type":"FROM","args":["x"]}]}""", "unknown step type")]
    [InlineData("""{"fromTemplate":"base","steps":[{"type":"RUN","args":[]}]}""", "RUN takes")]
    [InlineData("""{"fromTemplate":"base","steps":[{"type":"RUN","args":["ls","bad user"]}]}""", "not a valid user")]
    [InlineData("""{"fromTemplate":"base","steps":[{"type":"COPY","args":["a","/b"]}]}""", "filesHash")]
    [InlineData("""{"fromTemplate":"base","steps":[{"type":"COPY","args":["a","/b"],"filesHash":"ABC"}]}""", "filesHash")]
    [InlineData("""{"fromTemplate":"base","steps":[{"type":"COPY","args":["../x","/b"],"filesHash":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}]}""", "inside the build context")]
    [InlineData("""{"fromTemplate":"base","steps":[{"type":"COPY","args":["/etc","/b"],"filesHash":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}]}""", "inside the build context")]
    [InlineData("""{"fromTemplate":"base","steps":[{"type":"COPY","args":["a","/b","","999"],"filesHash":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}]}""", "octal")]
    [InlineData("""{"fromTemplate":"base","steps":[{"type":"ENV","args":["ODD"]}]}""", "ENV takes")]
    [InlineData("""{"fromTemplate":"base","steps":[{"type":"ENV","args":["1BAD","x"]}]}""", "not an environment variable name")]
    [InlineData("""{"fromTemplate":"base","steps":[{"type":"USER","args":["root; rm -rf /"]}]}""", "not a valid user")]
    [InlineData("""{"fromTemplate":"base","steps":[{"type":"RUN","args":[1]}]}""", "must be a string")]
    [InlineData("""{"fromTemplate":"base","steps":{}}""", "must be an array")]
    [InlineData("""[]""", "JSON object")]
    public void MalformedRequests_Are400sNamingTheProblem(string json, string message)
    {
        var e = Assert.Throws<DomainException>(() => Parse(json));
        Assert.Equal(DomainErrorKind.InvalidArgument, e.Kind);
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void TooManySteps_AreRefused()
    {
        var steps = string.Join(',', Enumerable.Repeat("""{"type":"WORKDIR","args":["/x"]}""", BuildRequest.MaxSteps + 1));
        Assert.Throws<DomainException>(() => Parse($$"""{"fromTemplate":"base","steps":[{{steps}}]}"""));
    }
}
