"""Event batches: ingest into Kinesis, and read back from S3 in order.

Write path: inflate (bounded) and validate the body, check the recording, then send
the batch's gzip payload (the client's own bytes when it sent gzip) as one or more
ingest records with PutRecords. Only after Kinesis took every record is the batch
counted and acknowledged.

Read path: list the recording's event prefix, fetch all chunk objects concurrently,
decode their records, drop repeats, join parts, and page the events out by
(seq, position) as JSON lines.
"""

from __future__ import annotations

import gzip
import random
import threading
import time
import zlib
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from . import layout, records, settings, validation
from .errors import ApiError, ConflictError, NotAcceptableError, PayloadTooLargeError, ServiceUnavailableError
from .recordings import Recordings, RecordingStore, new_id, now_ms

# PutRecords limits: 500 records and 5 MiB (data plus partition keys) per call.
_PUT_MAX_RECORDS = 500
_PUT_MAX_BYTES = 5 * 1024 * 1024
# Compression of plain bodies: level 6 is what keeps stored bytes small; bodies from
# the recorder arrive gzip already and are stored as sent.
_SERVER_GZIP_LEVEL = 6


class EventWriter:
    """Writes ingest records to a Kinesis stream, retrying what it refuses."""

    def __init__(
        self,
        *,
        kinesis: Any,
        stream: str,
        attempts: int = 4,
        base_delay: float = 0.05,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._kinesis = kinesis
        self._stream = stream
        self._attempts = attempts
        self._base_delay = base_delay
        self._sleep = sleep

    def put(self, data: list[bytes], partition_key: str) -> None:
        """Write every record or raise ``ServiceUnavailableError``; never a silent partial write."""
        for call in _put_calls(data, partition_key):
            self._put_all(call, partition_key)

    def _put_all(self, pending: list[bytes], partition_key: str) -> None:
        for attempt in range(self._attempts):
            if attempt:
                # Full jitter keeps retries of many writers from colliding again.
                self._sleep(random.uniform(0, self._base_delay * 2**attempt))  # noqa: S311 (jitter, not secrecy)
            result = self._kinesis.put_records(
                StreamName=self._stream,
                Records=[{"Data": item, "PartitionKey": partition_key} for item in pending],
            )
            if not result.get("FailedRecordCount"):
                return
            pending = [
                item for item, outcome in zip(pending, result["Records"], strict=True) if outcome.get("ErrorCode")
            ]
        raise ServiceUnavailableError(
            f"the event stream refused {len(pending)} records; retry the same seq", retry_after=1
        )


def _put_calls(data: list[bytes], partition_key: str) -> list[list[bytes]]:
    calls: list[list[bytes]] = [[]]
    size = 0
    for item in data:
        item_size = len(item) + len(partition_key)
        if calls[-1] and (len(calls[-1]) == _PUT_MAX_RECORDS or size + item_size > _PUT_MAX_BYTES):
            calls.append([])
            size = 0
        calls[-1].append(item)
        size += item_size
    return calls


def _encoding(header: str | None) -> str:
    value = (header or "identity").strip().lower()
    if value not in ("gzip", "identity"):
        raise ApiError(
            f"Content-Encoding {value!r} is not supported; send gzip or identity",
            code="unsupported_encoding",
            status=415,
        )
    return value


@dataclass(frozen=True, kw_only=True)
class PreparedBatch:
    """A validated batch and the Kinesis records that carry it."""

    batch: validation.Batch
    records: list[bytes]
    stored_bytes: int


def is_gzip(body: bytes, content_encoding: str | None) -> bool:
    """Whether a body is gzip: declared so, or starting with gzip's magic bytes.

    JSON never starts with byte 0x1f, so the magic is unambiguous; it lets browsers send
    gzip as a CORS-simple ``text/plain`` request, with no preflight.
    """
    return _encoding(content_encoding) == "gzip" or body[:2] == validation.GZIP_MAGIC


def _inflated(body: bytes, content_encoding: str | None) -> tuple[bytes, bytes | None]:
    """The body's JSON (inflated, bounded) and its gzip bytes as sent, or None for a plain body.

    The limits apply to what arrived: MAX_BODY_BYTES on the wire, MAX_BATCH_BYTES inflated.
    """
    if len(body) > settings.MAX_BODY_BYTES:
        raise PayloadTooLargeError(f"request body exceeds {settings.MAX_BODY_BYTES} bytes", code="body_too_large")
    if body and is_gzip(body, content_encoding):
        inflated, payload = validation.inflate(body, limit=settings.MAX_BATCH_BYTES), body
    else:
        inflated, payload = body, None
    clean = validation.well_formed(inflated)
    if clean is not inflated:
        return clean, None  # stored as repaired, so the server compresses it
    return inflated, payload


def _prepared(
    *,
    owner: str,
    recording_id: str,
    batch: validation.Batch,
    inflated: bytes,
    payload: bytes | None,
    part_size: int,
) -> PreparedBatch:
    # A gzip body is stored as sent; only a plain body is compressed here.
    if payload is None:
        payload = gzip.compress(inflated, compresslevel=_SERVER_GZIP_LEVEL, mtime=0)
    return PreparedBatch(
        batch=batch,
        records=records.build_records(
            owner=owner,
            recording=recording_id,
            seq=batch.seq,
            payload=payload,
            received=now_ms(),
            events=batch.event_count,
            part_size=part_size,
        ),
        stored_bytes=len(payload),
    )


def prepare_batch(
    *,
    owner: str,
    recording_id: str,
    body: bytes,
    content_encoding: str | None,
    part_size: int = settings.MAX_PART_PAYLOAD_BYTES,
) -> PreparedBatch:
    """The handler's own work, no AWS call: decode, inflate, validate, build the records.

    A gzip body is kept as the stored payload byte for byte; only a plain body is
    compressed here.
    """
    inflated, payload = _inflated(body, content_encoding)
    return _prepared(
        owner=owner,
        recording_id=recording_id,
        batch=validation.event_batch(inflated),
        inflated=inflated,
        payload=payload,
        part_size=part_size,
    )


def ingest(
    *,
    recordings: Recordings,
    store: RecordingStore,
    writer: EventWriter,
    owner: str,
    recording_id: str,
    body: bytes,
    content_encoding: str | None,
    part_size: int = settings.MAX_PART_PAYLOAD_BYTES,
) -> dict[str, Any]:
    """Accept one event batch for a recording; returns the 202 body.

    Kinesis first, then the count: a batch is acknowledged only once every record is
    in the stream, and a retry after a failure finds its seq uncounted and writes again.
    """
    validation.recording_id(recording_id)
    prepared = prepare_batch(
        owner=owner, recording_id=recording_id, body=body, content_encoding=content_encoding, part_size=part_size
    )
    return commit(
        recordings=recordings, store=store, writer=writer, owner=owner, recording_id=recording_id, prepared=prepared
    )


def commit(
    *,
    recordings: Recordings,
    store: RecordingStore,
    writer: EventWriter,
    owner: str,
    recording_id: str,
    prepared: PreparedBatch,
) -> dict[str, Any]:
    """Write a validated batch to the stream, then count it; returns the 202 body.

    If anything fails after the stream took the records, the client is told to retry
    (503): the retry writes the same seq again, which the reader drops as a repeat, and
    counts it once.
    """
    batch = prepared.batch
    item = recordings.require(owner, recording_id)
    result = {"recording": recording_id, "seq": batch.seq, "events": batch.event_count, "duplicate": True}
    if batch.seq in item.get("seqs", ()):
        # Already written and counted: a retry whose first attempt got that far. Its
        # time span may not have been widened yet (the attempt failed after counting).
        store.widen_span(owner, recording_id, batch, item=item)
        return result
    if len(item.get("seqs", ())) >= settings.MAX_BATCHES_PER_RECORDING:
        raise ConflictError(
            f"a recording holds at most {settings.MAX_BATCHES_PER_RECORDING} batches; start a new recording",
            code="recording_full",
        )
    writer.put(prepared.records, partition_key=recording_id)
    result["duplicate"] = not store.record_batch(owner, recording_id, batch, stored=prepared.stored_bytes)
    return result


def create_recording(
    *,
    recordings: Recordings,
    store: RecordingStore,
    writer: EventWriter,
    owner: str,
    body: bytes,
    content_encoding: str | None,
    part_size: int = settings.MAX_PART_PAYLOAD_BYTES,
) -> tuple[dict[str, Any], bool]:
    """Create a recording; the body may also carry its first batch (``seq`` and ``events``).

    One request instead of two for a recorder's start. Everything is validated before
    anything is written, so a bad batch creates no recording either. The limits are
    those of the events route, applied to the body as sent; a gzip body is stored as
    sent (the reader ignores the recording's own fields in it).
    """
    inflated, payload = _inflated(body, content_encoding)
    fields = validation.create_body(inflated)
    recording_id = fields.id or new_id()
    prepared = None
    if fields.batch is not None:
        prepared = _prepared(
            owner=owner,
            recording_id=recording_id,
            batch=fields.batch,
            inflated=inflated,
            payload=payload,
            part_size=part_size,
        )
    created, inserted = recordings.create(owner, recording_id=recording_id, url=fields.url, title=fields.title)
    if prepared is not None:
        created["firstBatch"] = commit(
            recordings=recordings,
            store=store,
            writer=writer,
            owner=owner,
            recording_id=recording_id,
            prepared=prepared,
        )
    return created, inserted


@dataclass(frozen=True, kw_only=True)
class Page:
    """One /events response: JSON lines, their encoding and the next cursor."""

    body: bytes
    gzip: bool
    events: int
    next_cursor: str | None


class ChunkCache:
    """Delivered chunk bodies by key, least recently used out first, bounded in bytes.

    Delivery never rewrites an object (every key is new), so a body fetched once is
    valid for as long as its key is listed: the next page of a recording, read by the
    same warm function, costs one LIST instead of every GET again.
    """

    def __init__(self, *, max_bytes: int) -> None:
        self._max_bytes = max_bytes
        self._bodies: OrderedDict[str, bytes] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get(self, key: str) -> bytes | None:
        """The cached body, or None."""
        with self._lock:
            body = self._bodies.get(key)
            if body is not None:
                self._bodies.move_to_end(key)
            return body

    def put(self, key: str, body: bytes) -> None:
        """Keep a body, evicting the least recently used beyond the bound."""
        if len(body) > self._max_bytes:
            return
        with self._lock:
            if key in self._bodies:
                return
            self._bodies[key] = body
            self._size += len(body)
            while self._size > self._max_bytes:
                _, evicted = self._bodies.popitem(last=False)
                self._size -= len(evicted)

    def clear(self) -> None:
        """Forget everything."""
        with self._lock:
            self._bodies.clear()
            self._size = 0


class EventReader:
    """Reads a recording's delivered chunk objects back as ordered events."""

    def __init__(self, *, s3: Any, bucket: str, workers: int = 32, cache_bytes: int = 64 * 1024 * 1024) -> None:
        self._s3 = s3
        self._bucket = bucket
        self._workers = workers
        self._pool: ThreadPoolExecutor | None = None
        self.cache = ChunkCache(max_bytes=cache_bytes)

    def chunk_keys(self, owner: str, recording_id: str) -> list[str]:
        """Keys of every delivered chunk object of the recording."""
        paginator = self._s3.get_paginator("list_objects_v2")
        prefix = layout.events_prefix(owner, recording_id)
        return [
            entry["Key"]
            for page in paginator.paginate(Bucket=self._bucket, Prefix=prefix)
            for entry in page.get("Contents", [])
        ]

    def _fetch(self, key: str) -> bytes:
        body = self.cache.get(key)
        if body is None:
            body = self._s3.get_object(Bucket=self._bucket, Key=key)["Body"].read()
            self.cache.put(key, body)
        return body

    def payloads(self, owner: str, recording_id: str) -> dict[int, bytes]:
        """Every complete batch payload of the recording, by seq, each once."""
        keys = self.chunk_keys(owner, recording_id)
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self._workers, thread_name_prefix="s3-read")
        parts: list[records.RecordPart] = []
        for body in self._pool.map(self._fetch, keys):
            parts.extend(
                part for part in records.parse_object(body) if part.owner == owner and part.recording == recording_id
            )
        return records.assemble(parts)

    def page(self, owner: str, recording_id: str, *, cursor: str | None, accept_gzip: bool) -> Page:
        """The events after ``cursor``, as many as fit one response."""
        start = validation.decode_cursor(cursor, {"s": int, "i": int}) or {"s": 0, "i": 0}
        payloads = self.payloads(owner, recording_id)
        # Uncompressed budget: gzip shrinks rrweb JSON many times over, and the result
        # is checked against the real cap below.
        budget = settings.MAX_PAGE_BYTES * (4 if accept_gzip else 1)
        while True:
            lines, next_position = _collect(payloads, start, budget)
            if not accept_gzip:
                if len(lines) == 1 and len(lines[0]) > budget:
                    raise NotAcceptableError(
                        "an event is larger than one uncompressed response; request with Accept-Encoding: gzip",
                        code="gzip_required",
                    )
                body, compressed = b"".join(lines), False
                break
            body = zlib.compress(b"".join(lines), 6, wbits=31)
            compressed = True
            if len(body) <= settings.MAX_PAGE_BYTES or len(lines) <= 1:
                break
            budget = max(1, budget // 2)
        return Page(
            body=body,
            gzip=compressed,
            events=len(lines),
            next_cursor=validation.encode_cursor(next_position) if next_position else None,
        )


def _collect(
    payloads: dict[int, bytes], start: dict[str, int], budget: int
) -> tuple[list[bytes], dict[str, int] | None]:
    lines: list[bytes] = []
    size = 0
    for seq in sorted(s for s in payloads if s >= start["s"]):
        events = records.payload_events(payloads[seq])
        first = start["i"] if seq == start["s"] else 0
        for index in range(first, len(events)):
            line = events[index] + b"\n"
            if lines and size + len(line) > budget:
                return lines, {"s": seq, "i": index}
            lines.append(line)
            size += len(line)
    return lines, None


def accepts_gzip(header: str | None) -> bool:
    """Whether an Accept-Encoding header admits gzip (and does not refuse it with q=0)."""
    for entry in (header or "").split(","):
        name, _, params = entry.strip().partition(";")
        if name.strip().lower() in ("gzip", "*"):
            quality = params.strip().lower()
            if not quality.startswith("q="):
                return True
            try:
                return float(quality[2:]) > 0
            except ValueError:
                return False
    return False
