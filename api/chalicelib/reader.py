"""The read path: a recording's events from S3, in order, each batch once.

A recording's ``events/`` prefix holds chunk objects (ingest record lines, written by
the stream consumer, rebuilt from the archive, or delivered by the earlier Firehose
path) and, once it was idle, compacted generations (``compacted.py``). The reader lists
the prefix once, takes the newest committed generation (the one with an index), reads
every chunk not folded into it, drops batches it already holds and repeated records,
joins parts, and pages the events out by (seq, position) as JSON lines.

A compacted recording is read in one round trip: its index, its data object (the one the
listing shows for that generation) and every listed chunk are fetched together, and the
chunks the committed index names as folded are left out. Once compaction has removed
them, as it does right after its commit, that is two GETs: the index and the data. The
index is always the committed one: a data object alone says nothing about whether its
generation was committed (a lost race writes one too).
"""

from __future__ import annotations

import threading
import zlib
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from botocore.exceptions import ClientError

from . import layout, records, settings, validation
from .compacted import CompactedIndex
from .errors import NotAcceptableError
from .recordings import Recordings, RecordingStore

T = TypeVar("T")
# A listed object can be gone by the time it is fetched: compaction committed a new
# generation and removed what it folded. Listing again finds that generation.
_READ_ATTEMPTS = 3
# The two shapes of an events page. gzip is binary (one of the API's binary types); the
# text shape is JSON lines under a type that is NOT a binary type, so neither Chalice nor
# API Gateway base64-encodes or refuses it, whatever the client's Accept header says.
EVENTS_GZIP_TYPE = "application/x-ndjson"
EVENTS_TEXT_TYPE = "application/jsonl; charset=utf-8"
# A text page travels as a JSON string in Lambda's response, where a quote, a backslash,
# a tab and a newline take two bytes and a non-ASCII character a \uXXXX escape (at most
# two bytes more per UTF-8 byte): a text page is budgeted by its size once escaped.
_ASCII = bytes(range(128))


@dataclass(frozen=True, kw_only=True)
class Page:
    """One /events response: JSON lines, their encoding and the cursors."""

    body: bytes
    gzip: bool
    events: int
    # Where the next page starts, when this one was cut short.
    next_cursor: str | None
    # Where to ask for events that arrive later (live tail): just after the last one.
    tail_cursor: str


class ChunkCache:
    """Object bodies by key, least recently used out first, bounded in bytes.

    A chunk key is never rewritten with other content (a consumer retry of the same
    records writes the same bytes; an archive rebuild writes the same lines again) and
    compacted data is named by its digest, so a body fetched once is valid for as long
    as its key is listed. Indexes are not cached: ``compacted-<g>.json`` is written
    again with other content when a deleted recording's id is used again.
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


@dataclass(frozen=True, kw_only=True)
class Listing:
    """A recording's event objects, sorted out."""

    index_key: str | None
    chunks: tuple[str, ...]
    # Compacted objects of generations older than the newest committed one. Never data
    # of that generation or a later one: a run may be about to commit it.
    stale: tuple[str, ...] = ()
    # (generation, key) of every compacted data object listed
    data: tuple[tuple[int, str], ...] = ()
    # (generation, key) of every index listed
    indexes: tuple[tuple[int, str], ...] = ()

    @property
    def data_key(self) -> str | None:
        """The newest committed generation's data object, if exactly one of that generation is
        listed: a guess, fetched beside the index, which says which object it committed."""
        if not self.indexes:
            return None
        latest = self.indexes[-1][0]
        keys = [key for number, key in self.data if number == latest]
        return keys[0] if len(keys) == 1 else None


@dataclass(kw_only=True)
class Contents:
    """Everything readable of one recording: events by seq, and where they came from."""

    events: dict[int, list[bytes]] = field(default_factory=dict)
    index: CompactedIndex | None = None
    # seq -> payload of batches read from chunks (not from the compacted object)
    chunk_payloads: dict[int, bytes] = field(default_factory=dict)
    # seqs some of whose parts are in chunks but not all yet: left out until they are
    incomplete: set[int] = field(default_factory=set)
    # when the newest part of an incomplete seq was put on the stream (ms; 0 unknown)
    incomplete_received: int = 0


