"""Large first batches: any batch within the documented limits is taken by both routes, one byte over is a 413.

The limits are 4 MiB as sent (``MAX_BODY_BYTES``) and 16 MiB inflated (``MAX_BATCH_BYTES``).
A long page's first batch is one full snapshot of several MB that gzip shrinks about
tenfold: the create that carries it, and a batch posted later, must both be stored.
"""

from __future__ import annotations

import gzip
import json
import random
from typing import Any

import pytest

from chalicelib import settings
from chalicelib.ingest import EventWriter
from tests.functional.test_events import use_writer
from tests.support.events import stream_records
from tests.support.http import read_events
from tests.support.in_process import NAMES

# Made-up words of two or three syllables: text with a natural language's redundancy.
_SYLLABLES = ("ka", "lo", "mi", "ne", "ru", "sa", "te", "vo", "pi", "da", "fe", "gu", "ho", "ji")
WORDS = [a + b for a in _SYLLABLES for b in _SYLLABLES] + [
    a + b + c for a, b, c in zip(_SYLLABLES * 3, _SYLLABLES[3:] * 4, _SYLLABLES[5:] * 5, strict=False)
]


def full_snapshot(size: int, *, seed: int = 1) -> dict[str, Any]:
    """An rrweb full snapshot (type 2) of about ``size`` JSON bytes, shaped like a long article page.

    Sections of paragraphs with the same classes and styles over and over, and text
    drawn from a few hundred sentences: it compresses about as a real page does.
    """
    rng = random.Random(seed)
    sentences = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 20))).capitalize() + "." for _ in range(170)]
    sections: list[dict[str, Any]] = []
    length, next_id = 0, 3
    while length < size:
        paragraphs = []
        for _ in range(rng.randint(2, 6)):
            text = " ".join(rng.choice(sentences) for _ in range(rng.randint(1, 4)))
            paragraphs.append(
                {
                    "type": 2,
                    "tagName": "p",
                    "attributes": {
                        "class": "article-body__text",
                        "style": "margin: 0 0 1em; line-height: 1.5; color: rgb(34, 34, 34);",
                    },
                    "childNodes": [{"type": 3, "textContent": text, "id": next_id + 1}],
                    "id": next_id,
                }
            )
            next_id += 2
        section = {
            "type": 2,
            "tagName": "section",
            "attributes": {"class": f"article-section section-{len(sections) % 12}"},
            "childNodes": paragraphs,
            "id": next_id,
        }
        next_id += 1
        sections.append(section)
        length += len(json.dumps(section))
    html = {"type": 2, "tagName": "html", "attributes": {}, "childNodes": sections, "id": 2}
    return {
        "type": 2,
        "timestamp": 1_700_000_000_000,
        "data": {"node": {"type": 0, "childNodes": [html], "id": 1}, "initialOffset": {"top": 0, "left": 0}},
    }


def padded(body: dict[str, Any], size: int) -> bytes:
    """``body`` as JSON of exactly ``size`` bytes: its single event's ``data.pad`` string fills the rest."""
    body = json.loads(json.dumps(body))
    body["events"][0].setdefault("data", {})["pad"] = ""
    bare = len(json.dumps(body, separators=(",", ":")).encode())
    body["events"][0]["data"]["pad"] = "x" * (size - bare)
    encoded = json.dumps(body, separators=(",", ":")).encode()
    assert len(encoded) == size
    return encoded


def listed_ids_of(client: Any) -> list[str]:
    return [recording["id"] for recording in client.get("/recordings").json_body["recordings"]]


TEXT = {"Content-Type": "text/plain"}  # what the recorder sends: gzip recognised by its magic bytes
JSON = {"Content-Type": "application/json"}


def create(client: Any, body: bytes, headers: dict[str, str]) -> Any:
    return client.post("/recordings", body=body, headers=headers)


def post_events(client: Any, recording_id: str, body: bytes, headers: dict[str, str]) -> Any:
    return client.post(f"/recordings/{recording_id}/events", body=body, headers=headers)


