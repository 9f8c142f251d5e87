namespace Portal.Envd.Users;

/// <summary>An OS account from the sandbox's <c>/etc/passwd</c>.</summary>
public sealed record EnvdUser(string Name, uint Uid, uint Gid, string Home, string Shell, uint[] Groups)
{
    public bool IsRoot => Uid == 0;
}