class EventReader:
    """Reads a recording's event objects back as ordered events."""

    def __init__(self, *, s3: Any, bucket: str, workers: int = 32, cache_bytes: int = 64 * 1024 * 1024) -> None:
        self._s3 = s3
        self._bucket = bucket
        self._workers = workers
        self._pool: ThreadPoolExecutor | None = None
        self.cache = ChunkCache(max_bytes=cache_bytes)

    def listing(self, owner: str, recording_id: str) -> Listing:
        """List the recording's event prefix once and sort its keys out."""
        paginator = self._s3.get_paginator("list_objects_v2")
        prefix = layout.events_prefix(owner, recording_id)
        indexes: dict[int, str] = {}
        data: list[tuple[int, str]] = []
        chunks: list[str] = []
        for page in paginator.paginate(Bucket=self._bucket, Prefix=prefix):
            for entry in page.get("Contents", []):
                key = entry["Key"]
                generation = layout.compacted_generation(key)
                if generation is None:
                    chunks.append(key)
                elif generation[1]:
                    indexes[generation[0]] = key
                else:
                    data.append((generation[0], key))
        latest = max(indexes) if indexes else None
        stale = [key for number, key in indexes.items() if number != latest]
        stale += [key for number, key in data if latest is not None and number < latest]
        return Listing(
            index_key=indexes[latest] if latest is not None else None,
            chunks=tuple(chunks),
            stale=tuple(stale),
            data=tuple(data),
            indexes=tuple(sorted(indexes.items())),
        )

    def chunk_keys(self, owner: str, recording_id: str) -> list[str]:
        """Keys of every chunk object of the recording (not compacted ones)."""
        return list(self.listing(owner, recording_id).chunks)

    def fetch(self, key: str, *, cache: bool = True) -> bytes:
        """One object's body, from the cache when it was read before (and ``cache`` allows)."""
        body = self.cache.get(key) if cache else None
        if body is None:
            body = self._s3.get_object(Bucket=self._bucket, Key=key)["Body"].read()
            if cache:
                self.cache.put(key, body)
        return body

    def index(self, key: str) -> CompactedIndex:
        """A compacted generation's index, always as stored now."""
        return CompactedIndex.from_json(self.fetch(key, cache=False))

    def _map(self, keys: list[str]) -> list[bytes]:
        if len(keys) <= 1:
            return [self.fetch(key) for key in keys]
        return list(self._executor().map(self.fetch, keys))

    def _executor(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self._workers, thread_name_prefix="s3-read")
        return self._pool

    def contents(self, owner: str, recording_id: str, listing: Listing | None = None) -> Contents:
        """Every complete batch of the recording, by seq, each once.

        With a ``listing`` given, exactly the objects it names (compaction deletes by it);
        without one, the reader lists, and lists again if compaction removed an object
        between the listing and the read.
        """
        if listing is not None:
            return self._contents(owner, recording_id, listing)
        return _relisting(lambda: self._contents(owner, recording_id, self.listing(owner, recording_id)))

    def _contents(self, owner: str, recording_id: str, listing: Listing) -> Contents:
        index, data, bodies = self._compacted_and_chunks(listing)
        contents = Contents(index=index)
        if index is not None:
            contents.events.update(_compacted_events(index, data))
        parts: list[records.RecordPart] = []
        for body in bodies:
            parts.extend(
                part for part in records.parse_object(body) if part.owner == owner and part.recording == recording_id
            )
        for seq, payload in records.assemble(parts).items():
            if seq not in contents.events:
                contents.chunk_payloads[seq] = payload
                contents.events[seq] = records.payload_events(payload)
        contents.incomplete = {part.seq for part in parts} - contents.events.keys()
        contents.incomplete_received = max(
            (part.received for part in parts if part.seq in contents.incomplete), default=0
        )
        return contents

    def _compacted_and_chunks(self, listing: Listing) -> tuple[CompactedIndex | None, bytes, list[bytes]]:
        """The committed generation's index and data, and the bodies of the chunks not folded into it."""
        if listing.index_key is None:
            return None, b"", self._map(list(listing.chunks))
        guess = listing.data_key
        keys = [listing.index_key, *([guess] if guess else []), *listing.chunks]
        fetched = self._map_tolerant(keys, uncached={listing.index_key})
        index = CompactedIndex.from_json(self._present(listing.index_key, fetched[0]))
        data = fetched[1] if guess else None
        if guess != index.data_key:
            data = self.fetch(index.data_key)  # a race left another object of this generation
        bodies = fetched[2:] if guess else fetched[1:]
        chunks: list[bytes] = []
        for key, body in zip(listing.chunks, bodies, strict=True):
            if key in index.folded:
                continue  # in the data already: compaction deletes it (maybe it just did)
            chunks.append(self._present(key, body))
        return index, self._present(index.data_key, data), chunks

    def _present(self, key: str, body: bytes | None) -> bytes:
        """The body, or the error a GET of a missing object raises (a reader lists again on it)."""
        if body is None:
            error = {"Error": {"Code": "NoSuchKey", "Message": f"{key} is gone"}}
            raise self._s3.exceptions.NoSuchKey(error, "GetObject")
        return body

    def _map_tolerant(self, keys: list[str], *, uncached: set[str]) -> list[bytes | None]:
        """Bodies of ``keys`` fetched together; None for an object gone since the listing."""

        def one(key: str) -> bytes | None:
            try:
                return self.fetch(key, cache=key not in uncached)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                    return None
                raise

        return list(self._executor().map(one, keys))

    def payloads(self, owner: str, recording_id: str) -> dict[int, bytes]:
        """Payloads of the batches held in chunk objects (not yet compacted), by seq."""
        return self.contents(owner, recording_id).chunk_payloads

    def page(self, owner: str, recording_id: str, *, cursor: str | None, accept_gzip: bool) -> Page:
        """The events after ``cursor``, as many as fit one response.

        ``accept_gzip``: a gzip page (binary), else text, whose lines are counted at their
        size once JSON-escaped into Lambda's response.
        """
        start = validation.decode_cursor(cursor, {"s": int, "i": int}) or {"s": 0, "i": 0}
        events = self.contents(owner, recording_id).events
        # Uncompressed budget: gzip shrinks rrweb JSON many times over, and the result
        # is checked against the real cap below.
        budget = settings.MAX_PAGE_BYTES * (4 if accept_gzip else 1)
        size = len if accept_gzip else escaped_size
        while True:
            lines, next_position, end = _collect(events, start, budget, size)
            if not accept_gzip:
                if len(lines) == 1 and size(lines[0]) > budget:
                    raise NotAcceptableError(
                        "an event is larger than one uncompressed response; ask again with the headers "
                        f"'Accept: {EVENTS_GZIP_TYPE}' and 'Accept-Encoding: gzip'",
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
            tail_cursor=validation.encode_cursor(end),
        )

    def blocks(self, owner: str, recording_id: str) -> dict[str, Any]:
        """Presigned byte ranges of the compacted object, and the /events cursor for the rest.

        The replay page fetches these straight from S3 (no Lambda time, no 6 MB response
        cap). Empty when there is no compacted object, or when a batch outside it belongs
        before its end (then /events from the start is the one ordered read).
        """
        return _relisting(lambda: self._blocks(owner, recording_id))

    def _blocks(self, owner: str, recording_id: str) -> dict[str, Any]:
        listing = self.listing(owner, recording_id)
        if listing.index_key is None:
            return {"blocks": [], "after": None}
        index = self.index(listing.index_key)
        last_seq, last_count = index.seqs[-1] if index.seqs else (0, 0)
        newer = [key for key in listing.chunks if key not in index.folded]
        if newer:
            contents = self.contents(owner, recording_id, listing)
            if any(seq < last_seq for seq in contents.chunk_payloads):
                return {"blocks": [], "after": None}
        url = self._s3.generate_presigned_url(
            "get_object",
            Params={"Bucket": self._bucket, "Key": index.data_key},
            ExpiresIn=settings.BLOCK_URL_SECONDS,
        )
        return {
            "blocks": [
                {"url": url, "range": f"bytes={b.offset}-{b.offset + b.length - 1}", "events": b.events}
                for b in index.blocks
            ],
            "events": index.events,
            "after": validation.encode_cursor({"s": last_seq, "i": last_count}),
            "expiresIn": settings.BLOCK_URL_SECONDS,
        }


