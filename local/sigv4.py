"""SigV4 signatures checked the way AWS checks them, with botocore's own signer.

moto serves whatever it is sent and checks no signature, so the embedded AWS checks
every signed request before moto sees it: the access key is the stack's own, the
credential scope is this region's, the request time is within AWS's 15 minutes of
now, and the signature botocore computes over the request with the stack's secret
matches the one sent (``hmac.compare_digest``). The canonical request, string to sign
and key derivation are botocore's (``SigV4Auth``, ``S3SigV4Auth``,
``S3SigV4QueryAuth``): the same code that signs the stack's own requests.

Refusals carry the status and error code AWS uses (``SignatureDoesNotMatch``,
``InvalidAccessKeyId``, ``RequestTimeTooSkewed`` for S3; ``InvalidSignatureException``,
``UnrecognizedClientException``, ``MissingAuthenticationTokenException`` for the JSON
services); the caller renders them in the service's shape (``s3_error``/``json_error``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from functools import cache
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

import botocore.session
from botocore.auth import S3SigV4Auth, S3SigV4QueryAuth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

ALGORITHM = "AWS4-HMAC-SHA256"
# AWS refuses a request signed more than 15 minutes before or after its own clock.
MAX_SKEW = dt.timedelta(minutes=15)
TIMESTAMP = "%Y%m%dT%H%M%SZ"
# Payload hashes S3 takes instead of the body's SHA-256 (the signature covers the header).
_UNSIGNED_PAYLOADS = frozenset({"UNSIGNED-PAYLOAD", "STREAMING-UNSIGNED-PAYLOAD-TRAILER"})
_HEX_SHA256 = re.compile(r"\A[0-9a-f]{64}\Z")


class SignatureRejectedError(Exception):
    """A request AWS would refuse for its authentication: status, what went wrong, message.

    ``kind`` is what went wrong (``missing``, ``malformed``, ``key``, ``expired``,
    ``signature``, ``payload``), from which each service's own error code follows.
    """

    def __init__(self, status: int, kind: str, message: str) -> None:
        super().__init__(f"{status} {kind}: {message}")
        self.status = status
        self.kind = kind
        self.message = message


_S3_CODES = {
    "missing": "AccessDenied",
    "malformed": "AuthorizationHeaderMalformed",
    "key": "InvalidAccessKeyId",
    "expired": "RequestTimeTooSkewed",
    "signature": "SignatureDoesNotMatch",
    "payload": "XAmzContentSHA256Mismatch",
}
_QUERY_CODES = {
    "missing": "MissingAuthenticationToken",
    "malformed": "IncompleteSignature",
    "key": "InvalidClientTokenId",
    "expired": "SignatureDoesNotMatch",
    "signature": "SignatureDoesNotMatch",
    "payload": "SignatureDoesNotMatch",
}
_JSON_CODES = {
    "missing": "MissingAuthenticationTokenException",
    "malformed": "IncompleteSignatureException",
    "key": "UnrecognizedClientException",
    "expired": "InvalidSignatureException",
    "signature": "InvalidSignatureException",
    "payload": "InvalidSignatureException",
}


def s3_code(refused: SignatureRejectedError) -> str:
    """S3's error code for a refusal."""
    return _S3_CODES[refused.kind]


def query_code(refused: SignatureRejectedError) -> str:
    """The error code of the query-protocol services (STS, IAM, SNS, CloudWatch)."""
    return _QUERY_CODES[refused.kind]


def json_code(refused: SignatureRejectedError) -> str:
    """The error code of the JSON-protocol services (DynamoDB, Kinesis, Cognito, SQS, Firehose)."""
    return _JSON_CODES[refused.kind]


def _refuse(kind: str, message: str, status: int = 403) -> SignatureRejectedError:
    return SignatureRejectedError(status, kind, message)


@cache
def unsigned_operations(service: str) -> frozenset[str]:
    """Operations AWS serves without a signature, as botocore's model of ``service`` says.

    For Cognito user pools these are the calls a user makes with nothing but a client
    id or their own tokens (SignUp, InitiateAuth, GetUser, ...).
    """
    model = botocore.session.get_session().get_service_model(service)
    return frozenset(
        name
        for name in model.operation_names
        if model.operation_model(name).auth_type == "none"
        or "smithy.api#noAuth" in (model.operation_model(name).auth or ())
    )


@dataclass(frozen=True)
class Scope:
    """A parsed credential: key id, date, region, service."""

    key_id: str
    date: str
    region: str
    service: str


def parse_scope(credential: str) -> Scope:
    """``<key>/<yyyymmdd>/<region>/<service>/aws4_request``, or a ``malformed`` refusal."""
    parts = credential.split("/")
    if len(parts) != 5 or parts[4] != "aws4_request" or not all(parts):
        raise _refuse("malformed", "The credential is not <key>/<date>/<region>/<service>/aws4_request.")
    return Scope(key_id=parts[0], date=parts[1], region=parts[2], service=parts[3])


