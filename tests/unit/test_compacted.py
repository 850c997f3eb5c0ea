"""The compacted object's format: gzip members of JSON lines, and the index beside it."""

from __future__ import annotations

import gzip
import hashlib
import json
import zlib

import pytest

from chalicelib import compacted
from chalicelib.compacted import Block, CompactedIndex


def event_lines(count: int, *, width: int = 40) -> list[bytes]:
    return [
        json.dumps({"type": 3, "timestamp": i + 1, "data": {"pad": "x" * (width + i % 7)}}).encode() + b"\n"
        for i in range(count)
    ]


def test_encode_then_decode_gives_back_the_lines_and_gzip_reads_it_as_one_file() -> None:
    lines = event_lines(500)
    encoded = compacted.encode(lines, block_bytes=4096)
    assert compacted.decode(encoded.body) == b"".join(lines)
    assert gzip.decompress(encoded.body) == b"".join(lines)  # zcat prints the events
    assert compacted.lines_of(compacted.decode(encoded.body)) == lines
    assert encoded.events == 500
    assert encoded.sha256 == hashlib.sha256(b"".join(lines)).hexdigest()


def test_every_member_inflates_alone_to_its_own_lines() -> None:
    lines = event_lines(300)
    encoded = compacted.encode(lines, block_bytes=2000)
    assert len(encoded.blocks) > 3
    at = 0
    for block in encoded.blocks:
        data = zlib.decompress(encoded.body[block.offset : block.offset + block.length], wbits=31)
        assert compacted.lines_of(data) == lines[at : at + block.events]
        at += block.events
    assert at == len(lines)


def test_blocks_tile_the_body_and_hold_at_most_block_bytes_of_lines() -> None:
    lines = event_lines(400)
    encoded = compacted.encode(lines, block_bytes=3000)
    assert encoded.blocks[0].offset == 0
    for before, after in zip(encoded.blocks, encoded.blocks[1:], strict=False):
        assert after.offset == before.offset + before.length
    assert encoded.blocks[-1].offset + encoded.blocks[-1].length == len(encoded.body)
    at = 0
    for block in encoded.blocks:
        raw = sum(len(line) for line in lines[at : at + block.events])
        assert raw <= 3000
        # Not cut short: the next line would not have fitted.
        if at + block.events < len(lines):
            assert raw + len(lines[at + block.events]) > 3000
        at += block.events


def test_a_line_larger_than_a_block_is_a_block_of_its_own() -> None:
    lines = [b'{"a":1}\n', b'{"big":"' + b"y" * 10_000 + b'"}\n', b'{"b":2}\n']
    encoded = compacted.encode(lines, block_bytes=1000)
    assert [block.events for block in encoded.blocks] == [1, 1, 1]
    assert compacted.decode(encoded.body) == b"".join(lines)


def test_the_same_lines_encode_to_the_same_bytes() -> None:
    # A rerun of an interrupted compaction writes the same object again, under the same key.
    lines = event_lines(200)
    assert compacted.encode(lines, block_bytes=1500) == compacted.encode(list(lines), block_bytes=1500)


def test_nothing_encodes_to_an_empty_object() -> None:
    encoded = compacted.encode([], block_bytes=1000)
    assert (encoded.body, encoded.blocks, encoded.events) == (b"", (), 0)
    assert compacted.decode(b"") == b""


def test_a_truncated_object_does_not_decode() -> None:
    encoded = compacted.encode(event_lines(50), block_bytes=500)
    with pytest.raises(ValueError, match="truncated"):
        compacted.decode(encoded.body[:-5])


def test_index_json_round_trip() -> None:
    index = CompactedIndex(
        generation=3,
        data_key="recordings/owner=o/recording=r/events/compacted-00000003-0123456789abcdef.jsonl.gz",
        seqs=((0, 2), (4, 1), (9, 7)),
        blocks=(Block(offset=0, length=120, events=6), Block(offset=120, length=40, events=4)),
        folded=frozenset({"recordings/owner=o/recording=r/events/a.gz", "recordings/owner=o/recording=r/events/b.gz"}),
        sha256="ab" * 32,
        events=10,
        stored_bytes=160,
    )
    stored = index.to_json()
    assert CompactedIndex.from_json(stored) == index
    assert json.loads(stored)["v"] == compacted.VERSION
    assert index.seq_set() == {0, 4, 9}


@pytest.mark.parametrize("body", [b"{}", b'{"v": 99}', b"[]", b'"text"'])
def test_anything_else_is_not_an_index(body: bytes) -> None:
    with pytest.raises(ValueError, match="not a compacted index"):
        CompactedIndex.from_json(body)
