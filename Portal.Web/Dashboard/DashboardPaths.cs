namespace Portal.Web.Dashboard;

/// <summary>
/// Where the dashboard lives on the portal's own host: pages under <c>/dashboard</c> (the E2B
/// API owns <c>/sandboxes</c>, <c>/templates</c>, ... at the root), Blazor's framework files and
/// hub at <c>/_framework</c>, <c>/_content</c> and <c>/_blazor</c>. Sandbox hosts
/// (<c>P-S.domain</c>), <c>/kruise/...</c> paths and routing headers are decided by the request
/// router first, so none of these can reach a sandbox or be reached from one.
/// </summary>
public static class DashboardPaths
{
    public const string Root = "/dashboard";
    public const string SignIn = "/dashboard/login";
    public const string SignOut = "/dashboard/logout";

    public static bool IsDashboard(PathString path) =>
        path.StartsWithSegments(Root) || path.StartsWithSegments("/_blazor") || path.StartsWithSegments("/_framework") || path.StartsWithSegments("/_content");
}