def parse_authorization(value: str) -> tuple[Scope, list[str], str]:
    """The scope, signed header names and signature of an ``Authorization`` header."""
    algorithm, _, rest = value.strip().partition(" ")
    if algorithm != ALGORITHM:
        raise _refuse("malformed", f"Only {ALGORITHM} signatures are accepted.")
    # Exactly the three fields, each once, as botocore writes them: a header that a
    # lenient parser and moto's own could read differently is refused outright.
    pairs = [field.strip().partition("=") for field in rest.split(",")]
    fields = {name: value for name, _, value in pairs}
    if len(pairs) != 3 or set(fields) != {"Credential", "SignedHeaders", "Signature"} or not all(fields.values()):
        raise _refuse("malformed", "The Authorization header needs Credential, SignedHeaders and Signature, once each.")
    return parse_scope(fields["Credential"]), fields["SignedHeaders"].split(";"), fields["Signature"]


def _signed_at(timestamp: str) -> dt.datetime:
    try:
        return dt.datetime.strptime(timestamp, TIMESTAMP).replace(tzinfo=dt.UTC)
    except ValueError:
        raise _refuse("malformed", "X-Amz-Date must be yyyyMMddTHHmmssZ.") from None


def _check_scope(scope: Scope, *, access_key: str, region: str, timestamp: str) -> None:
    if not hmac.compare_digest(scope.key_id.encode(), access_key.encode()):
        raise _refuse("key", "The access key id is not the stack's: sign with the data folder's credentials.")
    if scope.region != region or scope.date != timestamp[:8]:
        raise _refuse("signature", f"The credential scope must be this endpoint's region ({region}) and date.")


def _check_time(signed_at: dt.datetime, now: dt.datetime) -> None:
    if abs(now - signed_at) > MAX_SKEW:
        raise _refuse(
            "expired",
            "The difference between the request time and the current time is too large (15 minutes at most).",
        )


def _expected(signer: SigV4Auth, request: AWSRequest) -> str:
    canonical = signer.canonical_request(request)
    return signer.signature(signer.string_to_sign(request, canonical), request)


def _request(
    *, method: str, raw_path: str, params: list[tuple[str, str]], headers: dict[str, str], body: bytes | None
) -> AWSRequest:
    request = AWSRequest(method=method, url=f"http://{headers.get('host', 'localhost')}{raw_path}", headers=headers)
    # Sorted and encoded as SigV4 wants by botocore; a list keeps repeated names.
    request.params = params
    request.data = body if body is not None else b""
    return request


def verify_header(
    *,
    method: str,
    raw_uri: str,
    headers: Mapping[str, str],
    body: bytes | None,
    access_key: str,
    secret_key: str,
    region: str,
    now: dt.datetime | None = None,
) -> Scope:
    """Check a request signed in its ``Authorization`` header; returns its scope.

    ``raw_uri`` is the path and query as sent (still percent-encoded); ``headers``
    maps lower-case names to values. ``body`` is the request body: needed unless the
    request is S3's with an unsigned payload (then None). Raises SignatureRejectedError.
    """
    scope, names, signature = parse_authorization(headers.get("authorization", ""))
    timestamp = headers.get("x-amz-date")
    if timestamp is None and "date" in headers:
        try:
            timestamp = parsedate_to_datetime(headers["date"]).astimezone(dt.UTC).strftime(TIMESTAMP)
        except (TypeError, ValueError):
            raise _refuse("malformed", "The Date header is malformed.") from None
    if timestamp is None:
        raise _refuse("malformed", "A signed request needs X-Amz-Date or Date.")
    _check_scope(scope, access_key=access_key, region=region, timestamp=timestamp)
    _check_time(_signed_at(timestamp), now or dt.datetime.now(dt.UTC))
    if "host" not in names or any(name != name.lower() or name not in headers for name in names):
        raise _refuse("signature", "SignedHeaders must name host, in lower case, and only headers the request has.")
    signed = {name: headers[name] for name in names}
    content_sha256 = headers.get("x-amz-content-sha256")
    if scope.service == "s3" and (content_sha256 is None or "x-amz-content-sha256" not in signed):
        raise _refuse("malformed", "S3 requests sign x-amz-content-sha256.", status=400)
    if content_sha256 is not None and not (scope.service == "s3" and content_sha256 in _UNSIGNED_PAYLOADS):
        # A payload hash in the header is what botocore signs in place of the body's:
        # it must be the body's (S3 alone takes an unsigned payload).
        if not _HEX_SHA256.match(content_sha256):
            # e.g. STREAMING-AWS4-HMAC-SHA256-PAYLOAD: chunk signatures this does not check.
            raise _refuse("malformed", "This endpoint takes signed or unsigned payloads, not signed chunks.", 400)
        if body is None:
            raise ValueError("the body is needed to check a signature over the payload")
        if not hmac.compare_digest(hashlib.sha256(body).hexdigest(), content_sha256):
            if scope.service == "s3":
                raise _refuse("payload", "The provided x-amz-content-sha256 does not match the body.", status=400)
            raise _refuse("signature", "The request signature we calculated does not match the signature you provided.")
    elif scope.service != "s3" and body is None:
        raise ValueError("the body is needed to check a signature over the payload")
    split = urlsplit(raw_uri)
    request = _request(
        method=method,
        raw_path=split.path or "/",
        params=parse_qsl(split.query, keep_blank_values=True),
        headers=signed,
        body=body,
    )
    request.context["timestamp"] = timestamp
    signer_class = S3SigV4Auth if scope.service == "s3" else SigV4Auth
    signer = signer_class(Credentials(access_key, secret_key), scope.service, region)
    if not hmac.compare_digest(_expected(signer, request).encode(), signature.lower().encode()):
        raise _refuse("signature", "The request signature we calculated does not match the signature you provided.")
    return scope


