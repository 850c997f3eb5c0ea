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
from collections.abc import Iterable
from dataclasses import dataclass

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
    part_size: int = MAX_PART_PAYLOAD_BYTES,
) -> list[bytes]:
    """Encode one batch's gzip payload as ingest records (the delivery stream adds the newline)."""
    chunks = [payload[at : at + part_size] for at in range(0, len(payload), part_size)]
    return [
        orjson.dumps(
            {
                "v": VERSION,
                "owner": owner,
                "recording": recording,
                "seq": seq,
                "part": index,
                "parts": len(chunks),
                "received": received,
                "events": events,
                "enc": ENCODING_GZIP,
                "data": base64.b64encode(chunk).decode("ascii"),
            }
        )
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
    data: bytes


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
            data=base64.b64decode(value["data"], validate=True),
        )
    except (orjson.JSONDecodeError, AttributeError, KeyError, TypeError, binascii.Error):
        return None


def parse_object(body: bytes) -> Iterable[RecordPart]:
    """Decode the records of one delivered object (GZIP, newline-delimited lines)."""
    data = gzip.decompress(body) if body[:2] == b"\x1f\x8b" else body
    for line in data.split(b"\n"):
        if line.strip():
            record = parse_record(line)
            if record is not None:
                yield record


def assemble(records: Iterable[RecordPart]) -> dict[int, bytes]:
    """Join parts into whole payloads by seq, dropping repeats.

    A batch whose parts have not all arrived yet is left out; it appears once its
    last part is delivered.
    """
    pieces: dict[int, dict[int, bytes]] = {}
    totals: dict[int, int] = {}
    for record in records:
        totals.setdefault(record.seq, record.parts)
        if record.parts != totals[record.seq]:
            continue
        pieces.setdefault(record.seq, {}).setdefault(record.part, record.data)
    return {
        seq: b"".join(parts[index] for index in range(totals[seq]))
        for seq, parts in pieces.items()
        if len(parts) == totals[seq]
    }


def payload_events(payload: bytes) -> list:
    """The events of one assembled payload (a gzip ``{"seq", "events"}`` body)."""
    return orjson.loads(gzip.decompress(payload))["events"]
