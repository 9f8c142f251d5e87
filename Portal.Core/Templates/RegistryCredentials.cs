namespace Portal.Core.Templates;

/// <summary>
/// A private registry's credentials for <c>fromImage</c> (E2B's <c>fromImageRegistry</c>): <c>type</c>
/// "registry" with <c>username</c>/<c>password</c> fields, or "aws"/"gcp" (refused: no cloud clients here).
/// </summary>
public sealed record RegistryCredentials(string Type, IReadOnlyDictionary<string, string> Fields);
