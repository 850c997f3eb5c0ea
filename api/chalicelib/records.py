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
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import msgspec
import orjson

from .settings import MAX_PART_PAYLOAD_BYTES

VERSION = 1
ENCODING_GZIP = "gzip"


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
    part_size: int = MAX_PART_PAYLOAD_BYTES,
) -> list[bytes]:
    """Encode one batch's gzip payload as ingest records, each one JSON line ending in a newline.

    The newline is part of the record, so the archive (Firehose without record
    processing concatenates records as they are) is JSON lines too. Every part carries
    the batch's event count, inflated size, time span and console errors (``events``,
    ``raw``, ``first``, ``last``, ``errors``): the stream consumer counts the batch from
    its first part. ``errors`` is left out when there are none (most batches), which
    reads as 0, as in records written before it was carried.
    """
    chunks = [payload[at : at + part_size] for at in range(0, len(payload), part_size)]
    # Parts of one attempt share the payload's checksum, so parts of two attempts at the
    # same seq (a retry whose bytes differ) are never joined together.
    checksum = format(zlib.crc32(payload), "08x")
    counted: dict[str, Any] = {"events": events, "raw": raw, "first": first, "last": last}
    if errors:
        counted["errors"] = errors
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


def parse_record(line: bytes) -> RecordPart | None:
    """Decode one ingest record line; None for anything that is not one."""
    try:
        value = orjson.loads(line)
        if value.get("v") != VERSION or value.get("enc") != ENCODING_GZIP:
            return None
        part, parts, seq = value["part"], value["parts"], value["seq"]
        if not (type(part) is int and type(parts) is int and type(seq) is int and 0 <= part < parts):
            return None
        return RecordPart(
            owner=value["owner"],
            recording=value["recording"],
            seq=seq,
            part=part,
            parts=parts,
            crc=str(value.get("crc", "")),
            data=base64.b64decode(value["data"], validate=True),
            events=_count(value.get("events")),
            raw=_count(value.get("raw")),
            first=_timestamp(value.get("first")),
            last=_timestamp(value.get("last")),
            received=_count(value.get("received")),
            errors=_count(value.get("errors")),
        )
    except (orjson.JSONDecodeError, AttributeError, KeyError, TypeError, binascii.Error):
        return None


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


def payload_events(payload: bytes) -> list[bytes]:
    """The events of one assembled payload (a gzip ``{"seq", "events", ...}`` body), each as the JSON it arrived as.

    Events are sliced out of the stored bytes, never parsed into Python objects: they
    were validated when they arrived. A JSON string cannot hold a raw newline, so a
    newline in an event is whitespace and is dropped, keeping one event per line.
    """
    events = _STORED.decode(gzip.decompress(payload)).events
    return [raw if b"\n" not in raw else raw.replace(b"\n", b"").replace(b"\r", b"") for raw in map(bytes, events)]
