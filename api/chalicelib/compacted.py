"""The compacted recording: one object of plain rrweb events, and its index.

The data object is JSON lines, one rrweb event per line, in replay order, compressed as
a sequence of gzip members of about ``COMPACTED_BLOCK_BYTES`` of lines each. Concatenated
gzip members are one valid gzip file, so the object is an export as it stands
(``zcat`` prints the events); each member also inflates alone, so a reader can fetch
one block by byte range.

The index (a small JSON object beside it) says which batches (seqs) the data holds and
how many events each, where every block starts, the digest of the inflated lines, and
which chunk objects were folded in. It is written last, and only if no index of that
generation exists yet: its presence is what makes the generation real.
"""

from __future__ import annotations

import hashlib
import re
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from . import settings

VERSION = 1
_LEVEL = 6
# A block holds lines up to the block size, or one longer line, which is at most one
# batch: a block inflating past this is not one compaction wrote.
BLOCK_LIMIT_BYTES = settings.COMPACTED_BLOCK_BYTES + settings.MAX_BATCH_BYTES + 1


@dataclass(frozen=True, kw_only=True)
class Block:
    """One gzip member of the data object."""

    offset: int
    length: int
    events: int


@dataclass(frozen=True, kw_only=True)
class CompactedIndex:
    """What one compacted generation holds."""

    generation: int
    data_key: str
    seqs: tuple[tuple[int, int], ...]  # (seq, event count), in order
    blocks: tuple[Block, ...]
    folded: frozenset[str]
    sha256: str
    events: int
    stored_bytes: int
    # The page assets its events use (SHA-256s, chalicelib/assets.py): with the object and
    # this index, a recording can be taken out whole.
    assets: frozenset[str] = frozenset()

    def to_json(self) -> bytes:
        """The index as stored."""
        return orjson.dumps(
            {
                "v": VERSION,
                "generation": self.generation,
                "data": self.data_key,
                "seqs": [list(pair) for pair in self.seqs],
                "blocks": [{"offset": b.offset, "length": b.length, "events": b.events} for b in self.blocks],
                "folded": sorted(self.folded),
                "sha256": self.sha256,
                "events": self.events,
                "storedBytes": self.stored_bytes,
                "assets": sorted(self.assets),
            }
        )

    @classmethod
    def from_json(cls, body: bytes) -> CompactedIndex:
        """Parse a stored index (raises ValueError for anything else)."""
        value: Any = orjson.loads(body)
        if not isinstance(value, dict) or value.get("v") != VERSION:
            raise ValueError("not a compacted index")
        return cls(
            generation=int(value["generation"]),
            data_key=str(value["data"]),
            seqs=tuple((int(seq), int(count)) for seq, count in value["seqs"]),
            blocks=tuple(Block(offset=b["offset"], length=b["length"], events=b["events"]) for b in value["blocks"]),
            folded=frozenset(value["folded"]),
            sha256=str(value["sha256"]),
            events=int(value["events"]),
            stored_bytes=int(value["storedBytes"]),
            assets=frozenset(value.get("assets", ())),
        )

    def seq_set(self) -> frozenset[int]:
        """The seqs this generation holds."""
        return frozenset(seq for seq, _ in self.seqs)


# An asset named by an event line: an Asset event's hash, or a reference in place of inline bytes.
_ASSET_IN_LINE = re.compile(rb'(?:rrweb-asset:sha256=|"sha256"\s*:\s*")([0-9a-f]{64})')


def assets_in(line: bytes) -> set[str]:
    """The SHA-256s of the page assets one event line names (cheap for the many lines that name none)."""
    if b"sha256" not in line:
        return set()
    return {match.decode() for match in _ASSET_IN_LINE.findall(line)}


@dataclass(frozen=True, kw_only=True)
class Encoded:
    """A data object ready to store: its bytes, blocks, and the digest of its lines."""

    body: bytes
    blocks: tuple[Block, ...]
    sha256: str
    events: int


class Writer:
    """Compresses newline-terminated event lines into gzip members as they come, handing each to ``sink``.

    Lines are held only until their block is full (about ``block_bytes``, or one line
    when a line alone is larger), so writing a recording of any length holds one block.
    A block ends before the line that would take it past ``block_bytes``: the bytes
    depend only on the lines and ``block_bytes``, never on how they were handed in.
    """

    def __init__(self, *, block_bytes: int, sink: Callable[[bytes], None]) -> None:
        self._block_bytes = block_bytes
        self._sink = sink
        self._pending: list[bytes] = []
        self._size = 0
        self._offset = 0
        self._blocks: list[Block] = []
        self._digest = hashlib.sha256()
        self._events = 0

    def add(self, line: bytes) -> None:
        """One event's line, newline included."""
        if self._pending and self._size + len(line) > self._block_bytes:
            self._flush()
        self._pending.append(line)
        self._size += len(line)

    def _flush(self) -> None:
        raw = b"".join(self._pending)
        self._pending.clear()
        self._size = 0
        self._digest.update(raw)
        compressor = zlib.compressobj(_LEVEL, zlib.DEFLATED, 31)
        member = compressor.compress(raw) + compressor.flush()
        events = raw.count(b"\n")
        del raw
        self._blocks.append(Block(offset=self._offset, length=len(member), events=events))
        self._offset += len(member)
        self._events += events
        self._sink(member)

    def close(self) -> tuple[tuple[Block, ...], str, int, int]:
        """Compress what is left: (blocks, digest of the lines, events, bytes written)."""
        if self._pending:
            self._flush()
        return tuple(self._blocks), self._digest.hexdigest(), self._events, self._offset


def encode(lines: list[bytes], *, block_bytes: int) -> Encoded:
    """Compress newline-terminated event lines into gzip members of about ``block_bytes`` each."""
    body = bytearray()
    writer = Writer(block_bytes=block_bytes, sink=body.extend)
    for line in lines:
        writer.add(line)
    blocks, digest, events, _ = writer.close()
    return Encoded(body=bytes(body), blocks=blocks, sha256=digest, events=events)


def inflate_block(member: bytes, *, limit: int) -> bytes:
    """One block (a whole gzip member) inflated, refusing more than ``limit`` bytes or anything but one member."""
    inflater = zlib.decompressobj(wbits=31)
    data = inflater.decompress(member, limit + 1)
    if len(data) > limit or not inflater.eof or inflater.unused_data:
        raise ValueError("a compacted block is not one gzip member of at most its size")
    return data


def decode(body: bytes) -> bytes:
    """Inflate every member of a data object: the JSON lines."""
    out = bytearray()
    while body:
        inflater = zlib.decompressobj(31)
        out += inflater.decompress(body)
        if not inflater.eof:
            raise ValueError("truncated compacted object")
        body = inflater.unused_data
    return bytes(out)


def lines_of(data: bytes) -> list[bytes]:
    """The newline-terminated lines of inflated data."""
    return [line + b"\n" for line in data.split(b"\n")[:-1]]