def _relisting(read: Callable[[], T]) -> T:
    attempt = 1
    while True:
        try:
            return read()
        except ClientError as exc:
            if attempt == _READ_ATTEMPTS or exc.response.get("Error", {}).get("Code") not in ("NoSuchKey", "404"):
                raise
        attempt += 1


def _compacted_events(index: CompactedIndex, body: bytes) -> dict[int, list[bytes]]:
    # The events as they are stored, without their newlines: sliced once, never copied again.
    lines: list[bytes] = []
    for block in index.blocks:
        data = zlib.decompress(body[block.offset : block.offset + block.length], wbits=31)
        block_lines = data.split(b"\n")
        if block_lines[-1]:
            raise RuntimeError(f"compacted object {index.data_key} has a block that does not end a line")
        del block_lines[-1]
        lines += block_lines
    if len(lines) != index.events:
        raise RuntimeError(f"compacted object {index.data_key} holds {len(lines)} events, its index {index.events}")
    out: dict[int, list[bytes]] = {}
    at = 0
    for seq, count in index.seqs:
        out[seq] = lines[at : at + count]
        at += count
    return out


def escaped_size(line: bytes) -> int:
    """At most the bytes a line takes once JSON-escaped as (part of) a string (see ``_ASCII``)."""
    escaped = sum(line.count(character) for character in (b'"', b"\\", b"\t", b"\n", b"\r"))
    return len(line) + escaped + 2 * len(line.translate(None, _ASCII))