def test_a_long_pages_first_batch_is_taken_by_the_create_and_by_the_events_route(client: Any, deliver: Any) -> None:
    snapshot = full_snapshot(7_000_000)
    first = {"id": "long-page-0001", "url": "https://news.example/long", "title": "Long", "seq": 0}
    body = gzip.compress(json.dumps({**first, "events": [snapshot]}).encode(), compresslevel=6)
    inflated = len(json.dumps({**first, "events": [snapshot]}).encode())
    # The shape seen in the field: ~600 KB on the wire, ~7 MB once inflated.
    assert 500_000 < len(body) < 800_000
    assert 6_500_000 < inflated < 8_000_000
    created = create(client, body, TEXT)
    assert created.status_code == 201, created.body
    assert created.json_body["firstBatch"]["events"] == 1

    later = {**snapshot, "timestamp": snapshot["timestamp"] + 1}
    again = gzip.compress(json.dumps({"seq": 1, "events": [later]}).encode(), compresslevel=6)
    accepted = post_events(client, "long-page-0001", again, TEXT)
    assert accepted.status_code == 202, accepted.body
    deliver()
    assert read_events(client, "long-page-0001") == [snapshot, later]
    counted = client.get("/recordings/long-page-0001").json_body
    assert (counted["eventCount"], counted["batches"]) == (2, 2)


@pytest.mark.parametrize("route", ["create", "events"])
def test_a_plain_body_of_exactly_the_wire_limit_is_taken_and_one_byte_more_is_413(
    client: Any, aws: Any, deliver: Any, route: str
) -> None:
    recording_id = "wire-limit-0001"
    if route == "events":
        assert create(client, json.dumps({"id": recording_id}).encode(), JSON).status_code == 201
    event = {"type": 2, "timestamp": 1}
    base: dict[str, Any] = {"seq": 0, "events": [event]}
    if route == "create":
        base = {"id": recording_id, **base}
    send = create if route == "create" else lambda c, b, h: post_events(c, recording_id, b, h)

    over = send(client, padded(base, settings.MAX_BODY_BYTES + 1), JSON)
    assert over.status_code == 413
    assert over.json_body["error"] == {
        "code": "body_too_large",
        "message": f"request body exceeds {settings.MAX_BODY_BYTES} bytes",
    }
    assert stream_records(aws) == []
    if route == "create":
        assert listed_ids_of(client) == []  # nothing was created either

    at_limit = send(client, padded(base, settings.MAX_BODY_BYTES), JSON)
    assert at_limit.status_code in (201, 202), at_limit.body
    deliver()
    (stored,) = read_events(client, recording_id)
    assert len(stored["data"]["pad"]) > settings.MAX_BODY_BYTES - 200


@pytest.mark.parametrize("route", ["create", "events"])
def test_a_gzip_body_inflating_to_exactly_the_batch_limit_is_taken_and_one_byte_more_is_413(
    client: Any, aws: Any, deliver: Any, route: str
) -> None:
    recording_id = "inflate-limit-1"
    if route == "events":
        assert create(client, json.dumps({"id": recording_id}).encode(), JSON).status_code == 201
    base: dict[str, Any] = {"seq": 0, "events": [{"type": 2, "timestamp": 1}]}
    if route == "create":
        base = {"id": recording_id, **base}
    send = create if route == "create" else lambda c, b, h: post_events(c, recording_id, b, h)

    over = gzip.compress(padded(base, settings.MAX_BATCH_BYTES + 1))
    assert len(over) < settings.MAX_BODY_BYTES  # within the wire limit: only the inflated size is over
    refused = send(client, over, TEXT)
    assert refused.status_code == 413
    assert refused.json_body["error"] == {
        "code": "batch_too_large",
        "message": f"inflated body exceeds {settings.MAX_BATCH_BYTES} bytes",
    }
    assert stream_records(aws) == []
    if route == "create":
        assert listed_ids_of(client) == []

    taken = send(client, gzip.compress(padded(base, settings.MAX_BATCH_BYTES)), TEXT)
    assert taken.status_code in (201, 202), taken.body
    deliver()
    (stored,) = read_events(client, recording_id)
    assert len(stored["data"]["pad"]) > settings.MAX_BATCH_BYTES - 200


