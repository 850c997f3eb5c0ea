"""Parsing and validation of everything a client sends.

Each function either returns clean Python values or raises an ``ApiError`` subclass;
nothing here touches AWS, so a rejected request has changed nothing.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import dataclasses
import itertools
import re
import sys
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any

import msgspec
import orjson
from msgspec import Meta

from . import settings
from .errors import ApiError, BadRequestError, PayloadTooLargeError

# Strict on purpose: the id becomes part of S3 keys and DynamoDB keys, so no slashes,
# dots, '=' or non-ASCII can reach them. The recorder checks ids with the same pattern
# (site/src/generated/limits.json).
RECORDING_ID_PATTERN = "[A-Za-z0-9_-]{8,64}"
_RECORDING_ID = re.compile(rf"\A{RECORDING_ID_PATTERN}\Z")
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


def recording_ids(body: dict[str, Any], most: int) -> list[str]:
    """``{"ids": [...]}``: 1 to ``most`` recording ids, each checked, duplicates dropped (400 naming ``ids``)."""
    ids = body.get("ids")
    if not isinstance(ids, list) or not 1 <= len(ids) <= most:
        raise BadRequestError(f"ids must be a list of 1 to {most} recording ids", code="invalid_ids")
    for value in ids:
        if not isinstance(value, str) or not _RECORDING_ID.match(value):
            raise BadRequestError(
                f"ids must be recording ids (8-64 of A-Z a-z 0-9 _ -): {str(value)[:80]!r}", code="invalid_ids"
            )
    return list(dict.fromkeys(ids))


def user_id(value: str) -> str:
    """An identified visitor's id as a path names it: 1 to MAX_USER_ID_LENGTH characters (400 otherwise)."""
    if not value or len(value) > settings.MAX_USER_ID_LENGTH or not value.isprintable():
        raise BadRequestError(
            f"the user id must be 1 to {settings.MAX_USER_ID_LENGTH} printable characters", code="invalid_user"
        )
    return value


def list_limit(value: str | None) -> int:
    """The ``limit`` query parameter: 1..LIST_LIMIT_MAX, default LIST_LIMIT_DEFAULT."""
    if value is None:
        return settings.LIST_LIMIT_DEFAULT
    if not value.isascii() or not value.isdigit() or not 1 <= int(value) <= settings.LIST_LIMIT_MAX:
        raise BadRequestError(f"limit must be an integer from 1 to {settings.LIST_LIMIT_MAX}", code="invalid_limit")
    return int(value)


# Creation times in the list's index key are 13 digits of milliseconds.
_MAX_CREATED = 10**13 - 1


@dataclass(frozen=True, kw_only=True)
class ListFilters:
    """What GET /recordings narrows the list to (each None or False: not filtered)."""

    q: str | None = None
    user: str | None = None
    since: int | None = None
    until: int | None = None
    min_duration: int | None = None
    max_duration: int | None = None
    errors: bool = False

    @property
    def on_items(self) -> bool:
        """Whether a filter needs the items (the creation range is the index's own key)."""
        return any(value is not None for value in (self.q, self.user, self.min_duration, self.max_duration)) or bool(
            self.errors
        )


def _whole(query: Mapping[str, str], name: str, most: int) -> int | None:
    value = query.get(name)
    if value is None or value == "":
        return None
    if not value.isascii() or not value.isdigit() or len(value) > 16 or int(value) > most:
        raise BadRequestError(f"{name} must be a whole number from 0 to {most}", code="invalid_parameter")
    return int(value)


def _text_parameter(query: Mapping[str, str], name: str, most: int) -> str | None:
    value = query.get(name)
    if not value:
        return None
    if len(value) > most:
        raise BadRequestError(f"{name} must be at most {most} characters", code="invalid_parameter")
    return value


