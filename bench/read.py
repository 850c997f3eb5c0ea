"""Read-back and storage: the events reader against a sequential list-and-get-each reader.

A recording of 500 chunk objects (above 6 MB of events) is written through the real
path in process: the API's ingest puts each batch on the stream and the stack's
consumer writes it as one chunk (one object per recording per invocation, and the
recorder's flush is longer than the consumer's batching window). It is read back
completely by ``EventReader`` (``get_services().events``, what GET /events pages through)
and by a sequential baseline. moto answers in microseconds, so a 20 ms first-byte
latency is injected on every S3 call for both readers alike; without it concurrency
would show nothing. Storage is measured for the chunks and for the one object the
recording becomes once compacted.
"""

from __future__ import annotations

import gzip
import time
from typing import Any

import orjson

from bench import workload
from bench.harness import OWNER, S3Meter, in_process_stack, post
from chalicelib import layout, records

LATENCY_S = 0.020
CHUNKS = 500


def sequential_baseline(s3: Any, bucket: str, owner: str, recording_id: str) -> list[Any]:
    """What the prototype did: list, then get each object one after another."""
    keys: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix=layout.events_prefix(owner, recording_id)
    ):
        keys += [entry["Key"] for entry in page.get("Contents", [])]
    parts: list[records.RecordPart] = []
    for key in keys:
        parts += records.parse_object(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    payloads = records.assemble(parts)
    return [orjson.loads(event) for seq in sorted(payloads) for event in records.payload_events(payloads[seq])]


def read_with_reader(reader: Any, owner: str, recording_id: str, *, accept_gzip: bool) -> tuple[list[Any], int]:
    """Every event through the API's events reader, page by page; returns events and page count."""
    events: list[Any] = []
    cursor = None
    pages = 0
    while True:
        page = reader.page(owner, recording_id, cursor=cursor, accept_gzip=accept_gzip)
        pages += 1
        body = gzip.decompress(page.body) if page.gzip else page.body
        events += [orjson.loads(line) for line in body.splitlines()]
        cursor = page.next_cursor
        if not cursor:
            return events, pages


def _timed(fn: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def stored_objects(s3: Any, bucket: str, owner: str, recording_id: str) -> list[dict[str, Any]]:
    """Every object under a recording's events prefix, as listed."""
    pages = s3.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix=layout.events_prefix(owner, recording_id)
    )
    return [entry for page in pages for entry in page.get("Contents", [])]


def read_targets(figures: dict[str, Any]) -> dict[str, bool]:
    """The read benchmark's targets: at least 3x the sequential baseline, and a recording above 6 MB whole."""
    read = figures["read"]
    return {
        "speedup_min_3x": read["speedup_gzip"] >= 3,
        "above_6mb_complete": read["complete"] and read["events_json_mb"] > 6,
    }


def storage_targets(figures: dict[str, Any]) -> dict[str, bool]:
    """Stored bytes: at least 5x fewer than the events as JSON lines, once compacted."""
    return {"min_5x_fewer_bytes": figures["storage"]["ratio"] >= 5}


def run() -> dict[str, Any]:
    """Read and storage figures."""
    posted = workload.recording(pages=5, incremental=2000, batch_events=20)[:CHUNKS]
    expected = workload.all_events(posted)
    plain = workload.plain_json_lines(expected)
    with in_process_stack() as stack:
        services = stack.services
        recording_id = services.recordings.create(OWNER)[0]["recording"]["id"]
        for batch in posted:
            post(stack, recording_id, batch)
            stack.consume()  # one chunk object per batch, as a long recording accumulates
        bucket = services.events.objects.bucket
        s3 = services.s3
        listed = stored_objects(s3, bucket, OWNER, recording_id)
        assert len(listed) == CHUNKS, f"{len(listed)} chunk objects for {CHUNKS} batches"
        stored = sum(entry["Size"] for entry in listed)

        meter = S3Meter(s3, latency_s=LATENCY_S)
        services.events.cache.clear()
        meter.reset()
        baseline_events, baseline_s = _timed(lambda: sequential_baseline(s3, bucket, OWNER, recording_id))
        baseline_requests = sum(meter.reset().values())
        (reader_events, pages), reader_s = _timed(
            lambda: read_with_reader(services.events, OWNER, recording_id, accept_gzip=True)
        )
        reader_requests = sum(meter.reset().values())
        services.events.cache.clear()  # a cold function for each measured read
        (plain_events, plain_pages), plain_s = _timed(
            lambda: read_with_reader(services.events, OWNER, recording_id, accept_gzip=False)
        )
        plain_requests = sum(meter.reset().values())
        meter.close()

        compaction = services.compactor.compact(OWNER, recording_id)
        assert compaction.outcome == "compacted", compaction
        compacted = sum(entry["Size"] for entry in stored_objects(s3, bucket, OWNER, recording_id))
    assert baseline_events == expected, "baseline read back something else"
    assert reader_events == expected, "reader (gzip) read back something else"
    assert plain_events == expected, "reader (identity) read back something else"
    result = {
        "chunk_objects": len(listed),
        "events": len(expected),
        "events_json_mb": round(len(plain) / 1e6, 3),
        "injected_latency_ms": LATENCY_S * 1000,
        "baseline_sequential": {"seconds": round(baseline_s, 3), "s3_requests": baseline_requests},
        "reader_gzip": {"seconds": round(reader_s, 3), "s3_requests": reader_requests, "pages": pages},
        "reader_identity": {"seconds": round(plain_s, 3), "s3_requests": plain_requests, "pages": plain_pages},
        "speedup_gzip": round(baseline_s / reader_s, 2),
        "speedup_identity": round(baseline_s / plain_s, 2),
        "complete": True,
    }
    storage = {
        "events_json_lines_bytes": len(plain),
        "batch_events": len(posted[0].events),
        "s3_bytes_chunks": stored,
        "ratio_chunks": round(len(plain) / stored, 2),
        "s3_bytes_compacted": compacted,
        "ratio": round(len(plain) / compacted, 2),
    }
    print(
        f"read: {len(listed)} chunks, {result['events_json_mb']} MB of events, {LATENCY_S * 1000:.0f} ms injected: "
        f"baseline {baseline_s:.2f} s / {baseline_requests} requests; reader {reader_s:.2f} s / "
        f"{reader_requests} requests ({pages} page, gzip) = {result['speedup_gzip']}x; identity {plain_s:.2f} s / "
        f"{plain_requests} requests ({plain_pages} pages) = {result['speedup_identity']}x"
    )
    print(
        f"storage: {len(plain)} bytes of JSON lines; as {len(listed)} chunks {stored} bytes "
        f"({storage['ratio_chunks']}x fewer); compacted {compacted} bytes, index included ({storage['ratio']}x fewer)"
    )
    return {"read": result, "storage": storage}


if __name__ == "__main__":
    from bench import results_file

    figures = run()
    results_file.merge(
        "read", {**figures["read"], "targets_met": read_targets(figures)}, command="python -m bench.read"
    )
    results_file.merge(
        "storage", {**figures["storage"], "targets_met": storage_targets(figures)}, command="python -m bench.read"
    )
