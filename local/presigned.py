"""Presigned S3 URLs (query-string SigV4), checked the way S3 checks them.

moto serves a presigned request without looking at its signature, so the embedded
AWS checks it before moto sees the request: the query carries every ``X-Amz-*``
parameter once, the credential is the stack's own, the scope is this region's S3,
the URL has not expired (and lives at most S3's week), and the signature botocore
computes over the request (``sigv4.verify_presigned``: method, path, query, signed
headers, ``UNSIGNED-PAYLOAD``) with the stack's secret matches. Only then may a page
read (or a client write) what the URL names.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from urllib.parse import parse_qsl

from . import sigv4
from .post_policy import ALGORITHM, S3RejectedError

# S3 refuses presigned URLs valid for longer than a week.
MAX_EXPIRES_SECONDS = 7 * 24 * 3600
_REQUIRED = (
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-Expires",
    "X-Amz-SignedHeaders",
    "X-Amz-Signature",
)


class PresignedRejectedError(S3RejectedError):
    """A presigned request S3 would refuse."""


def is_presigned(query: str) -> bool:
    """Whether a query string carries a SigV4 signature (a presigned URL)."""
    return any(name == "X-Amz-Signature" for name, _ in parse_qsl(query, keep_blank_values=True))


def verify(
    *,
    method: str,
    raw_uri: str,
    header: Mapping[str, str],
    access_key: str,
    secret_key: str,
    region: str,
    now: dt.datetime | None = None,
) -> None:
    """Raise PresignedRejectedError unless S3 would serve this presigned request.

    ``raw_uri`` is the path and query as sent; ``header`` maps lower-case header names
    to the values the request carries.
    """
    query = raw_uri.partition("?")[2]
    fields: dict[str, str] = {}
    for name, value in parse_qsl(query, keep_blank_values=True):
        if name in fields:
            raise PresignedRejectedError(400, "InvalidArgument", f"The query string holds {name} more than once.")
        fields[name] = value
    for name in _REQUIRED:
        if name not in fields:
            raise PresignedRejectedError(400, "AuthorizationQueryParametersError", f"{name} is missing.")
    if fields["X-Amz-Algorithm"] != ALGORITHM:
        raise PresignedRejectedError(400, "AuthorizationQueryParametersError", f"Only {ALGORITHM} is supported.")
    try:
        expires = int(fields["X-Amz-Expires"])
    except ValueError:
        raise PresignedRejectedError(400, "AuthorizationQueryParametersError", "X-Amz-Expires is malformed.") from None
    if not 1 <= expires <= MAX_EXPIRES_SECONDS:
        raise PresignedRejectedError(
            400, "AuthorizationQueryParametersError", "X-Amz-Expires must be 1..604800 seconds."
        )
    try:
        sigv4.verify_presigned(
            method=method,
            raw_uri=raw_uri,
            headers=header,
            access_key=access_key,
            secret_key=secret_key,
            region=region,
            expires=expires,
            now=now,
        )
    except sigv4.SignatureRejectedError as refused:
        code = "AccessDenied" if refused.kind == "expired" else sigv4.s3_code(refused)
        status = 400 if refused.kind == "malformed" else refused.status
        raise PresignedRejectedError(status, code, refused.message) from None
