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
import zlib
from dataclasses import dataclass
from typing import Any

import orjson

VERSION = 1
_LEVEL = 6


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
        )

    def seq_set(self) -> frozenset[int]:
        """The seqs this generation holds."""
        return frozenset(seq for seq, _ in self.seqs)


@dataclass(frozen=True, kw_only=True)
class Encoded:
    """A data object ready to store: its bytes, blocks, and the digest of its lines."""

    body: bytes
    blocks: tuple[Block, ...]
    sha256: str
    events: int


def encode(lines: list[bytes], *, block_bytes: int) -> Encoded:
    """Compress newline-terminated event lines into gzip members of about ``block_bytes`` each."""
    digest = hashlib.sha256()
    body = bytearray()
    blocks: list[Block] = []
    start = 0
    while start < len(lines):
        end, size = start, 0
        while end < len(lines) and (end == start or size + len(lines[end]) <= block_bytes):
            size += len(lines[end])
            end += 1
        raw = b"".join(lines[start:end])
        digest.update(raw)
        compressor = zlib.compressobj(_LEVEL, zlib.DEFLATED, 31)
        member = compressor.compress(raw) + compressor.flush()
        blocks.append(Block(offset=len(body), length=len(member), events=end - start))
        body += member
        start = end
    return Encoded(body=bytes(body), blocks=tuple(blocks), sha256=digest.hexdigest(), events=len(lines))


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
