"""The cost of one request at the limits: worst-case memory and CPU of the handler's own work.

``python -m bench.limits`` (part of ``make bench``). Each case is a body an attacker
holding a (public) ingest key may send: the largest accepted shapes (a 4 MiB gzip body
inflating to 16 MiB of one huge string, of five million empty objects, of 20,000
events, of deep nesting) and the refused ones (a gzip bomb, 400,000 tiny events, nesting
past the limit, a gzip member ending on the inflate step that once hung the handler).

Memory is the peak of what Python's allocator hands out (tracemalloc: the inflated
JSON, msgspec's and zlib's buffers, the Kinesis records) during ``ingest.prepare_batch``,
everything a request does before its AWS calls, on top of the body it was given (at
most 4 MiB, which Lambda also holds base64-encoded in the event). CPU is that work's
time as a ratio to ``json.loads`` of the same inflated bytes, measured in this run.
"""

from __future__ import annotations

import gzip
import json
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass

import local  # noqa: F401  (puts api/ on the import path)
from chalicelib import ingest as events
from chalicelib import settings
from chalicelib.errors import ApiError

STAMP = 1_700_000_000_000
# The budget docs/architecture.md states for one request's own work.
MEMORY_BUDGET_BYTES = 64 * 1024 * 1024


def _batch(events_json: bytes) -> bytes:
    return b'{"seq": 0, "events": [' + events_json + b"]}"


def _fill_to(template: bytes, size: int) -> bytes:
    """``template`` with ``@`` repeated so the result is ``size`` bytes."""
    return template.replace(b"@", b"x" * (size - len(template) + 1))


def huge_string_with_an_emoji() -> bytes:
    """One event whose string is 16 MiB of ASCII and one 4-byte character (4 bytes per char if decoded)."""
    template = b'{"type": 2, "timestamp": %d, "data": {"text": "\xf0\x9f\x98\x80@"}}' % STAMP
    return gzip.compress(_batch(_fill_to(template, settings.MAX_BATCH_BYTES - 64)), 9)


def value_bomb() -> bytes:
    """Five million ``{}`` in one event: 16 KB of gzip, 16 MiB of JSON, 5 million objects if parsed."""
    inner = b",".join([b"{}"] * (settings.MAX_BATCH_BYTES // 3 - 64))
    return gzip.compress(_batch(b'{"type": 3, "timestamp": %d, "data": [' % STAMP + inner + b"]}"), 9)


def most_events() -> bytes:
    """The most events a batch may hold, each carrying a little data."""
    event = b'{"type": 3, "timestamp": %d, "data": {"source": 1, "positions": [{"x": 1, "y": 2}]}}' % STAMP
    return gzip.compress(_batch(b",".join([event] * settings.MAX_EVENTS_PER_BATCH)), 9)


def deep_nesting(levels: int) -> bytes:
    """One event whose data nests ``levels`` arrays."""
    return gzip.compress(
        _batch(b'{"type": 3, "timestamp": %d, "data": ' % STAMP + b"[" * levels + b"]" * levels + b"}"), 9
    )


def too_many_events() -> bytes:
    """400,000 minimal events in 16 MiB: refused before an object is made for each."""
    event = b'{"type":3,"timestamp":%d}' % STAMP
    return gzip.compress(_batch(b",".join([event] * 400_000)), 9)


def most_minimal_events() -> bytes:
    """As many of the smallest valid events as 16 MiB holds (about 700,000): each becomes a struct."""
    event = b'{"type":1,"timestamp":1}'
    return gzip.compress(_batch(b",".join([event] * ((settings.MAX_BATCH_BYTES - 64) // (len(event) + 1)))), 9)


def gzip_bomb() -> bytes:
    """1 GiB of zeros in about 1 MB."""
    return gzip.compress(b"\0" * (1024 * 1024 * 1024), 9)


def member_on_the_inflate_step() -> bytes:
    """A gzip member ending just past the 256 KiB inflate step, then another (once an endless loop)."""
    return gzip.compress(b"\0" * (256 * 1024 + 1), 6) + gzip.compress(b"{}")


@dataclass(frozen=True)
class Case:
    """A body, and whether the API accepts it."""

    name: str
    make: Callable[[], bytes]
    accepted: bool


CASES = [
    Case("16 MiB string with one 4-byte character", huge_string_with_an_emoji, True),
    Case("5 million empty objects in one event", value_bomb, True),
    Case("20,000 events", most_events, True),
    Case("nesting 3,990 deep (always accepted)", lambda: deep_nesting(3990), True),
    Case("400,000 events", too_many_events, False),
    Case("700,000 minimal events", most_minimal_events, False),
    Case("nesting 100,000 deep", lambda: deep_nesting(100_000), False),
    Case("gzip bomb (1 GiB of zeros)", gzip_bomb, False),
    Case("gzip member ending on the inflate step", member_on_the_inflate_step, False),
]


@dataclass(frozen=True)
class Measured:
    """One case's outcome and cost."""

    accepted: bool
    error: str | None
    peak_bytes: int
    seconds: float


def measure(body: bytes) -> Measured:
    """Run the handler's own work on ``body``: outcome, peak traced memory, time."""
    tracemalloc.start()
    tracemalloc.reset_peak()
    started = time.perf_counter()
    try:
        events.prepare_batch(owner="bench-owner", recording_id="bench-recording", body=body, content_encoding="gzip")
        accepted, error = True, None
    except ApiError as exc:
        accepted, error = False, exc.code
    seconds = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return Measured(accepted=accepted, error=error, peak_bytes=peak, seconds=seconds)


def _json_loads_seconds(body: bytes) -> float | None:
    raw = gzip.decompress(body)
    if len(raw) > settings.MAX_BATCH_BYTES:
        return None
    started = time.perf_counter()
    try:
        json.loads(raw)
    except (ValueError, RecursionError):
        return None
    return time.perf_counter() - started


def run() -> dict[str, object]:
    """Measure every case; print a table; return the figures."""
    rows = []
    for case in CASES:
        body = case.make()
        measured = measure(body)
        baseline = _json_loads_seconds(body) if case.accepted else None
        rows.append(
            {
                "case": case.name,
                "body_bytes": len(body),
                "accepted": measured.accepted,
                "error": measured.error,
                "peak_mb": round(measured.peak_bytes / 2**20, 1),
                "seconds": round(measured.seconds, 3),
                "vs_json_loads": round(measured.seconds / baseline, 2) if baseline else None,
            }
        )
        print(
            f"  {case.name:42} {'202' if measured.accepted else measured.error:16} "
            f"peak {rows[-1]['peak_mb']:6.1f} MiB  {measured.seconds * 1000:7.1f} ms"
            + (f"  ({rows[-1]['vs_json_loads']}x json.loads)" if baseline else "")
        )
    accepted = [row for row in rows if row["accepted"]]
    refused = [row for row in rows if not row["accepted"]]
    return {
        "cases": rows,
        "worst_accepted_peak_mb": max(row["peak_mb"] for row in accepted),
        "worst_refused_peak_mb": max(row["peak_mb"] for row in refused),
        "slowest_accepted_seconds": max(row["seconds"] for row in accepted),
        "budget_mb": MEMORY_BUDGET_BYTES / 2**20,
    }


def main() -> None:
    """Print the figures and merge them into bench/results.json under ``limits``."""
    from bench.__main__ import RESULTS

    figures = run()
    print(
        f"worst accepted request: {figures['worst_accepted_peak_mb']} MiB; "
        f"worst refused: {figures['worst_refused_peak_mb']} MiB (budget {figures['budget_mb']:.0f} MiB)"
    )
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results["limits"] = figures
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
