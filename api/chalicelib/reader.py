"""The read path: a recording's events from S3, in order, each batch once.

A recording's ``events/`` prefix holds chunk objects (ingest record lines, written by
the stream consumer, rebuilt from the archive, or delivered by the earlier Firehose
path) and, once it was idle, compacted generations (``compacted.py``). The reader lists
the prefix once (``recording_objects``, which the compactor lists and reads through
too), takes the newest committed generation (the one with an index), reads the
records' headers of every chunk not folded into it (never holding their data),
drops batches the generation already holds and repeated records, joins parts, and
pages the events out by (seq, position) as JSON lines, inflating one batch (or one
compacted block) at a time and stopping as soon as the page is full. So a read holds
the page, one batch and a bounded window of objects, whatever the recording's length.
A line that is not a record, or a batch whose payload is not a batch, is skipped where
it is read, logged with its object and line, and counted.

A compacted recording is read in one round trip: its index, its data object (the one the
listing shows for that generation) and every listed chunk are fetched together, and the
chunks the committed index names as folded are left out. Once compaction has removed
them, as it does right after its commit, that is two GETs: the index and the data. The
index is always the committed one: a data object alone says nothing about whether its
generation was committed (a lost race writes one too).
"""

from __future__ import annotations

import itertools
import logging
import threading
import zlib
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from botocore.exceptions import ClientError

from . import compacted, records, settings, validation
from .compacted import Block, CompactedIndex
from .errors import BadRequestError, ConflictError, NotAcceptableError
from .recording_objects import WHOLE_OBJECT_BYTES, ChunkCache, Listing, RecordingObjects
from .recording_table import RecordingTable
from .recordings import Recordings
from .schema import PENDING_ATTRIBUTE, SET_ASIDE_ATTRIBUTE

T = TypeVar("T")
logger = logging.getLogger("rrweb.reader")
# Memory of one read, whatever the recording's size (docs/architecture.md, "Reading
# events back"): objects up to WHOLE_OBJECT_BYTES are fetched whole (and cached); larger
# ones are streamed in pieces (``recording_objects``). A compacted data object this small
# is fetched whole with its index; a larger one is read by byte range, at most
# _RANGE_BYTES (or one larger block) at a time.
_RANGE_BYTES = 4 * 1024 * 1024
# Chunk objects being read for their records' headers hold at most this much at once,
# each charged its size plus what reading one line takes (a step of inflated bytes, the
# line, and the line decoded).
_SCAN_WINDOW_BYTES = 64 * 1024 * 1024
_LINE_OVERHEAD_BYTES = 3 * records.MAX_LINE_BYTES
# Payload parts kept for later batches while reading an object for an earlier one.
_PREFETCH_BYTES = 16 * 1024 * 1024
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


@dataclass(frozen=True, slots=True)
class PartRef:
    """Where one record of a batch is: its object, its line's position there, and its part number."""

    key: str
    line: int
    part: int


@dataclass(kw_only=True)
class Contents:
    """What a recording holds, without its events: enough to read any batch of it, one at a time.

    Only record coordinates are kept (never their data), so this grows with the number
    of records and objects, not with their bytes.
    """

    index: CompactedIndex | None = None
    # The committed generation's data object, when it is small enough to hold whole
    # (``WHOLE_OBJECT_BYTES``); None means its blocks are read by byte range.
    data: bytes | None = None
    # seq -> complete attempts at it in chunk objects (each its parts in order), the
    # first complete one first, for batches the compacted generation does not hold
    batches: dict[int, list[tuple[PartRef, ...]]] = field(default_factory=dict)
    # seqs some of whose parts are in chunks but not all yet: left out until they are
    incomplete: set[int] = field(default_factory=set)
    # when the newest part of an incomplete seq was put on the stream (ms; 0 unknown)
    incomplete_received: int = 0
    # lines of chunk objects that are not records of this recording's format, skipped
    skipped: int = 0
    sizes: Mapping[str, int] = field(default_factory=dict)

    def seqs(self) -> list[int]:
        """Every readable batch's seq, in order."""
        held = [seq for seq, _ in self.index.seqs] if self.index is not None else []
        return sorted({*held, *self.batches})


