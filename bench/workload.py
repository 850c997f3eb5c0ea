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


def split(events: list[dict[str, Any]], batches: int) -> list[Posted]:
    """``events`` cut into exactly ``batches`` recorder batches of (nearly) equal size, in order."""
    posted = []
    for seq in range(batches):
        part = events[seq * len(events) // batches : (seq + 1) * len(events) // batches]
        plain = json.dumps({"seq": seq, "events": part}, separators=(",", ":")).encode()
        posted.append(Posted(seq, part, plain, gzip.compress(plain, compresslevel=CLIENT_GZIP_LEVEL)))
    return posted


def hour_recording(*, batches: int = 720) -> list[Posted]:
    """An hour of one visitor's browsing as the recorder posts it.

    Twelve page views of a long documentation page (a full snapshot of about 0.85 MB
    each) and 56,400 incremental events in rrweb's proportions, 60 minutes of event
    time, 22 MB of JSON. 720 batches is one every 5 s: between the recorder's 10 s
    flush when nobody watches and its 2 s flush while someone does.
    """
    return split(rrweb_stream.session(sections=60, incremental=4700, pages=12), batches)


def all_events(posted: list[Posted]) -> list[dict[str, Any]]:
    """The events of every batch, in order."""
    return [event for batch in posted for event in batch.events]


def plain_json_lines(events: list[dict[str, Any]]) -> bytes:
    """The events as uncompressed JSON lines (what a naive store would keep)."""
    return b"".join(json.dumps(event, separators=(",", ":")).encode() + b"\n" for event in events)