def list_filters(query: Mapping[str, str]) -> ListFilters:
    """The filters of GET /recordings: q, user, from, to, minDurationMs, maxDurationMs, errors.

    ``from`` and ``to`` are creation times in ms, both included. An empty value is no
    filter; anything else that is not a valid value is a 400 naming the parameter.
    """
    filters = ListFilters(
        q=_text_parameter(query, "q", settings.MAX_SEARCH_LENGTH),
        user=_text_parameter(query, "user", settings.MAX_USER_ID_LENGTH),
        since=_whole(query, "from", _MAX_CREATED),
        until=_whole(query, "to", _MAX_CREATED),
        min_duration=_whole(query, "minDurationMs", settings.MAX_TIMESTAMP),
        max_duration=_whole(query, "maxDurationMs", settings.MAX_TIMESTAMP),
        errors=flag(query.get("errors"), name="errors"),
    )
    if filters.since is not None and filters.until is not None and filters.since > filters.until:
        raise BadRequestError("from must not be after to", code="invalid_parameter")
    if (
        filters.min_duration is not None
        and filters.max_duration is not None
        and filters.min_duration > filters.max_duration
    ):
        raise BadRequestError("minDurationMs must not be above maxDurationMs", code="invalid_parameter")
    return filters


def flag(value: str | None, *, name: str) -> bool:
    """A boolean query parameter: absent, ``0`` or ``false`` is False; ``1`` or ``true`` is True."""
    if value is None or value in ("0", "false"):
        return False
    if value in ("1", "true"):
        return True
    raise BadRequestError(f"{name} must be 1 or 0", code="invalid_parameter")


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
    bytes of memory before it is refused. Every step either produces output, consumes
    input or ends the member, so no body can keep the loop turning without progress.
    """
    out = bytearray()
    remaining = data
    members = 0
    try:
        while remaining:
            if not remaining.startswith(GZIP_MAGIC):
                raise BadRequestError("body is not valid gzip", code="invalid_gzip")
            members += 1
            if members > settings.MAX_GZIP_MEMBERS:
                raise BadRequestError(
                    f"a gzip body holds at most {settings.MAX_GZIP_MEMBERS} members", code="invalid_gzip"
                )
            inflater = zlib.decompressobj(wbits=31)
            pending = remaining
            while not inflater.eof:
                piece = inflater.decompress(pending, _INFLATE_STEP)
                out += piece
                if len(out) > limit:
                    raise PayloadTooLargeError(f"inflated body exceeds {limit} bytes", code="batch_too_large")
                consumed = len(pending) - len(inflater.unconsumed_tail)
                pending = inflater.unconsumed_tail
                if not piece and not consumed and not inflater.eof:
                    raise BadRequestError("gzip body is truncated", code="invalid_gzip")
            # At the end of a member zlib may leave input in both unconsumed_tail and
            # unused_data; unused_data alone is what follows the member.
            remaining = inflater.unused_data
    except zlib.error as exc:
        raise BadRequestError(f"body is not valid gzip: {exc}", code="invalid_gzip") from None
    return bytes(out)


def json_object(
    raw: bytes | str | None, *, allow_empty: bool = False, max_bytes: int = settings.MAX_SMALL_BODY_BYTES
) -> dict[str, Any]:
    """Parse a small JSON object body (at most ``max_bytes``, checked before parsing)."""
    if not raw:
        if allow_empty:
            return {}
        raise BadRequestError("request body must be a JSON object", code="invalid_json")
    if len(raw) > max_bytes:
        raise PayloadTooLargeError(f"request body exceeds {max_bytes} bytes", code="body_too_large")
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
        raise BadRequestError(f"{name} must be a string of at most {max_length} characters", code="invalid_field")
    return value


# The batch schema. Only what the API needs is decoded: ``seq``, and each event's
# ``type`` and ``timestamp``. Everything else in an event (its ``data``: DOM trees,
# stylesheets, images) is checked for well-formed JSON by msgspec in C and skipped,
# never turned into Python objects, so a batch costs memory for its bytes and its
# event count, not for how many values or how long strings it holds.
_Timestamp = (
    Annotated[int, Meta(ge=settings.MIN_TIMESTAMP, le=settings.MAX_TIMESTAMP)]
    | Annotated[float, Meta(ge=settings.MIN_TIMESTAMP, le=settings.MAX_TIMESTAMP)]
)
_EventType = Annotated[int, Meta(ge=-settings.MAX_SEQ, le=settings.MAX_SEQ)]
_Seq = Annotated[int, Meta(ge=0, le=settings.MAX_SEQ)]


class _Event(msgspec.Struct, gc=False):
    type: _EventType
    timestamp: _Timestamp


class _Batch(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    seq: _Seq
    events: Annotated[list[_Event], Meta(min_length=1)]
    # Console errors among the events, and who the visitor is (both optional).
    errors: msgspec.Raw = msgspec.Raw(b"null")
    user: msgspec.Raw = msgspec.Raw(b"null")
    # The recorder's stop(): the recording's last batch (optional).
    end: bool = False
    # The recorder heard that someone watches (optional): the API then sends the batch
    # the fast way, if the recording is watched indeed (``ingest.commit``).
    live: bool = False
    # The page's question about its assets, riding on the batch (optional; assets.carried).
    assets: msgspec.Raw = msgspec.Raw(b"null")


class _CreateBatch(msgspec.Struct, gc=False):
    """The batch inside a create body, whose other fields are the recording's own."""

    seq: _Seq
    events: Annotated[list[_Event], Meta(min_length=1)]


