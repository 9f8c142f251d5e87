using MudBlazor;

namespace Portal.Web.Dashboard;

public static class DashboardTheme
{
    /// <summary>
    /// MudBlazor's palette with darker primary and secondary text colours: the defaults miss
    /// WCAG AA contrast on white for small text (axe-core reports them).
    /// </summary>
    public static readonly MudTheme Theme = new()
    {
        PaletteLight = new PaletteLight
        {
            Primary = "#3949ab",
            Success = "#1b5e20",
            Warning = "#8d4e00",
            Info = "#0d47a1",
            Error = "#b71c1c",
            AppbarBackground = "#283593",
            TextSecondary = "rgba(0,0,0,0.70)",
            ActionDefault = "rgba(0,0,0,0.70)",
        },
        PaletteDark = new PaletteDark
        {
            Primary = "#9fa8da",
        },
    };
}
