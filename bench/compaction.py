"""``python -m bench.compaction``: an hour-long recording read back before and after compaction.

One recording of 720 batches (an hour of a visitor's browsing, 22 MB of rrweb JSON,
``workload.hour_recording``) goes through the real write path in process, moto as
AWS: the API's ``ingest`` puts each batch on the stream, and the stack's consumer
function, behind the local event source mapping, writes it as one chunk object (the
recorder's flush is longer than the consumer's batching window, so each invocation
holds one batch of a recording). The recording is read back completely with
``EventReader`` (page by page, as GET /events serves it, and as one fetch-and-decode
of every batch), then ``Compactor.compact`` folds it into one object, and it is read
again. moto answers in microseconds, so every S3 request is delayed by 20 ms (a
typical first-byte time) for the reads and the compaction alike; each read starts
from a cold cache, as a fresh function would.
"""

from __future__ import annotations

import gzip
import time
import urllib.parse
import zlib
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bench import results_file, workload
from bench.harness import OWNER, InProcessStack, S3Meter, in_process_stack, post
from chalicelib import compacted, layout

LATENCY_S = 0.020
BATCHES = 720
# Reads are timed as the best of a few cold runs (the machine's other work only adds).
READ_ROUNDS = 3
TARGET_SPEEDUP = 10
TARGET_GZIP_RATIO = 1.1
# Browsers open at most six HTTP/1.1 connections per host, and S3 speaks HTTP/1.1.
BROWSER_CONNECTIONS = 6


def read_pages(stack: InProcessStack, recording_id: str) -> tuple[bytes, int]:
    """Every event as GET /events serves it (gzip accepted), page after page: JSON lines and pages."""
    lines = bytearray()
    cursor = None
    pages = 0
    while True:
        page = stack.services.events.page(OWNER, recording_id, cursor=cursor, accept_gzip=True)
        pages += 1
        lines += gzip.decompress(page.body) if page.gzip else page.body
        cursor = page.next_cursor
        if not cursor:
            return bytes(lines), pages


def read_all(stack: InProcessStack, recording_id: str) -> int:
    """Every batch fetched and decoded once (what the pages are cut from); returns the events."""
    reader = stack.services.events
    contents = reader.contents(OWNER, recording_id)
    return sum(len(events) for _, events in reader.batches(contents))


def read_blocks(stack: InProcessStack, recording_id: str) -> bytes:
    """The replay page's path for a compacted recording: GET /blocks, then each byte range from S3.

    The ranges go straight to S3 (presigned), six at a time as a browser would, and
    each block inflates alone; no function time, no 6 MB response cap.
    """
    s3, bucket = stack.services.s3, stack.services.events.objects.bucket

    def fetch(url_and_block: tuple[str, dict[str, Any]]) -> bytes:
        url, block = url_and_block
        key = urllib.parse.unquote(urllib.parse.urlsplit(url).path.lstrip("/"))
        key = key.removeprefix(f"{bucket}/")
        data = s3.get_object(Bucket=bucket, Key=key, Range=block["range"])["Body"].read()
        return zlib.decompress(data, wbits=31)

    ranges: list[tuple[str, dict[str, Any]]] = []
    cursor = None
    while True:  # each answer lists at most BLOCKS_PER_RESPONSE blocks, with its own URL
        answer = stack.services.events.blocks(OWNER, recording_id, cursor=cursor)
        ranges += [(answer["url"], block) for block in answer["blocks"]]
        cursor = answer["next"]
        if cursor is None:
            break
    with ThreadPoolExecutor(BROWSER_CONNECTIONS) as pool:
        return b"".join(pool.map(fetch, ranges))


def measured(meter: S3Meter, stack: InProcessStack, fn: Any, *, rounds: int = 1) -> tuple[Any, dict[str, Any]]:
    """Run ``fn`` from a cold cache; its result, best seconds of ``rounds`` and S3 requests by kind (one run)."""
    best = float("inf")
    for _ in range(rounds):
        stack.services.events.cache.clear()
        meter.reset()
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
        counts = meter.reset()
    return result, {
        "seconds": round(best, 3),
        "gets": counts.pop("GetObject", 0),
        "lists": counts.pop("ListObjectsV2", 0),
        **({"other": counts} if counts else {}),
    }


def object_sizes(stack: InProcessStack, recording_id: str) -> dict[str, int]:
    """Size of every object under the recording's events prefix, by key."""
    pages = stack.services.s3.get_paginator("list_objects_v2").paginate(
        Bucket=stack.services.events.objects.bucket, Prefix=layout.events_prefix(OWNER, recording_id)
    )
    return {entry["Key"]: entry["Size"] for page in pages for entry in page.get("Contents", [])}


