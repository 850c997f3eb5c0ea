"""Presigned S3 URLs (query-string SigV4), checked the way S3 checks them.

moto serves a presigned GET without looking at its signature, so the embedded AWS
checks it before moto sees the request: the credential is the stack's own, the scope
is this region's S3, the URL has not expired, and the signature over the canonical
request (method, path, query, signed headers, ``UNSIGNED-PAYLOAD``) matches the one
computed with the stack's secret key. Only then may a page read what the URL names.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
from collections.abc import Mapping
from urllib.parse import parse_qsl, quote

from .post_policy import ALGORITHM, S3RejectedError, signing_key

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
_SPACES = re.compile(r"\s+")


class PresignedRejectedError(S3RejectedError):
    """A presigned request S3 would refuse."""


def _denied(message: str) -> PresignedRejectedError:
    return PresignedRejectedError(403, "AccessDenied", message)


def is_presigned(query: str) -> bool:
    """Whether a query string carries a SigV4 signature (a presigned URL)."""
    return any(name == "X-Amz-Signature" for name, _ in parse_qsl(query, keep_blank_values=True))


def _encode(value: str) -> str:
    # SigV4's URI encoding: everything but the unreserved characters.
    return quote(value, safe="-_.~")


def canonical_request(*, method: str, path: str, params: list[tuple[str, str]], headers: dict[str, str]) -> str:
    """SigV4's canonical request of a presigned S3 call (``path`` percent-decoded, as WSGI gives it)."""
    signed = sorted(headers)
    query = "&".join(
        f"{name}={value}"
        for name, value in sorted((_encode(k), _encode(v)) for k, v in params if k != "X-Amz-Signature")
    )
    return "\n".join(
        [
            method,
            # S3 encodes the key once, keeping "/" (botocore does the same when it signs).
            quote(path.encode("latin-1"), safe="/~"),
            query,
            "".join(f"{name}:{headers[name]}\n" for name in signed),
            ";".join(signed),
            "UNSIGNED-PAYLOAD",
        ]
    )


def verify(
    *,
    method: str,
    path: str,
    query: str,
    header: Mapping[str, str],
    access_key: str,
    secret_key: str,
    region: str,
    now: dt.datetime | None = None,
) -> None:
    """Raise PresignedRejectedError unless S3 would serve this presigned request.

    ``header`` maps lower-case header names to the values the request carries.
    """
    params = parse_qsl(query, keep_blank_values=True)
    fields: dict[str, str] = {}
    for name, value in params:
        if name in fields:
            raise PresignedRejectedError(400, "InvalidArgument", f"The query string holds {name} more than once.")
        fields[name] = value
    for name in _REQUIRED:
        if name not in fields:
            raise PresignedRejectedError(400, "AuthorizationQueryParametersError", f"{name} is missing.")
    if fields["X-Amz-Algorithm"] != ALGORITHM:
        raise PresignedRejectedError(400, "AuthorizationQueryParametersError", f"Only {ALGORITHM} is supported.")
    scope = fields["X-Amz-Credential"].split("/")
    if len(scope) != 5:
        raise PresignedRejectedError(
            400, "AuthorizationQueryParametersError", "X-Amz-Credential is not <key>/<date>/<region>/s3/aws4_request"
        )
    key_id, date, scope_region, service, terminator = scope
    if not hmac.compare_digest(key_id.encode(), access_key.encode()):
        raise PresignedRejectedError(403, "InvalidAccessKeyId", "The AWS access key Id you provided does not exist.")
    amz_date = fields["X-Amz-Date"]
    if (scope_region, service, terminator) != (region, "s3", "aws4_request") or not amz_date.startswith(date):
        raise _denied("The credential scope does not match this region and service, or X-Amz-Date.")
    try:
        signed_at = dt.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)
        expires = int(fields["X-Amz-Expires"])
    except ValueError:
        raise PresignedRejectedError(
            400, "AuthorizationQueryParametersError", "X-Amz-Date or X-Amz-Expires is malformed."
        ) from None
    if not 1 <= expires <= MAX_EXPIRES_SECONDS:
        raise PresignedRejectedError(
            400, "AuthorizationQueryParametersError", "X-Amz-Expires must be 1..604800 seconds."
        )
    if (now or dt.datetime.now(dt.UTC)) > signed_at + dt.timedelta(seconds=expires):
        raise _denied("Request has expired")
    names = fields["X-Amz-SignedHeaders"].split(";")
    if "host" not in names or any(not name or name != name.lower() for name in names):
        raise _denied("X-Amz-SignedHeaders must name host, in lower case.")
    signed: dict[str, str] = {}
    for name in names:
        if name not in header:
            raise _denied(f"The signed header {name!r} is not in the request.")
        signed[name] = _SPACES.sub(" ", header[name].strip())
    string_to_sign = "\n".join(
        [
            ALGORITHM,
            amz_date,
            f"{date}/{region}/s3/aws4_request",
            hashlib.sha256(
                canonical_request(method=method, path=path, params=params, headers=signed).encode()
            ).hexdigest(),
        ]
    )
    expected = hmac.new(signing_key(secret_key, date, region), string_to_sign.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, fields["X-Amz-Signature"].lower()):
        raise PresignedRejectedError(
            403,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided.",
        )
