namespace Portal.Envd.Connect;

/// <summary>Connect protocol error codes, with their wire names and HTTP statuses.</summary>
public enum ConnectCode
{
    Canceled,
    Unknown,
    InvalidArgument,
    DeadlineExceeded,
    NotFound,
    AlreadyExists,
    PermissionDenied,
    ResourceExhausted,
    FailedPrecondition,
    Aborted,
    OutOfRange,
    Unimplemented,
    Internal,
    Unavailable,
    DataLoss,
    Unauthenticated,
}

public static class ConnectCodes
{
    public static string WireName(this ConnectCode code) => code switch
    {
        ConnectCode.Canceled => "canceled",
        ConnectCode.Unknown => "unknown",
        ConnectCode.InvalidArgument => "invalid_argument",
        ConnectCode.DeadlineExceeded => "deadline_exceeded",
        ConnectCode.NotFound => "not_found",
        ConnectCode.AlreadyExists => "already_exists",
        ConnectCode.PermissionDenied => "permission_denied",
        ConnectCode.ResourceExhausted => "resource_exhausted",
        ConnectCode.FailedPrecondition => "failed_precondition",
        ConnectCode.Aborted => "aborted",
        ConnectCode.OutOfRange => "out_of_range",
        ConnectCode.Unimplemented => "unimplemented",
        ConnectCode.Internal => "internal",
        ConnectCode.Unavailable => "unavailable",
        ConnectCode.DataLoss => "data_loss",
        ConnectCode.Unauthenticated => "unauthenticated",
        _ => "unknown",
    };

    /// <summary>The HTTP status a unary error is sent with (Connect protocol mapping).</summary>
    public static int HttpStatus(this ConnectCode code) => code switch
    {
        ConnectCode.Canceled => 499,
        ConnectCode.InvalidArgument => 400,
        ConnectCode.DeadlineExceeded => 504,
        ConnectCode.NotFound => 404,
        ConnectCode.AlreadyExists => 409,
        ConnectCode.PermissionDenied => 403,
        ConnectCode.ResourceExhausted => 429,
        ConnectCode.FailedPrecondition => 400,
        ConnectCode.Aborted => 409,
        ConnectCode.OutOfRange => 400,
        ConnectCode.Unimplemented => 501,
        ConnectCode.Unavailable => 503,
        ConnectCode.Unauthenticated => 401,
        _ => 500,
    };
}

/// <summary>Thrown by handlers to answer with a specific Connect error.</summary>
public sealed class ConnectException(ConnectCode code, string message) : Exception(message)
{
    public ConnectCode Code { get; } = code;

    public static ConnectException NotFound(string message) => new(ConnectCode.NotFound, message);
    public static ConnectException InvalidArgument(string message) => new(ConnectCode.InvalidArgument, message);
    public static ConnectException Internal(string message) => new(ConnectCode.Internal, message);
    public static ConnectException PermissionDenied(string message) => new(ConnectCode.PermissionDenied, message);
    public static ConnectException Unauthenticated(string message) => new(ConnectCode.Unauthenticated, message);
}
