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

The data object also ends with a copy of its index, so reading a compacted recording
whole is one GET: a last gzip member that inflates to nothing and carries the index as
its header's comment (RFC 1952's FCOMMENT, which ``zcat``, Python's ``gzip`` and zlib
skip). The export stays plain events; the separate index stays the commit point and what
``/blocks`` reads (it is small, the data object is not).
"""

from __future__ import annotations

import hashlib
import json
import struct
import zlib
from dataclasses import dataclass
from typing import Any

import orjson

VERSION = 1
_LEVEL = 6
# The trailer member's fixed header: magic, deflate, FCOMMENT only, no time, no extra
# flags, unknown OS. Its comment is ASCII JSON (no byte 0x8b, no NUL), so the last
# occurrence of this header in an object is the trailer's.
_TRAILER_HEADER = b"\x1f\x8b\x08\x10" + struct.pack("<I", 0) + b"\x00\xff"
# After the comment: its NUL, an empty final deflate block, CRC-32 and length of nothing.
_TRAILER_END = b"\x00" + b"\x03\x00" + struct.pack("<II", 0, 0)


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
        return orjson.dumps(self._fields())

    def trailer(self) -> bytes:
        """The gzip member that ends the data object: no data, this index as its comment."""
        comment = json.dumps(self._fields(), ensure_ascii=True, separators=(",", ":"))
        return _TRAILER_HEADER + comment.encode("ascii") + _TRAILER_END

    def _fields(self) -> dict[str, Any]:
        return {
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


def trailing_index(body: bytes) -> CompactedIndex | None:
    """The index a data object ends with, or None (an object written without one)."""
    if not body.endswith(_TRAILER_END):
        return None
    at = body.rfind(_TRAILER_HEADER)
    if at < 0:
        return None
    try:
        index = CompactedIndex.from_json(body[at + len(_TRAILER_HEADER) : -len(_TRAILER_END)])
    except (ValueError, KeyError, TypeError):
        return None
    # The blocks must end exactly where the trailer starts, or this is not the trailer.
    end = index.blocks[-1].offset + index.blocks[-1].length if index.blocks else 0
    return index if end == at else None


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