def run() -> dict[str, Any]:
    """Compaction figures."""
    posted = workload.hour_recording(batches=BATCHES)
    expected = workload.plain_json_lines(workload.all_events(posted))
    with in_process_stack() as stack:
        recording_id = stack.services.recordings.create(OWNER)[0]["recording"]["id"]
        start = time.perf_counter()
        for batch in posted:
            post(stack, recording_id, batch)
            stack.consume()
        write_s = time.perf_counter() - start
        chunks = object_sizes(stack, recording_id)
        assert len(chunks) == BATCHES, f"{len(chunks)} chunk objects for {BATCHES} batches"

        meter = S3Meter(stack.services.s3, latency_s=LATENCY_S)

        def read(fn: Any) -> tuple[Any, dict[str, Any]]:
            return measured(meter, stack, lambda: fn(stack, recording_id), rounds=READ_ROUNDS)

        (before_lines, before_pages), before = read(read_pages)
        events_before, before_all = read(read_all)
        result, compaction = measured(meter, stack, lambda: stack.services.compactor.compact(OWNER, recording_id))
        assert result.outcome == "compacted", result
        assert result.folded == BATCHES, result
        (after_lines, after_pages), after = read(read_pages)
        events_after, after_all = read(read_all)
        block_lines, blocks = read(read_blocks)
        meter.close()

        left = object_sizes(stack, recording_id)
        (data_key,) = [key for key in left if key.endswith(".jsonl.gz")]
        (index_key,) = [key for key in left if key.endswith(".json")]
        body = stack.services.s3.get_object(Bucket=stack.services.events.objects.bucket, Key=data_key)["Body"].read()
    assert before_lines == expected, "the chunks read back something else"
    assert after_lines == expected, "the compacted object reads back something else"
    assert block_lines == expected, "the blocks read back something else"
    assert compacted.decode(body) == expected, "the compacted object is not the events as JSON lines"
    assert events_before == events_after == expected.count(b"\n")
    gzip6 = len(gzip.compress(expected, compresslevel=6))
    chunk_bytes = sum(chunks.values())
    figures = {
        "batches": BATCHES,
        "events": events_after,
        "events_json_mb": round(len(expected) / 1e6, 2),
        "injected_latency_ms": LATENCY_S * 1000,
        "write_path_s": round(write_s, 1),
        "before": {"chunk_objects": len(chunks), "pages": before_pages, **before, "read_all": before_all},
        "compaction": {**compaction, "generation": result.generation, "folded": result.folded},
        "after": {
            "objects": len(left),
            "pages": after_pages,
            **after,
            "read_all": after_all,
            "blocks_from_s3": blocks,
        },
        "speedup": round(before["seconds"] / after["seconds"], 1),
        "speedup_read_all": round(before_all["seconds"] / after_all["seconds"], 1),
        "speedup_blocks": round(before["seconds"] / blocks["seconds"], 1),
        "bytes": {
            "chunks": chunk_bytes,
            "compacted": len(body),
            "index": left[index_key],
            "gzip6_json_lines": gzip6,
            "compacted_vs_gzip6": round(len(body) / gzip6, 3),
            "chunks_vs_compacted": round(chunk_bytes / len(body), 2),
            "json_lines_vs_compacted": round(len(expected) / len(body), 2),
        },
    }
    figures["targets_met"] = {
        # One object of events; its index (what says the generation was committed, and
        # which seqs and chunks it holds) is fetched beside it, in the same round trip.
        "one_data_object_read_after": after_all["gets"] == 2 and after_all["lists"] == 1,
        f"read_min_{TARGET_SPEEDUP}x_faster": figures["speedup_read_all"] >= TARGET_SPEEDUP,
        "compacted_max_1_1x_gzip6": figures["bytes"]["compacted_vs_gzip6"] <= TARGET_GZIP_RATIO,
    }
    b, a, c, size = before, after, compaction, figures["bytes"]
    print(
        f"compaction: one recording, {BATCHES} batches, {figures['events_json_mb']} MB of events, "
        f"{LATENCY_S * 1000:.0f} ms per S3 request; written through ingest and the consumer in {write_s:.0f} s"
    )
    print(
        f"compaction: every event once (EventReader.contents): before {before_all['gets']} GETs + "
        f"{before_all['lists']} LIST, {before_all['seconds']:.2f} s; after {after_all['gets']} GETs (the data object "
        f"and its index, together) + {after_all['lists']} LIST, {after_all['seconds']:.2f} s = "
        f"{figures['speedup_read_all']}x faster"
    )
    print(
        f"compaction: page by page as GET /events serves it: before {b['gets']} GETs + {b['lists']} LISTs, "
        f"{b['seconds']:.2f} s ({before_pages} pages); after {a['gets']} GETs (the data object once, "
        f"its index on every page) + {a['lists']} LISTs, {a['seconds']:.2f} s = "
        f"{figures['speedup']}x faster (gzip of the response costs the same before and after)"
    )
    print(
        f"compaction: replay page's path after (GET /blocks, then {blocks['gets'] - 1} byte ranges of the one data "
        f"object from S3, {BROWSER_CONNECTIONS} at a time): {blocks['gets']} GETs + {blocks['lists']} LIST, "
        f"{blocks['seconds']:.2f} s = {figures['speedup_blocks']}x faster than the pages before"
    )
    print(
        f"compaction: compacting it took {c['seconds']:.2f} s: {c['gets']} GETs, {c['lists']} LIST, "
        f"{c.get('other', {})}"
    )
    print(
        f"compaction: stored {size['compacted']} bytes (+ {size['index']} of index) vs gzip -6 of the same JSON "
        f"lines {gzip6} = {size['compacted_vs_gzip6']}x; the {len(chunks)} chunks it replaced held {chunk_bytes} "
        f"bytes ({size['chunks_vs_compacted']}x the compacted object)"
    )
    return figures


if __name__ == "__main__":
    results_file.merge("compaction", run(), command="python -m bench.compaction")
