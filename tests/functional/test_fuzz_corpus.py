"""The hostile-payload corpus (tests/fuzz): each entry gets exactly its answer, in bounded memory.

A refused entry leaves nothing behind (no record in the stream, no event counted, no
recording created), and the service keeps taking good batches after every one.
Regenerate the corpus with ``python -m tests.fuzz.make_corpus``.
"""

from __future__ import annotations

import gzip
import json
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.http import create_recording
from tests.support.in_process import NAMES

# About 20 s of one core: the parallel run starts it first (tests/conftest.py).
pytestmark = pytest.mark.long(seconds=20)

FUZZ = Path(__file__).resolve().parents[1] / "fuzz"
CORPUS: list[dict[str, Any]] = json.loads((FUZZ / "corpus.json").read_text())
EVENTS_ROUTE = "POST /recordings/{id}/events"
CREATE_ROUTE = "POST /recordings"
GOOD_BATCH = json.dumps({"seq": 99, "events": [{"type": 3, "timestamp": 1700000000000, "data": {}}]})
MEMORY_LIMIT = 64 * 1024 * 1024


def body_of(entry: dict[str, Any]) -> bytes:
    """The exact bytes to send (large bodies are kept gzip-packed on disk)."""
    data = (FUZZ / entry["file"]).read_bytes()
    body = gzip.decompress(data) if entry["file"].endswith(".gz") else data
    assert len(body) == entry["bytes"]
    return body


def send(client: Any, entry: dict[str, Any], recording_id: str, body: bytes) -> Any:
    path = f"/recordings/{recording_id}/events" if entry["route"] == EVENTS_ROUTE else "/recordings"
    return client.post(path, body=body, headers=entry["headers"])


class StreamTail:
    """Records that reach the stack's Kinesis stream from now on (iterators at LATEST)."""

    def __init__(self, aws: Any) -> None:
        self._kinesis = aws.client("kinesis")
        shards = self._kinesis.list_shards(StreamName=NAMES.stream)["Shards"]
        self._iterators = [
            self._kinesis.get_shard_iterator(
                StreamName=NAMES.stream, ShardId=shard["ShardId"], ShardIteratorType="LATEST"
            )["ShardIterator"]
            for shard in shards
        ]

    def records(self) -> list[bytes]:
        return [
            record["Data"]
            for iterator in self._iterators
            for record in self._kinesis.get_records(ShardIterator=iterator)["Records"]
        ]


def listed_ids(client: Any) -> list[str]:
    return [r["id"] for r in client.get("/recordings?limit=200").json_body["recordings"]]


def test_corpus_covers_both_routes_and_matches_its_files() -> None:
    assert {entry["route"] for entry in CORPUS} == {EVENTS_ROUTE, CREATE_ROUTE}
    assert len({entry["name"] for entry in CORPUS}) == len(CORPUS)
    on_disk = {p.name for p in (FUZZ / "corpus").iterdir()}
    assert on_disk == {entry["file"].removeprefix("corpus/") for entry in CORPUS}


def check_entry(client: Any, aws: Any, deliver: Callable[[], int], entry: dict[str, Any]) -> None:
    """Post one entry to a fresh recording and check its answer and what it left behind.

    Counts are the stream consumer's: it runs before they are read.
    """
    recording_id = create_recording(client)
    creates = entry["route"] == CREATE_ROUTE
    recordings_before = set(listed_ids(client)) if creates else set()
    tail = StreamTail(aws)
    response = send(client, entry, recording_id, body_of(entry))

    assert response.status_code == entry["status"], response.body[:300]
    assert response.headers["Content-Type"].startswith("application/json")
    answer = json.loads(response.body)
    if entry["code"] is not None:
        assert set(answer) == {"error"}, answer
        assert answer["error"]["code"] == entry["code"], answer
        assert isinstance(answer["error"]["message"], str)
        assert answer["error"]["message"]
        # Refused: nothing written, nothing counted, nothing created.
        assert tail.records() == []
        deliver()
        assert client.get(f"/recordings/{recording_id}").json_body["eventCount"] == 0
        if creates:
            assert set(listed_ids(client)) == recordings_before
    elif not creates:
        assert answer["recording"] == recording_id
        assert answer["events"] >= 1
        assert tail.records() != []
        deliver()
        assert client.get(f"/recordings/{recording_id}").json_body["eventCount"] == answer["events"]
    else:
        assert set(listed_ids(client)) == recordings_before | {answer["recording"]["id"]}

    # The service keeps serving: a good batch is still taken.
    good = client.post(
        f"/recordings/{recording_id}/events", body=GOOD_BATCH, headers={"Content-Type": "application/json"}
    )
    assert good.status_code == 202, good.body


def test_every_corpus_entry_gets_exactly_its_answer(client: Any, aws: Any, deliver: Callable[[], int]) -> None:
    """All entries against one app and one AWS: each must also leave the service working.

    One AWS for all (not one per entry) keeps the module fast; "nothing left behind" is
    then measured as no new record in the stream and no new recording. The create
    route's entries go first: each lists the owner's recordings twice, and every entry
    adds one.
    """
    failures: dict[str, str] = {}
    for entry in sorted(CORPUS, key=lambda entry: entry["route"] != CREATE_ROUTE):
        try:
            check_entry(client, aws, deliver, entry)
        except AssertionError as exc:
            failures[entry["name"]] = str(exc).splitlines()[0][:300]
    assert not failures, json.dumps(failures, indent=1)


def test_every_corpus_entry_is_answered_in_bounded_memory(client: Any, aws: Any) -> None:
    """Peak memory (tracemalloc) of each request stays under 64 MB, bombs included."""
    peaks: dict[str, int] = {}
    tracemalloc.start()
    try:
        for entry in CORPUS:
            recording_id = create_recording(client)
            body = body_of(entry)
            tracemalloc.reset_peak()
            before, _ = tracemalloc.get_traced_memory()
            response = send(client, entry, recording_id, body)
            _, peak = tracemalloc.get_traced_memory()
            assert response.status_code == entry["status"], (entry["name"], response.body[:300])
            peaks[entry["name"]] = peak - before
            del body, response
    finally:
        tracemalloc.stop()
    over = {name: peak for name, peak in peaks.items() if peak >= MEMORY_LIMIT}
    assert not over, over
