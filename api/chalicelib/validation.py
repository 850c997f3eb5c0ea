"""Parsing and validation of everything a client sends.

Each function either returns clean Python values or raises an ``ApiError`` subclass;
nothing here touches AWS, so a rejected request has changed nothing.
"""

from __future__ import annotations

import base64
import binascii
import re
import zlib
from dataclasses import dataclass
from typing import Any

import orjson

from . import settings
from .errors import BadRequestError, PayloadTooLargeError

# Strict on purpose: the id becomes part of S3 keys and DynamoDB keys, so no slashes,
# dots, '=' or non-ASCII can reach them.
_RECORDING_ID = re.compile(r"\A[A-Za-z0-9_-]{8,64}\Z")
GZIP_MAGIC = b"\x1f\x8b"
_INFLATE_STEP = 256 * 1024


def recording_id(value: Any) -> str:
    """Return the id if it matches the strict pattern, else raise 400."""
    if not isinstance(value, str) or not _RECORDING_ID.match(value):
        raise BadRequestError(
            "recording id must be 8-64 characters of A-Z, a-z, 0-9, '_' or '-'",
            code="invalid_id",
        )
    return value


def list_limit(value: str | None) -> int:
    """The ``limit`` query parameter: 1..LIST_LIMIT_MAX, default LIST_LIMIT_DEFAULT."""
    if value is None:
        return settings.LIST_LIMIT_DEFAULT
    if not value.isascii() or not value.isdigit() or not 1 <= int(value) <= settings.LIST_LIMIT_MAX:
        raise BadRequestError(f"limit must be an integer from 1 to {settings.LIST_LIMIT_MAX}", code="invalid_limit")
    return int(value)


def encode_cursor(position: dict[str, Any]) -> str:
    """An opaque, URL-safe cursor for a position."""
    return base64.urlsafe_b64encode(orjson.dumps(position)).rstrip(b"=").decode("ascii")


def decode_cursor(value: str | None, fields: dict[str, type]) -> dict[str, Any] | None:
    """Decode a cursor made by ``encode_cursor`` whose keys and types are exactly ``fields``."""
    if value is None:
        return None
    try:
        if len(value) > 512 or not value.isascii():
            raise ValueError("cursor too long")
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        position = orjson.loads(raw)
    except (ValueError, binascii.Error, orjson.JSONDecodeError):
        position = None
    if (
        not isinstance(position, dict)
        or set(position) != set(fields)
        or not all(
            type(position[name]) is kind and not (kind is int and position[name] < 0) for name, kind in fields.items()
        )
    ):
        raise BadRequestError("cursor is not one this API returned", code="invalid_cursor")
    return position


def inflate(data: bytes, *, limit: int) -> bytes:
    """Inflate a (possibly multi-member) gzip body, stopping as soon as it passes ``limit``.

    The output is produced in bounded steps, so a gzip bomb costs at most ``limit``
    bytes of memory before it is refused.
    """
    out = bytearray()
    remaining = data
    try:
        while remaining:
            if not remaining.startswith(GZIP_MAGIC):
                raise BadRequestError("body is not valid gzip", code="invalid_gzip")
            inflater = zlib.decompressobj(wbits=31)
            chunk = remaining
            while chunk:
                out += inflater.decompress(chunk, _INFLATE_STEP)
                if len(out) > limit:
                    raise PayloadTooLargeError(f"inflated body exceeds {limit} bytes", code="batch_too_large")
                chunk = inflater.unconsumed_tail
            if not inflater.eof:
                raise BadRequestError("gzip body is truncated", code="invalid_gzip")
            remaining = inflater.unused_data
    except zlib.error as exc:
        raise BadRequestError(f"body is not valid gzip: {exc}", code="invalid_gzip") from None
    return bytes(out)


def json_object(raw: bytes | str | None, *, allow_empty: bool = False) -> dict[str, Any]:
    """Parse a JSON object body."""
    if not raw:
        if allow_empty:
            return {}
        raise BadRequestError("request body must be a JSON object", code="invalid_json")
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise BadRequestError("request body is not valid JSON", code="invalid_json") from None
    if not isinstance(value, dict):
        raise BadRequestError("request body must be a JSON object", code="invalid_json")
    return value


def optional_text(body: dict[str, Any], name: str, *, max_length: int) -> str | None:
    """An optional string field of bounded length."""
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > max_length:
        raise BadRequestError(f"{name} must be a string of at most {max_length} characters")
    return value


@dataclass(frozen=True, kw_only=True)
class Batch:
    """A validated event batch, ready to be written."""

    seq: int
    event_count: int
    first_timestamp: float
    last_timestamp: float
    raw_bytes: int


_BATCH_FIELDS = frozenset({"seq", "events"})


def event_batch(body: bytes) -> Batch:
    """Validate an inflated ``{"seq": n, "events": [...]}`` body.

    Every event must be an object with an integer ``type`` and a numeric
    ``timestamp``, which is what rrweb's player needs to place it.
    """
    data = json_object(body)
    unknown = set(data) - _BATCH_FIELDS
    if unknown:
        raise BadRequestError(f"unknown fields: {', '.join(sorted(unknown))}", code="invalid_batch")
    seq = data.get("seq")
    if type(seq) is not int or not 0 <= seq <= settings.MAX_SEQ:
        raise BadRequestError("seq must be a non-negative integer", code="invalid_batch")
    events = data.get("events")
    if type(events) is not list or not events:
        raise BadRequestError("events must be a non-empty array", code="invalid_batch")
    if len(events) > settings.MAX_EVENTS_PER_BATCH:
        raise PayloadTooLargeError(
            f"a batch holds at most {settings.MAX_EVENTS_PER_BATCH} events", code="batch_too_large"
        )
    first = last = None
    for position, event in enumerate(events):
        if type(event) is not dict:
            raise BadRequestError(f"events[{position}] is not an object", code="invalid_event")
        kind = event.get("type")
        stamp = event.get("timestamp")
        if type(kind) is not int or type(stamp) not in (int, float):
            raise BadRequestError(
                f"events[{position}] needs an integer type and a numeric timestamp",
                code="invalid_event",
            )
        if first is None or stamp < first:
            first = stamp
        if last is None or stamp > last:
            last = stamp
    return Batch(
        seq=seq,
        event_count=len(events),
        first_timestamp=first,
        last_timestamp=last,
        raw_bytes=len(body),
    )