_NULL = msgspec.Raw(b"null")


class _CreateFields(msgspec.Struct, gc=False):
    """A create body: its own fields, kept raw until their size is known, and an optional batch."""

    id: msgspec.Raw = _NULL
    url: msgspec.Raw = _NULL
    title: msgspec.Raw = _NULL
    seq: msgspec.Raw = _NULL
    events: msgspec.Raw = _NULL
    view: msgspec.Raw = _NULL
    referrer: msgspec.Raw = _NULL
    viewport: msgspec.Raw = _NULL
    user: msgspec.Raw = _NULL
    errors: msgspec.Raw = _NULL
    end: msgspec.Raw = _NULL
    assets: msgspec.Raw = _NULL


_Dimension = Annotated[int, Meta(ge=0, le=settings.MAX_VIEWPORT_PIXELS)]


class _Viewport(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    width: _Dimension
    height: _Dimension


_TraitValue = Annotated[str, Meta(max_length=settings.MAX_TRAIT_VALUE_LENGTH)] | int | float | bool | None
_Traits = Annotated[
    dict[Annotated[str, Meta(max_length=settings.MAX_TRAIT_KEY_LENGTH)], _TraitValue],
    Meta(max_length=settings.MAX_TRAITS),
]


class _User(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    id: Annotated[str, Meta(min_length=1, max_length=settings.MAX_USER_ID_LENGTH)]
    traits: _Traits | None = None


# msgspec refuses nesting at the interpreter's recursion limit, less the frames
# already in use, which differ between Lambda and the local stack. A limit well above
# MAX_JSON_DEPTH makes "up to MAX_JSON_DEPTH levels" hold wherever the call sits.
sys.setrecursionlimit(max(sys.getrecursionlimit(), settings.MAX_JSON_DEPTH + 1000))

_BATCH = msgspec.json.Decoder(_Batch)
_CREATE = msgspec.json.Decoder(_CreateFields)
_CREATE_BATCH = msgspec.json.Decoder(_CreateBatch)
_STRING = msgspec.json.Decoder(str)
_VIEW: msgspec.json.Decoder[int] = msgspec.json.Decoder(
    Annotated[int, Meta(ge=settings.MIN_TIMESTAMP, le=settings.MAX_TIMESTAMP)]
)
_VIEWPORT = msgspec.json.Decoder(_Viewport)
_USER = msgspec.json.Decoder(_User)
_ERRORS: msgspec.json.Decoder[int] = msgspec.json.Decoder(Annotated[int, Meta(ge=0, le=settings.MAX_EVENTS_PER_BATCH)])
# A user's raw JSON is refused unread above this: its id and traits at their limits,
# every character written as a six-byte \uXXXX escape, so nothing valid is longer.
_MAX_USER_RAW = 6 * (settings.MAX_USER_ID_LENGTH + settings.MAX_TRAITS_BYTES) + 64
# Lone UTF-16 surrogate escapes. Browsers' JSON.stringify writes them for text cut
# inside an emoji; msgspec refuses them. A body msgspec refused is repaired only while it
# holds at most MAX_SURROGATE_ESCAPES surrogate escapes (pairs included): a browser
# writes a valid pair as UTF-8 and a lone half only where text was cut, so a real batch
# holds a few, and a body of millions would cost a Python step each; it is refused after
# finding the first few thousand, in C.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
_REPLACEMENT = b"\\ufffd"
_ESCAPE = 6  # bytes of one escape: a backslash, "u" and four hex digits
_ERROR_PATH = re.compile(r" - at `\$(?P<path>[^`]*)`\Z")
_UTF8_STEP = 1024 * 1024


@dataclass(frozen=True, kw_only=True)
class User:
    """Who the visitor is, as the page's ``identify()`` said: an id and optional traits."""

    id: str
    # The traits as compact JSON (how they are stored), None when none were given.
    traits_json: str | None = None

    @property
    def traits(self) -> dict[str, Any] | None:
        """The traits as an object."""
        return orjson.loads(self.traits_json) if self.traits_json is not None else None


@dataclass(frozen=True, kw_only=True)
class Batch:
    """A validated event batch, ready to be written."""

    seq: int
    event_count: int
    first_timestamp: int | float
    last_timestamp: int | float
    raw_bytes: int
    # Console errors among the events (as the recorder counted them).
    errors: int = 0
    user: User | None = None
    # The recorder ended the recording with this batch (its stop()).
    end: bool = False
    # The recorder asks for the watched path: it heard someone follows the recording live.
    live: bool = False
    # The page's question about its assets, as sent (checked by ``assets.carried``).
    assets: bytes | None = None


def _schema_error(exc: msgspec.ValidationError) -> ApiError:
    """The API error for a batch that is JSON but not a batch, naming where it is wrong."""
    message = str(exc)
    match = _ERROR_PATH.search(message)
    path = match.group("path") if match else ""
    if not path and message.startswith("Expected `object`"):
        return BadRequestError("request body must be a JSON object", code="invalid_json")
    if path.startswith(".events["):
        return BadRequestError(message, code="invalid_event")
    if path == ".errors":
        return _errors_refused(message)
    return BadRequestError(message, code="invalid_batch")


def _errors_refused(detail: str) -> ApiError:
    return BadRequestError(
        f"errors must be a whole number from 0 to the batch's event count ({detail})", code="invalid_errors"
    )


def _decode(decoder: msgspec.json.Decoder[Any], data: bytes) -> Any:
    try:
        return decoder.decode(data)
    except (msgspec.DecodeError, RecursionError) as exc:
        raise _refusal(exc) from None


def _refusal(exc: msgspec.DecodeError | RecursionError) -> ApiError:
    """The API error for a body msgspec refused."""
    if isinstance(exc, msgspec.ValidationError):
        return _schema_error(exc)
    if isinstance(exc, RecursionError):
        return BadRequestError(f"JSON nested deeper than about {settings.MAX_JSON_DEPTH} levels", code="too_deep")
    return BadRequestError(f"request body is not valid JSON: {exc}", code="invalid_json")


def _decode_repairing(decoder: msgspec.json.Decoder[Any], data: bytes) -> tuple[Any, bytes]:
    """Decode ``data``, or its ``well_formed`` copy if msgspec refuses it as JSON; also return which was decoded.

    The decoder runs first: it checks every escape in C, surrogate pairs included, so a
    body without lone surrogates (nearly all of them, and any number of emoji written as
    escapes) is never searched for them. Only a body the decoder refuses as JSON (not
    for its schema or depth) is repaired and decoded again; if the repair changes
    nothing, the first refusal stands.
    """
    try:
        return decoder.decode(data), data
    except msgspec.ValidationError as exc:
        raise _refusal(exc) from None
    except msgspec.DecodeError as exc:
        refused = _refusal(exc)
    except RecursionError as exc:
        raise _refusal(exc) from None
    repaired = well_formed(data)
    if repaired is data:
        raise refused
    return _decode(decoder, repaired), repaired


def well_formed(data: bytes) -> bytes:
    """``data`` with every lone UTF-16 surrogate escape replaced by ``\\ufffd`` (``data`` itself if none).

    Valid JSON, and what browsers send for text cut inside an emoji, but no decoder or
    player can make a string of it: one such character must not refuse a whole batch.
    Pairs (an emoji written as two escapes) are kept, and so is text that only looks like
    an escape (``\\\\ud800``: an escaped backslash, then ``ud800``). Raises 400
    ``invalid_json`` for a body with more than ``settings.MAX_SURROGATE_ESCAPES``
    surrogate escapes. One C scan of ``data``, at most ``MAX_SURROGATE_ESCAPES`` Python
    steps, and one copy of ``data`` (the repaired bytes) when something is repaired.
    """
    found = list(itertools.islice(_SURROGATE_ESCAPE.finditer(data), settings.MAX_SURROGATE_ESCAPES + 1))
    if len(found) > settings.MAX_SURROGATE_ESCAPES:
        raise BadRequestError(
            "request body holds more than "
            f"{settings.MAX_SURROGATE_ESCAPES} escaped UTF-16 surrogates, one of them unpaired: at most "
            f"{settings.MAX_SURROGATE_ESCAPES} are repaired (send text as UTF-8, as JSON.stringify does)",
            code="invalid_json",
        )
    # An escape only where the backslash is not itself escaped: an even run of backslashes before it.
    high: set[int] = set()
    low: set[int] = set()
    for match in found:
        at = match.start()
        if _backslashes_before(data, at) % 2 == 0:
            (high if int(data[at + 2 : at + _ESCAPE], 16) <= 0xDBFF else low).add(at)
    lone = sorted({at for at in high if at + _ESCAPE not in low} | {at for at in low if at - _ESCAPE not in high})
    if not lone:
        return data
    out = bytearray(data)
    for at in lone:
        out[at : at + _ESCAPE] = _REPLACEMENT
    return bytes(out)


def _backslashes_before(data: bytes, at: int) -> int:
    """How many backslashes come right before ``at``, counted in C.

    The window doubles until the run ends inside it; runs before different escapes do not
    overlap, so all the counting of one body reads each byte a bounded number of times.
    """
    if at == 0 or data[at - 1] != 0x5C:
        return 0
    width = 64
    while True:
        start = max(0, at - width)
        window = data[start:at]
        run = len(window) - len(window.rstrip(b"\\"))
        if run < len(window) or start == 0:
            return run
        width *= 2


def _require_utf8(data: bytes) -> None:
    """Refuse bytes that are not UTF-8, in bounded steps (skipped strings are not checked by msgspec)."""
    if data.isascii():
        return
    decoder = codecs.getincrementaldecoder("utf-8")()
    view = memoryview(data)
    try:
        for at in range(0, len(view), _UTF8_STEP):
            decoder.decode(view[at : at + _UTF8_STEP])
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        raise BadRequestError("request body is not valid UTF-8", code="invalid_json") from None


def _check_count(events: list[Any]) -> None:
    # Checked after decoding: the smallest valid event is 24 bytes, so 16 MiB holds at
    # most ~700,000, whose field-only structs stay near 30 MiB (bench/limits.py).
    if len(events) > settings.MAX_EVENTS_PER_BATCH:
        raise PayloadTooLargeError(
            f"a batch holds at most {settings.MAX_EVENTS_PER_BATCH} events", code="batch_too_large"
        )


def event_batch(body: bytes) -> Batch:
    """Validate an inflated ``{"seq": n, "events": [...]}`` body.

    Every event must be an object with an integer ``type`` and a ``timestamp`` in
    milliseconds (MIN_TIMESTAMP..MAX_TIMESTAMP), which is what rrweb's player needs to
    place it; the rest must be well-formed JSON. Nothing is written before this passes.
    Lone surrogate escapes are validated as repaired (``well_formed``); the body is
    stored as sent, and repaired again where it is read (``records.payload_events``).
    """
    if not body:
        raise BadRequestError("request body must be a JSON object", code="invalid_json")
    _require_utf8(body)
    batch, text = _decode_repairing(_BATCH, body)
    _check_count(batch.events)
    return dataclasses.replace(
        _batch(batch, text, errors=batch.errors, user=batch.user, end=batch.end),
        assets=_raw_or_none(batch.assets),
        live=batch.live,
    )


def _raw_or_none(raw: msgspec.Raw) -> bytes | None:
    """A raw optional field's JSON, or None when absent or null."""
    return None if raw == _NULL else bytes(raw)


def _batch(decoded: Any, body: bytes, *, errors: msgspec.Raw, user: msgspec.Raw, end: bool = False) -> Batch:
    """The validated ``Batch`` of a decoded batch and its optional ``errors`` and ``user``."""
    stamps = [event.timestamp for event in decoded.events]
    return Batch(
        seq=decoded.seq,
        event_count=len(decoded.events),
        first_timestamp=min(stamps),
        last_timestamp=max(stamps),
        raw_bytes=len(body),
        errors=error_count(errors, events=len(decoded.events)),
        user=visitor(user),
        end=end,
    )


def error_count(raw: msgspec.Raw, *, events: int) -> int:
    """A batch's ``errors``: a whole number from 0 to its event count (absent or null: 0)."""
    if raw == _NULL:
        return 0
    try:
        value = _ERRORS.decode(raw)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise _errors_refused(str(exc)) from None
    if value > events:
        raise _errors_refused(f"{value} errors in {events} events")
    return value


def visitor(raw: msgspec.Raw) -> User | None:
    """A ``user`` field: ``{"id": 1..256 characters, "traits": {...}}``, or None when absent or null.

    Traits: at most MAX_TRAITS keys of at most MAX_TRAIT_KEY_LENGTH characters, each value
    a string (at most MAX_TRAIT_VALUE_LENGTH characters), a number, a boolean or null, and
    at most MAX_TRAITS_BYTES of JSON in all. A longer raw value is refused unread.
    """
    if raw == _NULL:
        return None
    refused = (
        f'user must be {{"id": a string of 1 to {settings.MAX_USER_ID_LENGTH} characters, "traits": an object '
        f"of at most {settings.MAX_TRAITS} keys of at most {settings.MAX_TRAIT_KEY_LENGTH} characters whose values are "
        f"strings of at most {settings.MAX_TRAIT_VALUE_LENGTH} characters, numbers, booleans or null, "
        f"at most {settings.MAX_TRAITS_BYTES} bytes of JSON}}"
    )
    if len(raw) > _MAX_USER_RAW:
        raise BadRequestError(refused, code="invalid_user")
    try:
        user = _USER.decode(raw)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise BadRequestError(f"{refused}: {exc}", code="invalid_user") from None
    if user.traits is None:
        return User(id=user.id)
    traits = msgspec.json.encode(user.traits).decode()
    if len(traits.encode()) > settings.MAX_TRAITS_BYTES:
        raise BadRequestError(f"{refused}: traits are {len(traits.encode())} bytes", code="invalid_user")
    return User(id=user.id, traits_json=traits)


@dataclass(frozen=True, kw_only=True)
class Viewport:
    """The size of the page's window, in CSS pixels."""

    width: int
    height: int


@dataclass(frozen=True, kw_only=True)
class CreateBody:
    """A validated create body: the recording's own fields, and whether it carries a batch."""

    id: str | None
    url: str | None
    title: str | None
    batch: Batch | None
    # When this page view started (ms), the page's referrer and window, who the visitor is.
    view: int | None = None
    referrer: str | None = None
    viewport: Viewport | None = None
    user: User | None = None
    # The page's question about its assets, as sent (checked by ``assets.carried``).
    assets: bytes | None = None


def _raw_text(raw: msgspec.Raw, name: str, *, max_length: int, code: str = "invalid_field") -> str | None:
    if raw == _NULL:
        return None
    refused = BadRequestError(f"{name} must be a string of at most {max_length} characters", code=code)
    # Six bytes per character at most (\uXXXX): a longer raw value is refused unread.
    if len(raw) > 6 * max_length + 2:
        raise refused
    try:
        value = _STRING.decode(raw)
    except msgspec.ValidationError:
        raise refused from None
    if len(value) > max_length:
        raise refused
    return value


def create_body(body: bytes) -> CreateBody:
    """Validate an inflated create body: ``id``, ``url``, ``title``, and optionally ``seq`` and ``events``.

    Other fields are ignored (older and newer recorders may send more). With ``seq``
    or ``events`` present, the body must also be a valid batch. Lone surrogate escapes
    are read as U+FFFD, as in ``event_batch``.
    """
    if not body:
        return CreateBody(id=None, url=None, title=None, batch=None)
    _require_utf8(body)
    fields, body = _decode_repairing(_CREATE, body)
    recording = _raw_text(fields.id, "id", max_length=64, code="invalid_id")
    user = visitor(fields.user)
    create = CreateBody(
        id=recording_id(recording) if recording is not None else None,
        url=_raw_text(fields.url, "url", max_length=settings.MAX_URL_LENGTH),
        title=_raw_text(fields.title, "title", max_length=settings.MAX_TITLE_LENGTH),
        batch=None,
        view=_view(fields.view),
        # document.referrer is "" when there is none.
        referrer=_raw_text(fields.referrer, "referrer", max_length=settings.MAX_URL_LENGTH, code="invalid_referrer")
        or None,
        viewport=_viewport(fields.viewport),
        user=user,
        assets=_raw_or_none(fields.assets),
    )
    if fields.seq == _NULL and fields.events == _NULL:
        error_count(fields.errors, events=0)  # without a batch there are no errors to count
        return create
    batch = _decode(_CREATE_BATCH, body)
    _check_count(batch.events)
    # The body's user is the recording's; its first batch does not carry it again.
    return dataclasses.replace(
        create, batch=_batch(batch, body, errors=fields.errors, user=_NULL, end=_end(fields.end))
    )


def _end(raw: msgspec.Raw) -> bool:
    """A create body's ``end``: true when its batch is the recording's last (absent or null: false)."""
    if raw == _NULL:
        return False
    value = bytes(raw)
    if value not in (b"true", b"false"):
        raise BadRequestError("end must be true or false", code="invalid_batch")
    return value == b"true"


def _view(raw: msgspec.Raw) -> int | None:
    if raw == _NULL:
        return None
    try:
        return _VIEW.decode(raw)
    except (msgspec.ValidationError, msgspec.DecodeError):
        raise BadRequestError(
            f"view must be a whole number of milliseconds since 1970 (at most {settings.MAX_TIMESTAMP})",
            code="invalid_view",
        ) from None


def _viewport(raw: msgspec.Raw) -> Viewport | None:
    if raw == _NULL:
        return None
    try:
        # Refused unread when longer than two numbers in braces could be.
        if len(raw) > 256:
            raise msgspec.ValidationError("too long")
        value = _VIEWPORT.decode(raw)
    except (msgspec.ValidationError, msgspec.DecodeError):
        raise BadRequestError(
            f'viewport must be {{"width": w, "height": h}}, whole numbers from 0 to {settings.MAX_VIEWPORT_PIXELS}',
            code="invalid_viewport",
        ) from None
    return Viewport(width=value.width, height=value.height)
