"""API errors: one exception type that every route's failure becomes.

Every error leaves the API as ``{"error": {"code": ..., "message": ...}}`` with the
right status; the app's middleware does the conversion so routes never build error
responses by hand.
"""

from __future__ import annotations

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)


class ApiError(Exception):
    """A failure the client can act on, carried to the response unchanged."""

    status = 400
    code = "bad_request"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.headers = headers or {}

    def body(self) -> dict[str, dict[str, str]]:
        """The JSON body of the error response."""
        return {"error": {"code": self.code, "message": self.message}}


class BadRequestError(ApiError):
    """Malformed input: the request can never succeed as sent."""


class NotFoundError(ApiError):
    """Unknown, deleted or someone else's resource (never 403: existence stays hidden)."""

    status = 404
    code = "not_found"


class PayloadTooLargeError(ApiError):
    """A body or batch above the documented limits."""

    status = 413
    code = "payload_too_large"


class NotAcceptableError(ApiError):
    """The response cannot be produced in an encoding the client accepts."""

    status = 406
    code = "not_acceptable"


class ServiceUnavailableError(ApiError):
    """A dependency refused the write; nothing was acknowledged, retry later."""

    status = 503
    code = "unavailable"

    def __init__(self, message: str, *, retry_after: int = 1) -> None:
        super().__init__(message, headers={"Retry-After": str(retry_after)})


class UnauthorizedError(ApiError):
    """No credentials, or credentials that do not verify."""

    status = 401
    code = "unauthorized"

    def __init__(self, message: str) -> None:
        super().__init__(message, headers={"WWW-Authenticate": 'Bearer realm="rrweb-s3-storage"'})


class ForbiddenError(ApiError):
    """Valid credentials that may not do this (an ingest key asking to read)."""

    status = 403
    code = "forbidden"


class ConflictError(ApiError):
    """The request clashes with existing state."""

    status = 409
    code = "conflict"


class TooManyRequestsError(ApiError):
    """A rate limit is exhausted until the window turns."""

    status = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message, headers={"Retry-After": str(max(1, retry_after))})


# AWS answers that mean "not now": throttling, a dependency's own 5xx, a transaction
# racing another. The request changed nothing the client cannot safely repeat (every
# write path is idempotent by seq or id), so the client is told to retry.
_TRANSIENT_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "Throttling",
        "ThrottledException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "SlowDown",
        "InternalError",
        "InternalServerError",
        "InternalFailure",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "RequestTimeout",
        "RequestTimeoutException",
        "TransactionConflictException",
        "KMSThrottlingException",
    }
)
_TRANSIENT_TRANSPORT = (EndpointConnectionError, ConnectionClosedError, ReadTimeoutError, ConnectTimeoutError)


def transient_aws_error(exc: BaseException) -> ServiceUnavailableError | None:
    """The 503 for an AWS failure worth retrying, or None for any other exception."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        if error.get("Code") in _TRANSIENT_CODES or status >= 500:
            return ServiceUnavailableError("a storage service is busy; retry the same request", retry_after=1)
    elif isinstance(exc, BotoCoreError) and isinstance(exc, _TRANSIENT_TRANSPORT):
        return ServiceUnavailableError("a storage service is unreachable; retry the same request", retry_after=1)
    return None
