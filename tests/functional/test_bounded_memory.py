"""Memory of one request or invocation does not grow with the recording it reads.

The recording is what anyone holding a public ingest key can send: 64 batches of one
16 MiB string event each (16 KB of gzip each, about 1 MB sent), through the real
ingest route and the stream consumer. Reading a page, answering GET /blocks and
compacting it once inflated every batch of it (+526 MiB for 30 batches; MemoryError
under 1 GiB at 40). Each now runs under a limit like a Lambda function's: the traced
memory it allocates is checked as it runs (the operation is stopped with MemoryError
past the limit, as Lambda ends a function) and its peak after.
"""

from __future__ import annotations

import functools
import gzip
import json
import signal
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from chalicelib import settings
from chalicelib.aws import get_services
from tests.support.http import AuthedHttp, create_recording

# About 45 s of one core: the parallel run starts it first (tests/conftest.py).
pytestmark = pytest.mark.long(seconds=45)

# What one operation may allocate, whatever the recording holds (docs/architecture.md).
LIMIT_BYTES = 200 * 1024 * 1024
BATCHES = 64
STAMP = 1_700_000_000_000


@functools.cache  # the same 64 bodies for every test: packing 1 GiB at level 9 costs seconds
def huge_batch(seq: int) -> bytes:
    """A gzip batch of one event whose string fills 16 MiB: about 16 KB as sent."""
    head = b'{"seq":%d,"events":[{"type":3,"timestamp":%d,"data":{"pad":"' % (seq, STAMP + seq)
    tail = b'"}}]}'
    return gzip.compress(head + b"x" * (settings.MAX_BATCH_BYTES - len(head) - len(tail) - 16) + tail, 9)


@contextmanager
def lambda_memory(limit: int) -> Iterator[dict[str, int]]:
    """Run the block under ``limit`` bytes of newly traced memory: stopped past it, its peak checked after."""

    def check(*_: Any) -> None:
        if tracemalloc.get_traced_memory()[0] > limit:
            raise MemoryError(f"past the limit of {limit >> 20} MiB")

    measured: dict[str, int] = {}
    tracemalloc.start()
    previous = signal.signal(signal.SIGALRM, check)
    signal.setitimer(signal.ITIMER_REAL, 0.005, 0.005)
    try:
        yield measured
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        measured["peak"] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert measured["peak"] <= limit, f"peak {measured['peak'] >> 20} MiB, limit {limit >> 20} MiB"


def record_attack(
    client: AuthedHttp, anonymous: AuthedHttp, deliver: Callable[[], int], owner: str, *, compacted: bool
) -> str:
    """A recording with a small compacted first batch, then 64 batches of 16 MiB sent with an ingest key."""
    key = client.post("/keys", body=b"{}", headers={"Content-Type": "application/json"}).json_body["key"]
    visitor = anonymous.acting_as({"Authorization": f"Bearer {key}"})
    recording_id = create_recording(visitor)
    path = f"/recordings/{recording_id}/events"
    first = json.dumps({"seq": 0, "events": [{"type": 4, "timestamp": STAMP, "data": {}}]})
    assert visitor.post(path, body=first, headers={"Content-Type": "application/json"}).status_code == 202
    deliver()
    assert get_services().compactor.compact(owner, recording_id).outcome == "compacted"  # seq 0 alone
    for seq in range(1, BATCHES + 1):
        sent = visitor.post(
            path, body=huge_batch(seq), headers={"Content-Type": "text/plain", "Content-Encoding": "gzip"}
        )
        assert sent.status_code == 202, sent.body
        if seq % 8 == 0:
            deliver()  # eight batches per invocation, so eight chunk objects
    deliver()
    if compacted:
        assert get_services().compactor.compact(owner, recording_id).events == BATCHES + 1
    get_services().events.cache.clear()  # read as a fresh function would
    return recording_id


def read_pages(client: AuthedHttp, recording_id: str, pages: int) -> list[int]:
    """The first ``pages`` pages through GET /events (gzip): events per page."""
    cursor, counts = None, []
    for _ in range(pages):
        path = f"/recordings/{recording_id}/events" + (f"?after={cursor}" if cursor else "")
        response = client.get(path, headers={"Accept": "application/x-ndjson", "Accept-Encoding": "gzip"})
        assert response.status_code == 200, response.body
        counts.append(len(gzip.decompress(response.body).splitlines()))
        cursor = response.headers.get("X-Next-Cursor")
    return counts


@pytest.mark.parametrize("compacted", [False, True], ids=["from-chunks", "from-the-compacted-object"])
def test_reading_pages_of_a_recording_of_64_batches_of_16_mib_stays_within_a_lambdas_memory(
    client: AuthedHttp, anonymous: AuthedHttp, deliver: Callable[[], int], owner: str, compacted: bool
) -> None:
    recording_id = record_attack(client, anonymous, deliver, owner, compacted=compacted)
    with lambda_memory(LIMIT_BYTES):
        # The first event, then each huge one alone: a gzip page holds what fits its budget.
        assert read_pages(client, recording_id, 3) == [1, 1, 1]


def test_blocks_of_a_compacted_recording_with_64_newer_batches_of_16_mib_stay_within_a_lambdas_memory(
    client: AuthedHttp, anonymous: AuthedHttp, deliver: Callable[[], int], owner: str
) -> None:
    recording_id = record_attack(client, anonymous, deliver, owner, compacted=False)
    with lambda_memory(LIMIT_BYTES):
        answer = client.get(f"/recordings/{recording_id}/blocks")
    assert answer.status_code == 200, answer.body
    assert answer.json_body["events"] == 1  # the compacted first batch; the rest come from /events


def test_compacting_a_recording_of_64_batches_of_16_mib_stays_within_a_lambdas_memory(
    client: AuthedHttp, anonymous: AuthedHttp, deliver: Callable[[], int], owner: str
) -> None:
    recording_id = record_attack(client, anonymous, deliver, owner, compacted=False)
    with lambda_memory(LIMIT_BYTES):
        result = get_services().compactor.compact(owner, recording_id)
    assert (result.outcome, result.events, result.generation) == ("compacted", BATCHES + 1, 2)
    assert read_pages(client, recording_id, 2) == [1, 1]
