using Microsoft.Extensions.Options;

namespace Portal.Web.Auth;

/// <summary>Configuration section <c>Portal:Dashboard</c>: the first dashboard account.</summary>
public sealed class DashboardOptions
{
    public const string Section = "Portal:Dashboard";
    public const int MinPasswordLength = 10;

    /// <summary>User name of the admin account created at first start (env PORTAL_ADMIN_USER).</summary>
    public string AdminUser { get; set; } = "admin";
    /// <summary>
    /// Its password (env PORTAL_ADMIN_PASSWORD); empty = a generated one, printed once and
    /// written to <c>admin-password</c> in the data directory.
    /// </summary>
    public string? AdminPassword { get; set; }
}

internal sealed class DashboardOptionsValidator : IValidateOptions<DashboardOptions>
{
    public ValidateOptionsResult Validate(string? name, DashboardOptions o)
    {
        var errors = new List<string>();
        if (!UserAccounts.IsValidUserName(o.AdminUser))
            errors.Add($"Portal:Dashboard:AdminUser (env PORTAL_ADMIN_USER) must be 1-64 letters, digits or '.', '_', '-', '@' (got '{o.AdminUser}').");
        if (!string.IsNullOrEmpty(o.AdminPassword) && o.AdminPassword.Length < DashboardOptions.MinPasswordLength)
            errors.Add($"Portal:Dashboard:AdminPassword (env PORTAL_ADMIN_PASSWORD) must be at least {DashboardOptions.MinPasswordLength} characters.");
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
