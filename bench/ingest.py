"""Ingest cost: the POST handler's own work against a bare ``json.loads``, and throughput.

The handler's own work is ``ingest.prepare_batch``: decode, inflate, validate and
build the Kinesis records (the AWS call excluded). It is timed against stdlib
``json.loads`` of the same (uncompressed) payload, interleaved in one run, the best
of several rounds, so machine noise affects both sides alike.
"""

from __future__ import annotations

import gzip
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

from bench import workload
from bench.harness import OWNER, in_process_stack
from bench.results_file import merge
from chalicelib.ingest import prepare_batch

ROUNDS = 7
# Rounds of the workload's POSTs timed for CPU (the least is kept).
CPU_ROUNDS = 3


def best_seconds(fn: Callable[[], Any], rounds: int = 3) -> float:
    """The shortest of ``rounds`` timings of ``fn``: the least disturbed by other processes."""
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def handler_cost(posted: list[workload.Posted]) -> dict[str, Any]:
    """Seconds for json.loads vs the handler's work over the whole recording."""

    def loads() -> None:
        for batch in posted:
            json.loads(batch.plain)

    def handler_gzip() -> None:
        for batch in posted:
            prepare_batch(owner=OWNER, recording_id="bench-recording", body=batch.gzip, content_encoding="gzip")

    def handler_plain() -> None:
        for batch in posted:
            prepare_batch(owner=OWNER, recording_id="bench-recording", body=batch.plain, content_encoding=None)

    timings = {"json_loads": 0.0, "handler_gzip": 0.0, "handler_plain": 0.0}
    for _ in range(ROUNDS):  # interleaved rounds: noise hits every side alike
        for name, fn in (("json_loads", loads), ("handler_gzip", handler_gzip), ("handler_plain", handler_plain)):
            elapsed = best_seconds(fn, 1)
            timings[name] = elapsed if not timings[name] else min(timings[name], elapsed)
    raw = sum(len(batch.plain) for batch in posted)
    return {
        "payload_mb": round(raw / 1e6, 3),
        "json_loads_s": round(timings["json_loads"], 4),
        "handler_gzip_body_s": round(timings["handler_gzip"], 4),
        "handler_plain_body_s": round(timings["handler_plain"], 4),
        "ratio_gzip_body": round(timings["handler_gzip"] / timings["json_loads"], 3),
        "ratio_plain_body": round(timings["handler_plain"] / timings["json_loads"], 3),
    }


def _rates(events: int, raw: int, seconds: float) -> dict[str, float]:
    return {
        "seconds": round(seconds, 3),
        "events_per_s": round(events / seconds, 1),
        "mb_per_s": round(raw / 1e6 / seconds, 3),
    }


def through_handler(posted: list[workload.Posted]) -> dict[str, Any]:
    """Whole POSTs through the Chalice app in process, moto (in process) as AWS."""
    from chalice.test import Client

    with in_process_stack():
        import boto3

        from app import app
        from tests.support.accounts import make_user

        user = make_user(boto3.session.Session(region_name="us-east-1"), "bench@example.com")
        with Client(app) as client:
            created = client.http.post(
                "/recordings", body="{}", headers={"Content-Type": "application/json", **user.headers}
            ).json_body
            path = f"/recordings/{created['recording']['id']}/events"
            headers = {"Content-Type": "application/octet-stream", "Content-Encoding": "gzip", **user.headers}
            elapsed = cpu = float("inf")
            for seq_base in range(0, CPU_ROUNDS * len(posted), len(posted)):
                start, started_cpu = time.perf_counter(), time.process_time()
                for seq, batch in enumerate(posted, start=seq_base):
                    response = client.http.post(
                        path,
                        body=batch.gzip if seq < len(posted) else gzip_batch(batch, seq),
                        headers=headers,
                    )
                    assert response.status_code == 202, response.body
                # The first round is the workload as posted; the later ones repeat its batches
                # under new seqs, for the least disturbed CPU figure.
                if seq_base == 0:
                    elapsed = time.perf_counter() - start
                cpu = min(cpu, (time.process_time() - started_cpu) / len(posted))
    rates = _rates(sum(len(b.events) for b in posted), sum(len(b.plain) for b in posted), elapsed)
    # Everything this process spent per POST: the function's own work (routing,
    # authentication, inflate, validate, botocore's signing and parsing) and moto's, which
    # answers the AWS calls in the same process. An upper bound on the function's CPU:
    # bench.cost prices the ingest function's duration with it.
    rates["cpu_per_post_s"] = round(cpu, 5)
    return rates


def gzip_batch(batch: workload.Posted, seq: int) -> bytes:
    """The batch's events under another seq, gzip as the recorder sends them."""
    return gzip.compress(json.dumps({"seq": seq, "events": batch.events}, separators=(",", ":")).encode(), 6)


def over_http(posted: list[workload.Posted], tmp: Any) -> dict[str, Any]:
    """Whole POSTs to the local stack over HTTP (moto's server as AWS)."""
    from tests.support.local_stack import start_stack

    stack = start_stack(tmp / "data")
    try:
        with requests.Session() as http:
            from tests.support.accounts import sign_up_and_in

            http.headers.update(sign_up_and_in(stack.api, http)[1])
            recording_id = http.post(f"{stack.api}/recordings", json={}, timeout=30).json()["recording"]["id"]
            start = time.perf_counter()
            for batch in posted:
                response = http.post(
                    f"{stack.api}/recordings/{recording_id}/events",
                    data=batch.gzip,
                    headers={"Content-Type": "application/octet-stream", "Content-Encoding": "gzip"},
                    timeout=60,
                )
                assert response.status_code == 202, response.text
            elapsed = time.perf_counter() - start
    finally:
        stack.stop()
    return _rates(sum(len(b.events) for b in posted), sum(len(b.plain) for b in posted), elapsed)


def run(tmp: Any) -> dict[str, Any]:
    """All ingest figures."""
    posted = workload.recording()
    cost = handler_cost(posted)
    print(
        f"ingest: handler's own work vs json.loads over {cost['payload_mb']} MB: "
        f"gzip body {cost['ratio_gzip_body']}x, plain body {cost['ratio_plain_body']}x"
    )
    handler = through_handler(posted)
    print(
        f"ingest: POST through the handler in process: {handler['events_per_s']} events/s, {handler['mb_per_s']} MB/s,"
        f" {handler['cpu_per_post_s'] * 1000:.1f} ms of CPU per POST (moto's included)"
    )
    http = over_http(posted, tmp)
    print(f"ingest: POST to the local stack over HTTP: {http['events_per_s']} events/s, {http['mb_per_s']} MB/s")
    return {
        "workload": {"batches": len(posted), "events": sum(len(b.events) for b in posted)},
        "handler_cost": cost,
        "in_process": handler,
        "local_stack_http": http,
        "targets_met": {"handler_vs_json_loads_max_1_5x": cost["ratio_gzip_body"] <= 1.5},
    }


def main() -> None:
    """Run alone: print the figures and merge them into bench/results.json."""
    with tempfile.TemporaryDirectory() as tmp:
        figures = run(Path(tmp))
    merge("ingest", figures, command="python -m bench.ingest")


if __name__ == "__main__":
    main()