def verify_presigned(
    *,
    method: str,
    raw_uri: str,
    headers: Mapping[str, str],
    access_key: str,
    secret_key: str,
    region: str,
    expires: int,
    now: dt.datetime | None = None,
) -> Scope:
    """The signature of a presigned S3 URL (``X-Amz-*`` in its query string); returns its scope.

    The caller checked the query's shape (``presigned.verify``); this checks the key,
    the scope and the signature, which botocore computes over every parameter but
    ``X-Amz-Signature`` with ``UNSIGNED-PAYLOAD``. ``expires`` is X-Amz-Expires.
    """
    split = urlsplit(raw_uri)
    params = parse_qsl(split.query, keep_blank_values=True)
    fields = dict(params)
    scope = parse_scope(fields.get("X-Amz-Credential", ""))
    timestamp = fields.get("X-Amz-Date", "")
    _check_scope(scope, access_key=access_key, region=region, timestamp=timestamp)
    if scope.service != "s3":
        raise _refuse("signature", "Only S3 URLs are presigned here.")
    signed_at = _signed_at(timestamp)
    current = now or dt.datetime.now(dt.UTC)
    if current > signed_at + dt.timedelta(seconds=expires):
        raise _refuse("expired", "Request has expired")
    if signed_at - current > MAX_SKEW:
        raise _refuse("expired", "Request is not valid yet (X-Amz-Date is in the future).")
    names = fields.get("X-Amz-SignedHeaders", "").split(";")
    if "host" not in names or any(not name or name != name.lower() for name in names):
        raise _refuse("signature", "X-Amz-SignedHeaders must name host, in lower case.")
    missing = [name for name in names if name not in headers]
    if missing:
        raise _refuse("signature", f"The signed header {missing[0]!r} is not in the request.")
    # S3 refuses an x-amz-* header a presigned URL's signature does not name
    # (HeadersNotSigned): metadata or other options cannot be slipped into a signed upload.
    unsigned = sorted(name for name in headers if name.startswith("x-amz-") and name not in names)
    if unsigned:
        raise _refuse("signature", f"There were headers present in the request which were not signed: {unsigned[0]}")
    request = _request(
        method=method,
        raw_path=split.path or "/",
        params=[(name, value) for name, value in params if name != "X-Amz-Signature"],
        headers={name: headers[name] for name in names},
        body=None,
    )
    request.context["timestamp"] = timestamp
    signer = S3SigV4QueryAuth(Credentials(access_key, secret_key), "s3", region)
    if not hmac.compare_digest(_expected(signer, request).encode(), fields.get("X-Amz-Signature", "").lower().encode()):
        raise _refuse("signature", "The request signature we calculated does not match the signature you provided.")
    return scope


def wsgi_headers(environ: Mapping[str, Any]) -> dict[str, str]:
    """A WSGI request's headers by lower-case name (Content-Type and -Length included)."""
    headers = {key[5:].lower().replace("_", "-"): value for key, value in environ.items() if key.startswith("HTTP_")}
    for key, name in (("CONTENT_TYPE", "content-type"), ("CONTENT_LENGTH", "content-length")):
        if environ.get(key):
            headers[name] = environ[key]
    return headers


def raw_uri(environ: Mapping[str, Any]) -> str:
    """The request target as the client sent it (percent-encoded path and query)."""
    uri = environ.get("REQUEST_URI") or environ.get("RAW_URI")
    if uri:
        return uri
    query = environ.get("QUERY_STRING", "")
    path = quote(environ.get("PATH_INFO", "").encode("latin-1"), safe="/~")
    return path + (f"?{query}" if query else "")


def signs_payload(headers: Mapping[str, str]) -> bool:
    """Whether an S3 request's signature covers its body (a SHA-256 in x-amz-content-sha256)."""
    return bool(_HEX_SHA256.match(headers.get("x-amz-content-sha256", "")))