class _ByteWindow:
    """At most ``limit`` bytes of objects in flight across the threads that read them (always at least one)."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._used = 0
        self._condition = threading.Condition()

    def acquire(self, size: int) -> int:
        size = min(size, self._limit)
        with self._condition:
            while self._used and self._used + size > self._limit:
                self._condition.wait()
            self._used += size
        return size

    def release(self, size: int) -> None:
        with self._condition:
            self._used -= size
            self._condition.notify_all()


class EventReader:
    """Reads a recording's event objects back as ordered events, one batch at a time."""

    def __init__(self, *, s3: Any, bucket: str, workers: int = 32, cache_bytes: int = 64 * 1024 * 1024) -> None:
        self.objects = RecordingObjects(s3=s3, bucket=bucket, cache_bytes=cache_bytes)
        self._workers = workers
        self._pool: ThreadPoolExecutor | None = None
        self._window = _ByteWindow(_SCAN_WINDOW_BYTES)

    @property
    def cache(self) -> ChunkCache:
        """The object bodies kept between reads (its ``objects``' cache)."""
        return self.objects.cache

    def _executor(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self._workers, thread_name_prefix="s3-read")
        return self._pool

    def contents(self, owner: str, recording_id: str, listing: Listing | None = None) -> Contents:
        """Where every complete batch of the recording is, each seq once (no event is read).

        With a ``listing`` given, exactly the objects it names (compaction deletes by it);
        without one, the reader lists, and lists again if compaction removed an object
        between the listing and the read.
        """
        if listing is not None:
            return self._contents(owner, recording_id, listing)
        return _relisting(lambda: self._contents(owner, recording_id, self.objects.listing(owner, recording_id)))

    def _contents(self, owner: str, recording_id: str, listing: Listing) -> Contents:
        """The committed generation's index (and its data, when small) and the records of every chunk not folded
        into it, fetched together: one round trip for a compacted recording."""
        pool = self._executor()
        index_future = pool.submit(self.objects.fetch, listing.index_key, cache=False) if listing.index_key else None
        guess = listing.data_key
        small = guess is not None and listing.sizes.get(guess, 0) <= WHOLE_OBJECT_BYTES
        data_future = pool.submit(self._tolerant, self.objects.fetch, guess) if guess and small else None
        scans = [
            pool.submit(self._tolerant, self._scan, key, listing.sizes.get(key, 0), owner, recording_id)
            for key in listing.chunks
        ]
        contents = Contents(sizes=listing.sizes)
        folded: frozenset[str] = frozenset()
        if index_future is not None and listing.index_key is not None:
            contents.index = CompactedIndex.from_json(index_future.result())
            folded = contents.index.folded
            data_key = contents.index.data_key
            if data_future is not None and guess == data_key:
                contents.data = data_future.result()
            elif listing.sizes.get(data_key, WHOLE_OBJECT_BYTES + 1) <= WHOLE_OBJECT_BYTES:
                contents.data = self.objects.fetch(data_key)  # a race left another object of this generation
            if contents.data is None and data_future is not None and guess == data_key:
                self._present(data_key, None)
        held = contents.index.seq_set() if contents.index is not None else frozenset()
        attempts: dict[tuple[int, str, int], dict[int, PartRef]] = {}
        received: dict[int, int] = {}
        for key, future in zip(listing.chunks, scans, strict=True):
            scanned = future.result()
            if key in folded:
                continue  # in the data already: compaction deletes it (maybe it just did)
            parts, skipped = self._present(key, scanned)
            contents.skipped += skipped
            for line, part in parts:
                attempts.setdefault((part.seq, part.crc, part.parts), {}).setdefault(
                    part.part, PartRef(key=key, line=line, part=part.part)
                )
                received[part.seq] = max(received.get(part.seq, 0), part.received)
        for (seq, _, total), found in attempts.items():
            if len(found) == total and seq not in held:
                contents.batches.setdefault(seq, []).append(tuple(found[index] for index in range(total)))
        contents.incomplete = {seq for seq, _, _ in attempts} - contents.batches.keys() - held
        contents.incomplete_received = max((received[seq] for seq in contents.incomplete), default=0)
        return contents

    def _scan(
        self, key: str, size: int, owner: str, recording_id: str
    ) -> tuple[list[tuple[int, records.RecordPart]], int]:
        """The records of one chunk object that belong to the recording, by line, without their data; and how many
        lines were not records at all (each logged with where it is)."""
        held = self._window.acquire(size + _LINE_OVERHEAD_BYTES)
        try:
            parts: list[tuple[int, records.RecordPart]] = []
            skipped = 0
            for line_number, line in enumerate(self.objects.lines(key, size)):
                try:
                    if line is None:
                        raise records.MalformedRecordError("longer than a record, or a corrupt gzip stream")
                    part = records.decode_record(line, data=False)
                except records.MalformedRecordError as exc:
                    skipped += 1
                    logger.warning(
                        "skipped a line that is not an ingest record",
                        extra={"object": key, "line": line_number, "reason": str(exc)},
                    )
                    continue
                if part.owner == owner and part.recording == recording_id:
                    parts.append((line_number, part))
            return parts, skipped
        finally:
            self._window.release(held)

    def _tolerant(self, read: Callable[..., T], key: str, *args: Any) -> T | None:
        """``read(key, ...)``, or None when the object is gone since the listing."""
        try:
            return read(key, *args)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise

    def _present(self, key: str, value: T | None) -> T:
        """The value, or the error a GET of a missing object raises (a reader lists again on it)."""
        if value is None:
            raise self.objects.missing(key)
        return value

    def batches(self, contents: Contents, *, after_seq: int = 0) -> Iterator[tuple[int, list[bytes]]]:
        """(seq, its events as JSON without newlines) for every readable batch from ``after_seq`` on, in order.

        One batch is inflated at a time (a compacted one from the block or blocks holding
        it), as the caller asks for the next: a caller that stops early reads no further.
        A batch whose stored payload is not a batch (a record that did not come from the
        API) is skipped, logged with where it is, and counted in ``contents.skipped``.
        """
        held = [(seq, count) for seq, count in contents.index.seqs] if contents.index is not None else []
        skip = sum(count for seq, count in held if seq < after_seq)
        held = [(seq, count) for seq, count in held if seq >= after_seq]
        from_chunks = sorted(seq for seq in contents.batches if seq >= after_seq)
        compacted_lines = self._compacted_lines(contents, skip) if held else iter(())
        parts = _PartReader(self, contents, from_chunks)
        at_held = at_chunk = 0
        while at_held < len(held) or at_chunk < len(from_chunks):
            if at_chunk == len(from_chunks) or (at_held < len(held) and held[at_held][0] < from_chunks[at_chunk]):
                seq, count = held[at_held]
                at_held += 1
                yield seq, list(itertools.islice(compacted_lines, count))
                continue
            seq = from_chunks[at_chunk]
            at_chunk += 1
            events = parts.events(seq)
            if events is not None:
                yield seq, events

    def _compacted_lines(self, contents: Contents, skip: int) -> Iterator[bytes]:
        """The compacted generation's events (without newlines) after the first ``skip``, one block inflated at a
        time, each checked against the index."""
        index = contents.index
        assert index is not None
        ranged = _RangedBlocks(self, index.data_key, contents.data)
        at = 0
        for block in index.blocks:
            if at + block.events <= skip:
                at += block.events
                continue
            data = compacted.inflate_block(ranged.member(block), limit=compacted.BLOCK_LIMIT_BYTES)
            lines = data.split(b"\n")
            del data
            if lines.pop():
                raise RuntimeError(f"compacted object {index.data_key} has a block that does not end a line")
            if len(lines) != block.events:
                raise RuntimeError(
                    f"compacted object {index.data_key} has a block of {len(lines)} events, its index {block.events}"
                )
            first = max(0, skip - at)
            at += block.events
            yield from itertools.islice(lines, first, None)

    def page(self, owner: str, recording_id: str, *, cursor: str | None, accept_gzip: bool) -> Page:
        """The events after ``cursor``, as many as fit one response.

        ``accept_gzip``: a gzip page (binary), else text, whose lines are counted at their
        size once JSON-escaped into Lambda's response. Batches are read one at a time and
        only until the page is full.
        """
        start = validation.decode_cursor(cursor, {"s": int, "i": int}) or {"s": 0, "i": 0}
        return _relisting(lambda: self._page(owner, recording_id, start, accept_gzip))

    def _page(self, owner: str, recording_id: str, start: dict[str, int], accept_gzip: bool) -> Page:
        contents = self._contents(owner, recording_id, self.objects.listing(owner, recording_id))
        # Uncompressed budget: gzip shrinks rrweb JSON many times over, and the result
        # is checked against the real cap below.
        budget = settings.MAX_PAGE_BYTES * (4 if accept_gzip else 1)
        measure = len if accept_gzip else escaped_size
        lines, positions, sizes = _collect(self.batches(contents, after_seq=start["s"]), start, budget, measure)
        count = len(lines)
        while True:
            if not accept_gzip:
                if count == 1 and sizes[0] > budget:
                    raise NotAcceptableError(
                        "an event is larger than one uncompressed response; ask again with the headers "
                        f"'Accept: {EVENTS_GZIP_TYPE}' and 'Accept-Encoding: gzip'",
                        code="gzip_required",
                    )
                body, compressed = b"".join(lines[:count]), False
                break
            body = zlib.compress(b"".join(lines[:count]), 6, wbits=31)
            compressed = True
            if len(body) <= settings.MAX_PAGE_BYTES or count <= 1:
                break
            budget = max(1, budget // 2)
            count = max(1, _fitting(sizes, budget))
        # positions[i]: where line i is; the last entry, where the line after the collected ones is (None: none).
        following = positions[count]
        previous = positions[count - 1] if count else None  # a line's position: never None
        end = following or ({"s": previous["s"], "i": previous["i"] + 1} if previous is not None else dict(start))
        return Page(
            body=body,
            gzip=compressed,
            events=count,
            next_cursor=validation.encode_cursor(following) if following else None,
            tail_cursor=validation.encode_cursor(end),
        )

    def blocks(
        self,
        owner: str,
        recording_id: str,
        *,
        cursor: str | None = None,
        with_assets: bool = False,
        compacted_generation: int | None = None,
    ) -> dict[str, Any]:
        """Presigned byte ranges of the compacted object, at most ``BLOCKS_PER_RESPONSE`` from ``cursor``, and the
        /events cursor for the rest.

        ``compacted_generation``: the recording's item says this generation holds every
        batch counted (nothing pending since it was compacted). Then its index is read
        without listing the recording (a LIST is billed like a PUT, a GET a twelfth of
        that), and the answer says ``complete``: no /events read is needed after the
        blocks. A batch still on its way, not counted yet, is read by the next replay, as
        one written just after a listing would be. If the index is gone (compacted again
        meanwhile), the recording is listed as usual.

        The replay page fetches these straight from S3 (no Lambda time, no 6 MB response
        cap). The URL is given once per answer (every block is a range of the same object)
        and ``next`` asks for the following blocks, so an answer stays under 100 KB
        however long the recording is. Empty when there is no compacted object, or when a
        batch outside it belongs before its end (then /events from the start is the one
        ordered read); past the first answer, either of those (or another generation
        committed since) is a 409: the blocks already fetched are not the recording's
        start any more. No event is read: which seqs the chunks hold comes from their
        records' headers.
        """
        start = validation.decode_cursor(cursor, {"g": int, "b": int})
        if compacted_generation:
            known = Listing.of_generation(owner, recording_id, compacted_generation)
            try:
                return self._blocks(owner, recording_id, start, with_assets=with_assets, listing=known)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") not in ("NoSuchKey", "404"):
                    raise
        return _relisting(lambda: self._blocks(owner, recording_id, start, with_assets=with_assets))

    def _blocks(
        self,
        owner: str,
        recording_id: str,
        start: dict[str, int] | None,
        *,
        with_assets: bool = False,
        listing: Listing | None = None,
    ) -> dict[str, Any]:
        known = listing is not None
        listing = listing or self.objects.listing(owner, recording_id)
        if listing.index_key is None:
            return _no_blocks(start)
        index = self.objects.index(listing.index_key)
        if start is not None:
            if start["g"] != index.generation:
                raise ConflictError(
                    "the recording was compacted again since this cursor: read its blocks from the start",
                    code="blocks_changed",
                )
            if start["b"] > len(index.blocks):
                raise BadRequestError("cursor is not one this API returned", code="invalid_cursor")
        last_seq, last_count = index.seqs[-1] if index.seqs else (0, 0)
        newer = [key for key in listing.chunks if key not in index.folded]
        if newer:
            contents = self.contents(owner, recording_id, listing)
            if any(seq < last_seq for seq in contents.batches):
                return _no_blocks(start)
        first = start["b"] if start is not None else 0
        end = min(first + settings.BLOCKS_PER_RESPONSE, len(index.blocks))
        url = self.objects.presigned_get(index.data_key, expires_in=settings.BLOCK_URL_SECONDS)
        return {
            "url": url,
            "blocks": [
                {"range": f"bytes={b.offset}-{b.offset + b.length - 1}", "events": b.events}
                for b in index.blocks[first:end]
            ],
            "next": validation.encode_cursor({"g": index.generation, "b": end}) if end < len(index.blocks) else None,
            "events": index.events,
            "after": validation.encode_cursor({"s": last_seq, "i": last_count}),
            # Nothing was counted since this generation: /events after it has nothing.
            "complete": known,
            "expiresIn": settings.BLOCK_URL_SECONDS,
            # The page assets the index lists (``with_assets``: a share link's reads), from the same read.
            **({"assetHashes": sorted(index.assets)} if with_assets else {}),
        }


def _no_blocks(start: dict[str, int] | None) -> dict[str, Any]:
    """The answer for a recording whose events are not read through blocks: /events from the start.

    Past the first answer the caller already holds blocks of a generation that is no longer
    the recording's start, so it is told so (409) rather than handed an empty list."""
    if start is not None:
        raise ConflictError(
            "the recording's events are no longer read through its blocks: read /events from the start",
            code="blocks_changed",
        )
    return {"blocks": [], "next": None, "after": None, "complete": False}


class _RangedBlocks:
    """Members of a compacted data object: sliced from it when held whole, else fetched by byte range,
    a few consecutive blocks (at most ``_RANGE_BYTES``, or one larger block) per GET."""

    def __init__(self, reader: EventReader, key: str, whole: bytes | None) -> None:
        self._reader = reader
        self._key = key
        self._whole = whole
        self._buffer = b""
        self._buffer_offset = 0

    def member(self, block: Block) -> bytes:
        if self._whole is not None:
            return self._whole[block.offset : block.offset + block.length]
        start = block.offset - self._buffer_offset
        if start < 0 or start + block.length > len(self._buffer):
            self._buffer = b""  # released before the next range is held
            length = max(block.length, _RANGE_BYTES)
            self._buffer = self._reader.objects.byte_range(self._key, block.offset, length)
            self._buffer_offset, start = block.offset, 0
        return self._buffer[start : start + block.length]


class _PartReader:
    """The payloads of the chunk batches one read goes through, read in seq order.

    An object's lines are read again for the batch that needs them (from the object
    cache when it still holds the object); payload parts of later batches seen on the
    way are kept for them, up to ``_PREFETCH_BYTES``, so an object holding many batches
    (a rebuild's) is not read once per batch.
    """

    def __init__(self, reader: EventReader, contents: Contents, seqs: list[int]) -> None:
        self._reader = reader
        self._contents = contents
        self._rank = {seq: rank for rank, seq in enumerate(seqs)}
        self._wanted: dict[str, dict[int, int]] = {}
        for seq in seqs:
            for attempt in contents.batches[seq]:
                for ref in attempt:
                    self._wanted.setdefault(ref.key, {}).setdefault(ref.line, self._rank[seq])
        self._kept: dict[tuple[str, int], tuple[int, bytes]] = {}
        self._kept_bytes = 0

    def events(self, seq: int) -> list[bytes] | None:
        """The events of the first well-formed complete attempt at ``seq``; None (logged, counted) if none is."""
        rank = self._rank[seq]
        for attempt in self._contents.batches[seq]:
            try:
                payload = b"".join(self._data(ref, rank) for ref in attempt)
                return records.payload_events(payload)
            except records.MalformedRecordError as exc:
                self._contents.skipped += 1
                logger.warning(
                    "skipped a batch whose records are not a batch",
                    extra={"seq": seq, "records": [[ref.key, ref.line] for ref in attempt], "reason": str(exc)},
                )
        return None

    def _data(self, ref: PartRef, rank: int) -> bytes:
        kept = self._kept.pop((ref.key, ref.line), None)
        if kept is not None:
            self._kept_bytes -= len(kept[1])
            return kept[1]
        for key_line in [key_line for key_line, (at, _) in self._kept.items() if at < rank]:
            self._kept_bytes -= len(self._kept.pop(key_line)[1])
        wanted = self._wanted.get(ref.key, {})
        found: bytes | None = None
        for line_number, line in enumerate(self._reader.objects.lines(ref.key, self._contents.sizes.get(ref.key, 0))):
            at = wanted.get(line_number)
            if at is None or at < rank or line is None:
                continue
            if line_number == ref.line:
                found = records.decode_record(line).data
            elif (ref.key, line_number) not in self._kept and self._kept_bytes + len(line) <= _PREFETCH_BYTES:
                try:
                    data = records.decode_record(line).data
                except records.MalformedRecordError:
                    continue  # raised again when its batch is read
                self._kept[(ref.key, line_number)] = (at, data)
                self._kept_bytes += len(data)
        if found is None:
            raise records.MalformedRecordError(f"line {ref.line} of {ref.key} is no longer a record")
        return found


def _fitting(sizes: list[int], budget: int) -> int:
    """How many of the first lines fit ``budget``."""
    total = 0
    for count, size in enumerate(sizes):
        total += size
        if total > budget:
            return count
    return len(sizes)


def _relisting(read: Callable[[], T]) -> T:
    attempt = 1
    while True:
        try:
            return read()
        except ClientError as exc:
            if attempt == _READ_ATTEMPTS or exc.response.get("Error", {}).get("Code") not in ("NoSuchKey", "404"):
                raise
        attempt += 1


def escaped_size(line: bytes) -> int:
    """At most the bytes a line takes once JSON-escaped as (part of) a string (see ``_ASCII``)."""
    escaped = sum(line.count(character) for character in (b'"', b"\\", b"\t", b"\n", b"\r"))
    return len(line) + escaped + 2 * len(line.translate(None, _ASCII))


def _collect(
    batches: Iterator[tuple[int, list[bytes]]],
    start: dict[str, int],
    budget: int,
    measure: Callable[[bytes], int] = len,
) -> tuple[list[bytes], list[dict[str, int] | None], list[int]]:
    """Lines from ``start`` while they fit ``budget`` (at least one); their positions, then where the next line is
    (None at the end); and their measured sizes. Stops reading batches as soon as the page is full."""
    lines: list[bytes] = []
    positions: list[dict[str, int] | None] = []
    sizes: list[int] = []
    size = 0
    try:
        for seq, batch in batches:
            first = start["i"] if seq == start["s"] else 0
            for index in range(first, len(batch)):
                line = batch[index] + b"\n"
                line_size = measure(line)
                if lines and size + line_size > budget:
                    positions.append({"s": seq, "i": index})
                    return lines, positions, sizes
                lines.append(line)
                positions.append({"s": seq, "i": index})
                sizes.append(line_size)
                size += line_size
    finally:
        close = getattr(batches, "close", None)
        if close is not None:
            close()
    positions.append(None)
    return lines, positions, sizes


class Reader:
    """The read service the routes call: a recording's events, and its blocks."""

    def __init__(self, *, recordings: Recordings, table: RecordingTable, events: EventReader) -> None:
        self._recordings = recordings
        self._table = table
        self.events = events

    def page(self, owner: str, recording_id: str, *, cursor: str | None, accept_gzip: bool, watch: bool) -> Page:
        """One page of events (404 for a recording that is not the caller's).

        ``watch`` marks the recording as followed live, so its recorder flushes faster.
        """
        item = self._recordings.require(owner, recording_id)
        if watch:
            self._table.mark_watched(owner, recording_id, item=item)
        return self.events.page(owner, recording_id, cursor=cursor, accept_gzip=accept_gzip)

    def blocks(
        self, owner: str, recording_id: str, *, cursor: str | None = None, with_assets: bool = False
    ) -> dict[str, Any]:
        """Presigned blocks of the compacted object from ``cursor`` (404 for a recording that is not the caller's)."""
        item = self._recordings.require(owner, recording_id)
        return self.events.blocks(
            owner, recording_id, cursor=cursor, with_assets=with_assets, compacted_generation=compacted_generation(item)
        )


def compacted_generation(item: dict[str, Any]) -> int | None:
    """The generation that holds every batch the recording's item counted, or None: nothing compacted, a chunk
    counted since (it is pending again), or compaction set it aside (out of the pending index with chunks that no
    generation holds)."""
    generation = int(item.get("compactedGeneration", 0))
    if not generation or PENDING_ATTRIBUTE in item or SET_ASIDE_ATTRIBUTE in item:
        return None
    return generation


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
