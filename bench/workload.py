"""The benchmark workload: a realistic rrweb recording cut into recorder batches."""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from typing import Any

from tests.support import rrweb_stream

# Browsers' CompressionStream("gzip") uses zlib's default level.
CLIENT_GZIP_LEVEL = 6


@dataclass(frozen=True)
class Posted:
    """One batch as the recorder sends it."""

    seq: int
    events: list[dict[str, Any]]
    plain: bytes
    gzip: bytes


def recording(*, pages: int = 1, incremental: int = 3000, batch_events: int = 150) -> list[Posted]:
    """A recording (full snapshot + mutations, mouse, scroll, input) as posted batches."""
    stream = rrweb_stream.session(sections=60, incremental=incremental, pages=pages)
    posted = []
    for seq, events in enumerate(rrweb_stream.batches(stream, batch_events)):
        plain = json.dumps({"seq": seq, "events": events}, separators=(",", ":")).encode()
        posted.append(Posted(seq, events, plain, gzip.compress(plain, compresslevel=CLIENT_GZIP_LEVEL)))
    return posted


def all_events(posted: list[Posted]) -> list[dict[str, Any]]:
    """The events of every batch, in order."""
    return [event for batch in posted for event in batch.events]


def plain_json_lines(events: list[dict[str, Any]]) -> bytes:
    """The events as uncompressed JSON lines (what a naive store would keep)."""
    return b"".join(json.dumps(event, separators=(",", ":")).encode() + b"\n" for event in events)