def _collect(
    events: dict[int, list[bytes]], start: dict[str, int], budget: int, measure: Callable[[bytes], int] = len
) -> tuple[list[bytes], dict[str, int] | None, dict[str, int]]:
    lines: list[bytes] = []
    size = 0
    end = dict(start)
    for seq in sorted(s for s in events if s >= start["s"]):
        batch = events[seq]
        first = start["i"] if seq == start["s"] else 0
        for index in range(first, len(batch)):
            line = batch[index] + b"\n"
            line_size = measure(line)
            if lines and size + line_size > budget:
                return lines, {"s": seq, "i": index}, {"s": seq, "i": index}
            lines.append(line)
            size += line_size
            end = {"s": seq, "i": index + 1}
    return lines, None, end


class Reader:
    """The read service the routes call: a recording's events, and its blocks."""

    def __init__(self, *, recordings: Recordings, store: RecordingStore, events: EventReader) -> None:
        self._recordings = recordings
        self._store = store
        self.events = events

    def page(self, owner: str, recording_id: str, *, cursor: str | None, accept_gzip: bool, watch: bool) -> Page:
        """One page of events (404 for a recording that is not the caller's).

        ``watch`` marks the recording as followed live, so its recorder flushes faster.
        """
        item = self._recordings.require(owner, recording_id)
        if watch:
            self._store.mark_watched(owner, recording_id, item=item)
        return self.events.page(owner, recording_id, cursor=cursor, accept_gzip=accept_gzip)

    def blocks(self, owner: str, recording_id: str) -> dict[str, Any]:
        """Presigned blocks of the compacted object (404 for a recording that is not the caller's)."""
        self._recordings.require(owner, recording_id)
        return self.events.blocks(owner, recording_id)


def first_type_is_binary(accept: str | None, binary_types: list[str]) -> bool:
    """Whether the first media type of an Accept header is one of ``binary_types`` (or ``type/*`` of one).

    API Gateway decides from this first type alone whether a binary response reaches the
    client as bytes. A wildcard in the Accept header (``*/*``) names no binary type.
    """
    first = (accept or "").split(",", 1)[0].split(";", 1)[0].strip().lower()
    kind, _, subtype = first.partition("/")
    if not kind or not subtype or kind == "*":
        return False
    for binary in binary_types:
        binary_kind, _, binary_subtype = binary.lower().partition("/")
        if binary_kind == kind and binary_subtype in (subtype, "*"):
            return True
    return False


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
