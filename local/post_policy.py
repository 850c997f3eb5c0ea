"""S3 browser-form uploads (POST with a SigV4 policy), checked the way S3 checks them.

moto stores whatever a form POST carries without looking at its policy, so the
embedded AWS checks it itself before moto sees the request: the signature (the
SigV4 key chain over the base64 policy, with the stack's secret key), the policy's
expiration, every condition (bucket, key, Content-Type, content-length-range against
the real size of the file, x-amz-* fields), and that every form field is covered by
a condition. The form is read as a stream: the file's bytes are counted, never held.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import itertools
import json
import os
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from xml.sax.saxutils import escape

from werkzeug.http import parse_options_header
from werkzeug.sansio.multipart import Data, Epilogue, Field, File, MultipartDecoder, NeedData, Preamble

ALGORITHM = "AWS4-HMAC-SHA256"
# Fields S3 never asks a condition for: the file, the policy itself and its signature.
_UNCONDITIONED = frozenset({"file", "policy", "x-amz-signature"})
_REQUIRED = ("key", "policy", "x-amz-algorithm", "x-amz-credential", "x-amz-date", "x-amz-signature")
# A form field (the policy is the longest) never needs more; the file is only counted.
MAX_FIELD_BYTES = 64 * 1024
MAX_PARTS = 64


class S3RejectedError(Exception):
    """A request S3 would refuse: HTTP status, S3 error code and message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message

    def xml(self) -> bytes:
        """The body S3 answers with: its XML error shape."""
        return error_xml(self.code, self.message)


class FormRejectedError(S3RejectedError):
    """A form upload S3 would refuse."""


def error_xml(code: str, message: str) -> bytes:
    """An S3-style XML error document."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{escape(code)}</Code><Message>{escape(message)}</Message>"
        f"<RequestId>{secrets.token_hex(8).upper()}</RequestId></Error>"
    ).encode()


def _malformed(message: str) -> FormRejectedError:
    return FormRejectedError(400, "MalformedPOSTRequest", message)


def _denied(message: str) -> FormRejectedError:
    return FormRejectedError(403, "AccessDenied", message)


@dataclass
class FormUpload:
    """The fields of a form upload (names lower-cased) and the size of its file."""

    fields: dict[str, str] = field(default_factory=dict)
    file_size: int = 0
    filename: str = ""


def parse_form(content_type: str, chunks: Iterable[bytes]) -> FormUpload:
    """Read a multipart/form-data body; the file must come last, as S3 requires.

    moto, unlike S3, would take fields after the file, a second file part, or the last
    of two fields of one name, so all of those are refused here as malformed: what moto
    stores is then exactly what was checked.
    """
    mimetype, options = parse_options_header(content_type)
    boundary = options.get("boundary", "")
    if mimetype != "multipart/form-data" or not boundary:
        raise _malformed("The body of your POST request is not well-formed multipart/form-data.")
    decoder = MultipartDecoder(boundary.encode("latin-1"), max_form_memory_size=None, max_parts=MAX_PARTS)
    form = FormUpload()
    current: str | None = None  # lower-cased name of the part being read
    value = bytearray()
    seen_file = False
    ended = False

    def events() -> Iterable[Any]:
        # Lazily: the body is read as the parser asks for it, never all at once.
        for chunk in itertools.chain(chunks, [None]):
            decoder.receive_data(chunk)
            while True:
                try:
                    event = decoder.next_event()
                except ValueError as exc:
                    raise _malformed(f"The body of your POST request is not well-formed: {exc}") from None
                if isinstance(event, NeedData):
                    break
                yield event
                if isinstance(event, Epilogue):
                    return
        if not ended:
            raise _malformed("The body of your POST request ends before its closing boundary.")

    for event in events():
        if isinstance(event, Preamble):
            continue
        if isinstance(event, Epilogue):
            ended = True
            break
        if isinstance(event, Field | File):
            name = event.name.lower()
            if seen_file:
                raise _malformed("The file must be the last field of the form.")
            if name in form.fields or (name == "file" and seen_file):
                raise _malformed(f"The form holds the field {event.name!r} more than once.")
            if isinstance(event, File) and name != "file":
                raise _malformed(f"Only the field 'file' may hold a file, not {event.name!r}.")
            current, value = name, bytearray()
            if name == "file":
                seen_file = True
                form.filename = event.filename if isinstance(event, File) else ""
            continue
        if isinstance(event, Data):
            if current == "file":
                form.file_size += len(event.data)
            else:
                value.extend(event.data)
                if len(value) > MAX_FIELD_BYTES:
                    raise _malformed(f"The form field {current!r} is too long.")
                if not event.more_data and current is not None:
                    try:
                        form.fields[current] = value.decode("utf-8")
                    except UnicodeDecodeError:
                        raise _malformed(f"The form field {current!r} is not UTF-8.") from None
    if not ended:
        raise _malformed("The body of your POST request ends before its closing boundary.")
    if not seen_file:
        raise FormRejectedError(400, "InvalidArgument", "POST requires exactly one file upload per request.")
    return form


def signing_key(secret_key: str, date: str, region: str, service: str = "s3") -> bytes:
    """SigV4's derived key: HMAC-SHA256 chained over date, region, service, terminator."""
    key = f"AWS4{secret_key}".encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def _condition(entry: Any) -> tuple[str, str, Any]:
    """(operator, lower-cased field name, operand) of one policy condition."""
    if isinstance(entry, dict) and len(entry) == 1:
        ((name, expected),) = entry.items()
        if isinstance(name, str) and isinstance(expected, str):
            return "eq", name.lower(), expected
    if isinstance(entry, list) and len(entry) == 3 and isinstance(entry[0], str):
        operator = entry[0].lower()
        if operator == "content-length-range":
            low, high = entry[1], entry[2]
            if isinstance(low, int) and isinstance(high, int) and not isinstance(low | high, bool):
                return operator, "content-length-range", (low, high)
        elif operator in ("eq", "starts-with"):
            name, operand = entry[1], entry[2]
            if isinstance(name, str) and name.startswith("$") and isinstance(operand, str):
                return operator, name[1:].lower(), operand
    raise FormRejectedError(400, "InvalidPolicyDocument", f"Invalid Policy: Invalid condition {json.dumps(entry)}.")


