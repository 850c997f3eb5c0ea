"""The ingest record: one JSON line per Kinesis record, readable by Firehose's JQ.

A batch's payload is the client's gzip body (or the server's gzip of a plain body):
it is never re-serialized. A payload above one record's capacity is split at the
byte level into ``parts``. (owner, recording, seq, part) identifies a record, since
Kinesis and Firehose deliver at least once; the reader drops repeats and joins parts.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import itertools
import math
import threading
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import msgspec
import orjson

from . import settings, validation
from .errors import ApiError
from .settings import MAX_PART_PAYLOAD_BYTES

VERSION = 1
ENCODING_GZIP = "gzip"


def _gzip_bound(size: int) -> int:
    """The most gzip can make of ``size`` bytes (zlib's ``deflateBound`` for stored blocks, plus the gzip wrapper)."""
    return size + (size >> 12) + (size >> 14) + (size >> 25) + 7 + 18


# The largest payload a batch can have: the client's gzip body as sent (at most
# MAX_BODY_BYTES), or the server's gzip of a batch (a plain body; records of earlier
# versions, still on the stream or in the archive, may hold a batch the server stored
# repaired: at most MAX_BATCH_BYTES inflated, which gzip can only grow by its bound).
MAX_PAYLOAD_BYTES = max(settings.MAX_BODY_BYTES, _gzip_bound(settings.MAX_BATCH_BYTES))
# So a batch has at most this many parts: a record claiming more can never be joined,
# and would keep its recording waiting for parts that cannot exist.
MAX_PARTS = math.ceil(MAX_PAYLOAD_BYTES / MAX_PART_PAYLOAD_BYTES)
# A stream record holds at most 1 MiB (Kinesis's limit): a longer line in an object is
# not a record, and is skipped without being held whole.
MAX_LINE_BYTES = 1024 * 1024
# Objects are inflated in steps of this many bytes, so no object is ever held inflated.
_INFLATE_STEP = 256 * 1024


# The stream's two consumers (docs/architecture.md, "Two consumers") take their records by
# these Lambda event filters on a record's JSON: the watched one those marked ``live``,
# the unwatched one every other (records written before the mark existed included).
# Every record the API writes is JSON, which a filter on ``data`` needs.
LIVE_FILTER: dict[str, Any] = {"data": {"live": [True]}}
UNWATCHED_FILTER: dict[str, Any] = {"data": {"live": [{"exists": False}]}}


class MalformedRecordError(ValueError):
    """A line, or a batch's payload, that is not what the API writes (the message says why)."""


class TooManyPartsError(MalformedRecordError):
    """A record claiming more parts than any batch can have (``MAX_PARTS``)."""


def build_records(
    *,
    owner: str,
    recording: str,
    seq: int,
    payload: bytes,
    received: int,
    events: int,
    raw: int = 0,
    first: int | float | None = None,
    last: int | float | None = None,
    errors: int = 0,
    live: bool = False,
    part_size: int = MAX_PART_PAYLOAD_BYTES,
) -> list[bytes]:
    """Encode one batch's gzip payload as ingest records, each one JSON line ending in a newline.

    The newline is part of the record, so the archive (Firehose without record
    processing concatenates records as they are) is JSON lines too. Every part carries
    the batch's event count, inflated size, time span and console errors (``events``,
    ``raw``, ``first``, ``last``, ``errors``): the stream consumer counts the batch from
    its first part. ``errors`` is left out when there are none (most batches), which
    reads as 0, as in records written before it was carried. ``live`` marks a batch of a
    recording someone watches: the stream's two consumers tell their records apart by
    it (``LIVE_FILTER``), and it is left out otherwise, so records written before it
    existed read as unwatched.
    """
    chunks = [payload[at : at + part_size] for at in range(0, len(payload), part_size)]
    if len(chunks) > MAX_PARTS:
        # Not at the stack's part size: MAX_PARTS is derived from the body limits. Refused
        # here, a batch whose records the consumer would skip is never acknowledged.
        raise ValueError(f"{len(chunks)} parts: the consumer takes at most {MAX_PARTS}")
    # Parts of one attempt share the payload's checksum, so parts of two attempts at the
    # same seq (a retry whose bytes differ) are never joined together.
    checksum = format(zlib.crc32(payload), "08x")
    counted: dict[str, Any] = {"events": events, "raw": raw, "first": first, "last": last}
    if errors:
        counted["errors"] = errors
    if live:
        counted["live"] = True
    return [
        orjson.dumps(
            {
                "v": VERSION,
                "owner": owner,
                "recording": recording,
                "seq": seq,
                "part": index,
                "parts": len(chunks),
                "crc": checksum,
                "received": received,
                **counted,
                "enc": ENCODING_GZIP,
                "data": base64.b64encode(chunk).decode("ascii"),
            }
        )
        + b"\n"
        for index, chunk in enumerate(chunks)
    ]


@dataclass(frozen=True, slots=True)
class RecordPart:
    """One decoded ingest record."""

    owner: str
    recording: str
    seq: int
    part: int
    parts: int
    crc: str
    data: bytes
    # The batch's counts (records written before they were carried have none).
    events: int = 0
    raw: int = 0
    first: int | float | None = None
    last: int | float | None = None
    # When the API put it on the stream (ms), 0 when unknown.
    received: int = 0
    # Console errors among the batch's events (records written before they were carried: 0).
    errors: int = 0
    # Sent the watched way (``build_records``).
    live: bool = False


def parse_record(line: bytes) -> RecordPart | None:
    """Decode one ingest record line; None for anything that is not one."""
    try:
        return decode_record(line)
    except MalformedRecordError:
        return None


def decode_record(line: bytes, *, data: bool = True) -> RecordPart:
    """Decode one ingest record line, or raise ``MalformedRecordError`` saying why it is not one.

    ``data=False`` checks the record but leaves its payload bytes out (``data`` is empty):
    what a reader needs to plan which records to read, without holding their data.
    """
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError:
        raise MalformedRecordError("not JSON") from None
    if type(value) is not dict or value.get("v") != VERSION or value.get("enc") != ENCODING_GZIP:
        raise MalformedRecordError("not an ingest record")
    part, parts, seq = value.get("part"), value.get("parts"), value.get("seq")
    if not (type(part) is int and type(parts) is int and type(seq) is int and 0 <= part < parts and seq >= 0):
        raise MalformedRecordError("part, parts or seq is not a valid count")
    if parts > MAX_PARTS:
        raise TooManyPartsError(f"{parts} parts: a batch has at most {MAX_PARTS}")
    owner, recording, encoded = value.get("owner"), value.get("recording"), value.get("data")
    if not (type(owner) is str and type(recording) is str and type(encoded) is str):
        raise MalformedRecordError("owner, recording or data is not a string")
    try:
        payload = base64.b64decode(encoded, validate=True) if data else b""
    except binascii.Error:
        raise MalformedRecordError("data is not base64") from None
    return RecordPart(
        owner=owner,
        recording=recording,
        seq=seq,
        part=part,
        parts=parts,
        crc=str(value.get("crc", "")),
        data=payload,
        events=_count(value.get("events")),
        raw=_count(value.get("raw")),
        first=_timestamp(value.get("first")),
        last=_timestamp(value.get("last")),
        received=_count(value.get("received")),
        errors=_count(value.get("errors")),
        live=value.get("live") is True,
    )


def _count(value: object) -> int:
    return value if type(value) is int and value >= 0 else 0


def _timestamp(value: object) -> int | float | None:
    # The API validated the span; a record from elsewhere must not break the count.
    if type(value) in (int, float) and 0 < value < 2**53:  # type: ignore[operator]
        return value  # type: ignore[return-value]
    return None


def parse_object(body: bytes) -> Iterable[RecordPart]:
    """Decode the records of one chunk or archive object (GZIP, newline-delimited lines)."""
    data = gzip.decompress(body) if body[:2] == b"\x1f\x8b" else body
    return parse_lines(data)


def object_lines(pieces: Iterable[bytes]) -> Iterator[bytes | None]:
    """The non-empty lines of an object (GZIP or plain) arriving in ``pieces``, inflated step by step.

    At most one step of inflated bytes and one line (``MAX_LINE_BYTES``) are held at a
    time, whatever the object's size. A line longer than that, or whatever follows a
    point where the gzip stream is corrupt, is yielded once as None (not a record), so a
    caller counts it and the position of every other line stays the same on each read.
    """
    inflater: Any = None  # while reading gzip: the current member's
    gzip_object: bool | None = None
    in_member = False
    line = bytearray()
    overlong = False
    carry = b""  # the start of a gzip member (or of the object) too short to recognise yet
    for piece in itertools.chain((piece for piece in pieces if piece), [b""]):  # b"": the end
        pending = carry + piece if carry else piece
        carry = b""
        if gzip_object is None and pending:
            if len(pending) < 2 and piece:
                carry = pending
                continue
            gzip_object = pending[:2] == b"\x1f\x8b"
        while pending:
            if not gzip_object:
                out, pending = pending, b""
            else:
                if not in_member:
                    if len(pending) < 2 and piece:
                        carry = pending
                        break
                    if pending[:2] != b"\x1f\x8b":
                        yield None  # bytes after the gzip data: not records
                        return
                    inflater, in_member = zlib.decompressobj(wbits=31), True
                try:
                    out = inflater.decompress(pending, _INFLATE_STEP)
                except zlib.error:
                    yield None
                    return
                pending = inflater.unconsumed_tail
                if inflater.eof:
                    # The next gzip member, if any (concatenated members are one gzip file).
                    pending, in_member = inflater.unused_data + pending, False
            start = 0
            while True:
                end = out.find(b"\n", start)
                if end < 0:
                    break
                if not overlong and len(line) + end - start <= MAX_LINE_BYTES:
                    line += out[start:end]
                    if line.strip():
                        yield bytes(line)
                elif not overlong:
                    yield None
                overlong = False
                line.clear()
                start = end + 1
            if not overlong:
                if len(line) + len(out) - start > MAX_LINE_BYTES:
                    overlong = True
                    line.clear()
                    yield None
                else:
                    line += out[start:]
    if in_member:
        yield None  # a truncated gzip stream
    elif line.strip() and not overlong:
        yield bytes(line)


def parse_lines(data: bytes) -> Iterable[RecordPart]:
    """Decode newline-delimited ingest records, skipping anything that is not one."""
    for line in data.split(b"\n"):
        if line.strip():
            record = parse_record(line)
            if record is not None:
                yield record


def assemble(records: Iterable[RecordPart]) -> dict[int, bytes]:
    """Join parts into whole payloads by seq, dropping repeats.

    Parts are grouped by (seq, checksum, part count): an attempt's parts only join each
    other. For each seq the first attempt to be complete wins (a repeated seq carries the
    same events). A batch whose parts have not all arrived yet is left out until they have.
    """
    attempts: dict[tuple[int, str, int], dict[int, bytes]] = {}
    for record in records:
        attempts.setdefault((record.seq, record.crc, record.parts), {}).setdefault(record.part, record.data)
    whole: dict[int, bytes] = {}
    for (seq, _, total), parts in attempts.items():
        if seq not in whole and len(parts) == total:
            whole[seq] = b"".join(parts[index] for index in range(total))
    return whole


class _StoredBatch(msgspec.Struct, gc=False):
    """A stored payload: the events as raw JSON; other fields (a create body's) ignored."""

    events: list[msgspec.Raw]


_STORED = msgspec.json.Decoder(_StoredBatch)


def _stored_events(data: bytes) -> list[msgspec.Raw]:
    """The events of a stored batch, decoded where the stack leaves as much room as validation had, or more.

    msgspec stops at the interpreter's recursion limit less the frames in use, and
    validation accepted the batch on the request handler's stack: a reader or compactor
    deeper in its own calls could fail on a batch the API acknowledged. Such a batch is
    decoded again on a new thread, whose stack is nearly empty; only one nested past
    what any stack can hold (never accepted by the API) still raises RecursionError.
    """
    try:
        return _STORED.decode(data).events
    except RecursionError:
        pass
    outcome: list[list[msgspec.Raw] | BaseException] = []

    def decode() -> None:
        try:
            outcome.append(_STORED.decode(data).events)
        except (RecursionError, msgspec.DecodeError) as exc:
            outcome.append(exc)

    thread = threading.Thread(target=decode, name="decode-deep-batch")
    thread.start()
    thread.join()
    if isinstance(outcome[0], BaseException):
        raise outcome[0]
    return outcome[0]


def payload_events(payload: bytes) -> list[bytes]:
    """The events of one assembled payload (a gzip ``{"seq", "events", ...}`` body), each as the JSON it arrived as.

    Events are sliced out of the stored bytes, never parsed into Python objects: they
    were validated when they arrived (a lone surrogate escape, stored as sent, comes out
    as ``\\ufffd``, as it was validated). A JSON string cannot hold a raw newline, so a
    newline in an event is whitespace and is dropped, keeping one event per line.
    Raises ``MalformedRecordError`` for a payload that is not a gzip batch, or that
    inflates past ``MAX_BATCH_BYTES`` (no batch the API accepted does), so a record that
    did not come from the API costs at most that.
    """
    try:
        inflated = validation.inflate(payload, limit=settings.MAX_BATCH_BYTES)
        try:
            events = _stored_events(inflated)
        except msgspec.DecodeError:
            # Lone surrogate escapes are stored as sent: each becomes U+FFFD here, as it
            # did when the batch was validated (a body it cannot repair raises the first error).
            repaired = validation.well_formed(inflated)
            if repaired is inflated:
                raise
            del inflated
            events = _stored_events(repaired)
    except ApiError as exc:
        raise MalformedRecordError(f"payload: {exc}") from None
    except msgspec.DecodeError as exc:
        raise MalformedRecordError(f"payload is not a batch: {exc}") from None
    except RecursionError:
        raise MalformedRecordError(f"payload nests deeper than about {settings.MAX_JSON_DEPTH} levels") from None
    return [raw if b"\n" not in raw else raw.replace(b"\n", b"").replace(b"\r", b"") for raw in map(bytes, events)]