class OneShardKinesis:
    """moto's Kinesis behind one shard's write limit: 1 MiB a second, the rest refused (ProvisionedThroughputExceeded).

    Time is the writer's own: it advances only when the writer sleeps.
    """

    def __init__(self, real: Any) -> None:
        self.real = real
        self.now = 0.0
        self.calls = 0
        self._window = -1
        self._used = 0

    def sleep(self, seconds: float) -> None:
        self.now += seconds

    def put_records(self, *, StreamName: str, Records: list[dict[str, Any]]) -> dict[str, Any]:  # noqa: N803
        self.calls += 1
        if int(self.now) != self._window:
            self._window, self._used = int(self.now), 0
        outcomes: list[dict[str, Any] | None] = []
        taken = []
        for record in Records:
            size = len(record["Data"]) + len(record["PartitionKey"])
            if self._used + size <= 1024 * 1024:
                self._used += size
                taken.append(record)
                outcomes.append(None)
            else:
                outcomes.append({"ErrorCode": "ProvisionedThroughputExceededException", "ErrorMessage": "slow down"})
        written = iter(self.real.put_records(StreamName=StreamName, Records=taken)["Records"] if taken else [])
        return {
            "FailedRecordCount": sum(outcome is not None for outcome in outcomes),
            "Records": [outcome or next(written) for outcome in outcomes],
        }


def test_a_batch_at_the_wire_limit_is_written_into_one_shard_over_several_seconds(
    client: Any, aws: Any, deliver: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The recording's records share its partition key, so one shard (1 MB/s) takes them
    # all: a 4 MiB gzip body is six records, about six seconds of that shard. The writer
    # keeps going while each attempt gets some in, instead of answering 503 after a
    # second (a retry would then send the same records again, and never get further).
    shard = OneShardKinesis(aws.client("kinesis"))
    use_writer(monkeypatch, EventWriter(kinesis=shard, stream=NAMES.stream, sleep=shard.sleep, clock=lambda: shard.now))
    noise = random.Random(9).randbytes(3_500_000).hex()[:7_100_000]  # hex digits: gzip halves them, no more
    event = {"type": 2, "timestamp": 1, "data": {"blob": noise}}
    body = gzip.compress(json.dumps({"id": "one-shard-0001", "seq": 0, "events": [event]}).encode(), compresslevel=1)
    assert settings.MAX_BODY_BYTES - 300_000 < len(body) <= settings.MAX_BODY_BYTES
    created = create(client, body, TEXT)
    assert created.status_code == 201, created.body
    assert shard.calls >= 5
    assert 4 <= shard.now <= 15
    deliver()
    assert read_events(client, "one-shard-0001") == [event]


def test_a_stream_that_takes_nothing_is_still_a_503_within_a_second(
    client: Any, aws: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    slept: list[float] = []

    class Refusing:
        def put_records(self, *, StreamName: str, Records: list[dict[str, Any]]) -> dict[str, Any]:  # noqa: N803
            del StreamName
            error = {"ErrorCode": "InternalFailure", "ErrorMessage": "down"}
            return {"FailedRecordCount": len(Records), "Records": [error for _ in Records]}

    use_writer(monkeypatch, EventWriter(kinesis=Refusing(), stream=NAMES.stream, sleep=slept.append))
    refused = create(client, json.dumps({"seq": 0, "events": [{"type": 4, "timestamp": 1}]}).encode(), JSON)
    assert refused.status_code == 503
    assert refused.headers["Retry-After"] == "1"
    assert len(slept) == 3
    assert sum(slept) < 1