def _decode_policy(encoded: str) -> dict[str, Any]:
    try:
        document = json.loads(base64.b64decode(encoded, validate=True))
    except (binascii.Error, ValueError):
        raise FormRejectedError(400, "InvalidPolicyDocument", "Invalid Policy: Invalid JSON.") from None
    if not isinstance(document, dict) or not isinstance(document.get("conditions"), list):
        raise FormRejectedError(400, "InvalidPolicyDocument", "Invalid Policy: Policy missing conditions.")
    if not isinstance(document.get("expiration"), str):
        raise FormRejectedError(400, "InvalidPolicyDocument", "Invalid Policy: Policy missing expiration.")
    return document


def verify(
    form: FormUpload,
    *,
    bucket: str,
    access_key: str,
    secret_key: str,
    region: str,
    now: dt.datetime | None = None,
) -> None:
    """Raise FormRejectedError unless S3 would accept this upload into ``bucket``."""
    fields = form.fields
    for name in _REQUIRED:
        if name not in fields:
            raise FormRejectedError(400, "InvalidArgument", f"Bucket POST must contain a field named '{name}'.")
    if fields["x-amz-algorithm"] != ALGORITHM:
        raise FormRejectedError(400, "InvalidArgument", f"Unsupported x-amz-algorithm; only {ALGORITHM} is accepted.")
    scope = fields["x-amz-credential"].split("/")
    if len(scope) != 5:
        raise FormRejectedError(400, "InvalidArgument", "x-amz-credential is not <key>/<date>/<region>/s3/aws4_request")
    key_id, date, scope_region, service, terminator = scope
    if not hmac.compare_digest(key_id.encode(), access_key.encode()):
        raise FormRejectedError(403, "InvalidAccessKeyId", "The AWS access key Id you provided does not exist.")
    if (scope_region, service, terminator) != (region, "s3", "aws4_request") or not fields["x-amz-date"].startswith(
        date
    ):
        raise _denied("The credential scope does not match this bucket's region and service, or x-amz-date.")
    expected = hmac.new(signing_key(secret_key, date, region), fields["policy"].encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, fields["x-amz-signature"].lower()):
        raise FormRejectedError(
            403,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided.",
        )

    document = _decode_policy(fields["policy"])
    try:
        expiration = dt.datetime.fromisoformat(document["expiration"])
    except ValueError:
        raise FormRejectedError(400, "InvalidPolicyDocument", "Invalid Policy: Invalid 'expiration' value.") from None
    if expiration.tzinfo is None:
        expiration = expiration.replace(tzinfo=dt.UTC)
    if expiration <= (now or dt.datetime.now(dt.UTC)):
        raise _denied("Invalid according to Policy: Policy expired.")

    # What the conditions are matched against: the form's fields, the bucket from the
    # URL, and the key after S3's ${filename} substitution (moto substitutes alike).
    values = {**fields, "bucket": bucket}
    if "${filename}" in fields["key"] and not form.filename:
        # moto substitutes only for a real file part; without one it would store the
        # literal key, which no condition checked.
        raise _malformed("The key uses ${filename} but the file part has no filename.")
    values["key"] = fields["key"].replace("${filename}", os.path.basename(form.filename))
    covered = {"bucket"}
    for entry in document["conditions"]:
        operator, name, operand = _condition(entry)
        if operator == "content-length-range":
            low, high = operand
            if not low <= form.file_size <= high:
                raise _denied(
                    f"Invalid according to Policy: Policy Condition failed: "
                    f'["content-length-range", {low}, {high}] (the file is {form.file_size} bytes)'
                )
            continue
        covered.add(name)
        actual = values.get(name)
        matched = actual is not None and (actual == operand if operator == "eq" else actual.startswith(operand))
        if not matched:
            raise _denied(f"Invalid according to Policy: Policy Condition failed: {json.dumps(entry)}")
    extra = sorted(name for name in fields if name not in _UNCONDITIONED | covered and not name.startswith("x-ignore-"))
    if extra:
        raise _denied(f"Invalid according to Policy: Extra input fields: {', '.join(extra)}")
