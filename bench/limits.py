"""The cost of one request at the limits: worst-case memory and CPU of the handler's own work.

``python -m bench.limits`` (part of ``make bench``). Each case is a body an attacker
holding a (public) ingest key may send: the largest accepted shapes (a 4 MiB gzip body
inflating to 16 MiB of one huge string, of five million empty objects, of 20,000
events, of deep nesting, of lone surrogate escapes to repair, of escaped emoji) and the
refused ones (a gzip bomb, 400,000 tiny events, nesting
past the limit, a gzip member ending on the inflate step that once hung the handler).

Memory is the peak of what Python's allocator hands out (tracemalloc: the inflated
JSON, msgspec's and zlib's buffers, the Kinesis records) during ``ingest.prepare_batch``,
everything a request does before its AWS calls, on top of the body it was given (at
most 4 MiB, which Lambda also holds base64-encoded in the event). CPU is that work's
time as a ratio to ``json.loads`` of the same inflated bytes, measured in this run, each
the best of three runs without tracing (tracemalloc slows every allocation it sees).
"""

from __future__ import annotations

import contextlib
import gzip
import json
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import local  # noqa: F401  (puts api/ on the import path)
from bench.ingest import best_seconds
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


def _one_string(fill: bytes, *, first: bytes = b"") -> bytes:
    """One event whose string is ``first``, then ``fill`` repeated up to the inflated limit; gzip."""
    template = b'{"type": 2, "timestamp": %d, "data": {"text": "@"}}' % STAMP
    room = settings.MAX_BATCH_BYTES - 64 - len(_batch(template)) - len(first)
    return gzip.compress(_batch(template.replace(b"@", first + fill * (room // len(fill)))), 9)


def escape_bomb() -> bytes:
    """16 MiB of lone surrogate escapes (``\\ud800``) in one string: counted in C, refused past the repair limit."""
    return _one_string(b"\\ud800")


def escape_bomb_in_events() -> bytes:
    """The same escapes spread over the most events a batch may hold, one string each."""
    room = (settings.MAX_BATCH_BYTES - 64) // settings.MAX_EVENTS_PER_BATCH
    template = b'{"type": 3, "timestamp": %d, "data": {"text": "@"}}' % STAMP
    event = template.replace(b"@", b"\\ud800" * ((room - len(template) - 1) // 6))
    return gzip.compress(_batch(b",".join([event] * settings.MAX_EVENTS_PER_BATCH)), 9)


def escape_bomb_between_characters() -> bytes:
    """Lone surrogate escapes each after one plain character: refused as the bomb is."""
    return _one_string(b"x\\ud800")


def escapes_at_the_repair_limit() -> bytes:
    """Just under ``MAX_SURROGATE_ESCAPES`` lone escapes spread over 16 MiB: the most repair work accepted."""
    room = settings.MAX_BATCH_BYTES - 128
    fill = b"x" * (room // settings.MAX_SURROGATE_ESCAPES) + b"\\ud800"
    return _one_string(fill)


def emoji_flood() -> bytes:
    """16 MiB of emoji written as escaped surrogate pairs (``\\ud83d\\ude00``): valid, kept as sent."""
    return _one_string(b"\\ud83d\\ude00")


def emoji_flood_after_a_lone_escape() -> bytes:
    """One lone escape, then 16 MiB of escaped pairs: past the repair limit, refused."""
    return _one_string(b"\\ud83d\\ude00", first=b"\\ud800")


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
    # Surrogate escapes: held to at most 2x json.loads of the same bytes, accepted or refused.
    surrogates: bool = False


CASES = [
    Case("16 MiB string with one 4-byte character", huge_string_with_an_emoji, True),
    Case("5 million empty objects in one event", value_bomb, True),
    Case("20,000 events", most_events, True),
    Case("nesting 3,990 deep (always accepted)", lambda: deep_nesting(3990), True),
    Case("16 MiB of lone surrogate escapes in one string", escape_bomb, False, surrogates=True),
    Case("lone surrogate escapes in 20,000 events", escape_bomb_in_events, False, surrogates=True),
    Case("lone surrogate escapes between characters", escape_bomb_between_characters, False, surrogates=True),
    Case("10,000 lone escapes in 16 MiB (repaired)", escapes_at_the_repair_limit, True, surrogates=True),
    Case("16 MiB of emoji as escaped surrogate pairs", emoji_flood, True, surrogates=True),
    Case("one lone escape, then 16 MiB of escaped pairs", emoji_flood_after_a_lone_escape, False, surrogates=True),
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
    try:
        return best_seconds(lambda: json.loads(raw))
    except (ValueError, RecursionError):
        return None


def _untraced_seconds(body: bytes) -> float:
    """The handler's own work on ``body``, timed without tracemalloc, refused or not."""

    def work() -> None:
        with contextlib.suppress(ApiError):
            events.prepare_batch(
                owner="bench-owner", recording_id="bench-recording", body=body, content_encoding="gzip"
            )

    return best_seconds(work)


def run() -> dict[str, Any]:
    """Measure every case; print a table; return the figures."""
    rows: list[dict[str, Any]] = []
    for case in CASES:
        body = case.make()
        measured = measure(body)
        seconds = _untraced_seconds(body)
        baseline = _json_loads_seconds(body) if case.accepted or case.surrogates else None
        rows.append(
            {
                "case": case.name,
                "body_bytes": len(body),
                "accepted": measured.accepted,
                "error": measured.error,
                "peak_mb": round(measured.peak_bytes / 2**20, 1),
                "seconds": round(seconds, 3),
                "vs_json_loads": round(seconds / baseline, 2) if baseline else None,
                "surrogates": case.surrogates,
            }
        )
        print(
            f"  {case.name:46} {'202' if measured.accepted else measured.error:16} "
            f"peak {rows[-1]['peak_mb']:6.1f} MiB  {seconds * 1000:7.1f} ms"
            + (f"  ({rows[-1]['vs_json_loads']}x json.loads)" if baseline else "")
        )
    recording = recording_cases()
    accepted = [row for row in rows if row["accepted"]]
    refused = [row for row in rows if not row["accepted"]]
    return {
        "cases": rows,
        # One request or compaction run over the 64 x 16 MiB recording: its memory must
        # not follow the recording's size.
        "recording_cases": recording,
        "worst_recording_peak_mb": max(row["peak_mb"] for row in recording),
        "recording_budget_mb": RECORDING_BUDGET_BYTES / 2**20,
        "worst_accepted_peak_mb": max(row["peak_mb"] for row in accepted),
        "worst_refused_peak_mb": max(row["peak_mb"] for row in refused),
        "slowest_accepted_seconds": max(row["seconds"] for row in accepted),
        # Escape bombs and floods, accepted or refused, against json.loads of the same bytes.
        "worst_surrogates_vs_json_loads": max(row["vs_json_loads"] for row in rows if row["surrogates"]),
        "budget_mb": MEMORY_BUDGET_BYTES / 2**20,
    }


# The recording anyone holding a public ingest key can make: 64 batches of one 16 MiB
# string event each (16 KB of gzip each), through the API's ingest and the consumer.
RECORDING_BATCHES = 64
# What one read or compaction run may allocate, whatever the recording holds
# (docs/architecture.md, "Reading events back"; tests/functional/test_bounded_memory.py).
RECORDING_BUDGET_BYTES = 200 * 1024 * 1024


def _huge_batch(seq: int) -> bytes:
    head = b'{"seq":%d,"events":[{"type":3,"timestamp":%d,"data":{"pad":"' % (seq, STAMP + seq)
    tail = b'"}}]}'
    return gzip.compress(head + b"x" * (settings.MAX_BATCH_BYTES - len(head) - len(tail) - 16) + tail, 9)


def _peak(operation: Callable[[], object]) -> tuple[int, float]:
    """Peak traced memory allocated by ``operation`` and its time."""
    tracemalloc.start()
    started = time.perf_counter()
    try:
        operation()
    finally:
        seconds = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak, seconds


def recording_cases() -> list[dict[str, Any]]:
    """Peak memory of reading a page, GET /blocks and compacting the 64 x 16 MiB recording (moto in process).

    The recording's first batch is compacted alone, so /blocks has a compacted object
    and 64 newer batches beside it; then the whole recording is compacted, and read
    again from the compacted object.
    """
    from bench.harness import OWNER, in_process_stack

    rows: list[dict[str, Any]] = []
    with in_process_stack() as stack:
        recording_id = stack.services.recordings.create(OWNER)[0]["recording"]["id"]
        first = b'{"seq":0,"events":[{"type":4,"timestamp":%d,"data":{}}]}' % STAMP
        stack.services.ingest.append(OWNER, recording_id, gzip.compress(first), "gzip")
        stack.consume()
        stack.services.compactor.compact(OWNER, recording_id)
        sent = 0
        for seq in range(1, RECORDING_BATCHES + 1):
            body = _huge_batch(seq)
            sent += len(body)
            stack.services.ingest.append(OWNER, recording_id, body, "gzip")
            if seq % 8 == 0:
                stack.consume()
        stack.consume()
        reader = stack.services.events

        def pages() -> None:
            cursor = None
            for _ in range(3):
                cursor = reader.page(OWNER, recording_id, cursor=cursor, accept_gzip=True).next_cursor

        def cold(operation: Callable[[], object]) -> Callable[[], object]:
            def run_cold() -> object:
                reader.cache.clear()
                return operation()

            return run_cold

        for name, operation in (
            ("read 3 pages (64 chunk batches)", cold(pages)),
            ("GET /blocks (64 newer batches)", cold(lambda: reader.blocks(OWNER, recording_id))),
            ("compact 64 x 16 MiB", lambda: stack.services.compactor.compact(OWNER, recording_id)),
            ("read 3 pages (compacted)", cold(pages)),
        ):
            peak, seconds = _peak(operation)
            rows.append(
                {
                    "case": name,
                    "recording_sent_bytes": sent,
                    "recording_inflated_mb": round(RECORDING_BATCHES * settings.MAX_BATCH_BYTES / 2**20),
                    "peak_mb": round(peak / 2**20, 1),
                    "seconds": round(seconds, 3),
                    "within_budget": peak <= RECORDING_BUDGET_BYTES,
                }
            )
            print(f"  {name:42} {'':16} peak {rows[-1]['peak_mb']:6.1f} MiB  {seconds * 1000:7.1f} ms")
    return rows


def main() -> None:
    """Print the figures and merge them into bench/results.json under ``limits``."""
    from bench.results_file import RESULTS

    figures = run()
    print(
        f"worst accepted request: {figures['worst_accepted_peak_mb']} MiB; "
        f"worst refused: {figures['worst_refused_peak_mb']} MiB (budget {figures['budget_mb']:.0f} MiB); "
        f"surrogate escapes at worst {figures['worst_surrogates_vs_json_loads']}x json.loads (target 2x)"
    )
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results["limits"] = figures
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
