namespace Portal.Core.Templates.Images;

/// <summary>An image that cannot become a template is the build's error, in words for the user.</summary>
internal static class ImageErrors
{
    public static DomainException Refused(string message, Exception? inner = null) => new(DomainErrorKind.InvalidArgument, message, inner);
}
