using Microsoft.AspNetCore.Components.Authorization;
using Portal.Core;
using Portal.Core.Auth;
using Portal.Web.Auth;

namespace Portal.Web.Dashboard;

/// <summary>
/// The signed-in caller of a dashboard circuit: pages act through the same services as the API
/// with it, so a member sees and acts on its own team only, exactly as with its API key.
/// </summary>
public sealed class DashboardSession(AuthenticationStateProvider auth, ApiKeyService keys)
{
    public async Task<Caller?> TryGetCallerAsync()
    {
        var state = await auth.GetAuthenticationStateAsync();
        return CallerPrincipal.ToCaller(state.User, keys);
    }

    public async Task<Caller> GetCallerAsync() =>
        await TryGetCallerAsync() ?? throw DomainException.Unauthenticated("signed out: sign in again");
}
