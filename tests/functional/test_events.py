"""Event routes: ingest into Kinesis and read back from S3."""

from __future__ import annotations

import base64
import dataclasses
import gzip
import json
import os
import random
import threading
import time
from typing import Any

import orjson
import pytest

import app as app_module
from chalicelib import records, settings
from chalicelib.aws import get_services
from chalicelib.ingest import EventWriter
from tests.support import rrweb_stream
from tests.support.events import stream_records
from tests.support.http import create_recording, post_gzip, post_json, read_events
from tests.support.in_process import NAMES


def events_path(recording_id: str) -> str:
    return f"/recordings/{recording_id}/events"


def test_batches_read_back_exactly_in_seq_order(client: Any, deliver: Any) -> None:
    recording_id = create_recording(client)
    stream = rrweb_stream.session(sections=10, incremental=600)
    batches = list(enumerate(rrweb_stream.batches(stream, 40)))
    random.Random(3).shuffle(batches)  # retries and parallel tabs reorder arrivals
    for position, (seq, events) in enumerate(batches):
        post = post_gzip if position % 2 else post_json
        response = post(client, events_path(recording_id), {"seq": seq, "events": events})
        assert response.status_code == 202, response.body
        if position % 5 == 0:
            deliver()  # chunks land in several objects, as Firehose's buffers would
    deliver()
    assert read_events(client, recording_id) == stream


def test_repeated_seq_is_acknowledged_read_once_and_counted_once(
    client: Any, deliver: Any, aws: Any, owner: str
) -> None:
    recording_id = create_recording(client)
    batch = {"seq": 1, "events": [{"type": 4, "timestamp": 10}, {"type": 3, "timestamp": 20}]}
    first = post_gzip(client, events_path(recording_id), batch)
    deliver()
    # A retry after a lost answer: acknowledged the same way, and on the stream again (a
    # POST writes nothing to DynamoDB, so nothing there remembers the seq).
    again = post_gzip(client, events_path(recording_id), batch)
    assert (first.status_code, again.status_code) == (202, 202)
    assert first.json_body == again.json_body
    assert len(stream_records(aws)) == 2
    deliver()
    assert read_events(client, recording_id) == batch["events"]
    # Counted in two invocations, the running count takes it twice; compaction, once.
    assert client.get(f"/recordings/{recording_id}").json_body["eventCount"] == 4
    assert get_services().compactor.compact(owner, recording_id).outcome == "compacted"
    assert client.get(f"/recordings/{recording_id}").json_body["eventCount"] == 2
    assert read_events(client, recording_id) == batch["events"]


def test_records_delivered_twice_are_returned_once(client: Any, deliver: Any, owner: str) -> None:
    recording_id = create_recording(client)
    batch = {"seq": 0, "events": [{"type": 4, "timestamp": 10}]}
    post_gzip(client, events_path(recording_id), batch)
    deliver()
    # At-least-once delivery: the same ingest record reaches S3 in a second object.
    get_services().writer.put(
        records.build_records(
            owner=owner,
            recording=recording_id,
            seq=0,
            payload=gzip.compress(json.dumps(batch).encode()),
            received=1,
            events=1,
        ),
        partition_key=recording_id,
    )
    deliver()
    assert read_events(client, recording_id) == batch["events"]


def test_event_far_above_one_record_is_split_into_parts_and_stored_whole(client: Any, deliver: Any, aws: Any) -> None:
    recording_id = create_recording(client)
    # A full snapshot with an inlined image: 1.6 MB that does not compress away.
    image = base64.b64encode(random.Random(5).randbytes(1_200_000)).decode()
    snapshot = {
        "type": 2,
        "timestamp": 5,
        "data": {"node": {"type": 0, "id": 1, "src": f"data:image/png;base64,{image}"}},
    }
    response = post_gzip(client, events_path(recording_id), {"seq": 0, "events": [snapshot]})
    assert response.status_code == 202, response.body
    written = stream_records(aws)
    assert len(written) >= 2
    assert all(len(data) + len(recording_id) <= 1024 * 1024 for data in written)
    assert {orjson.loads(data)["parts"] for data in written} == {len(written)}
    deliver()
    assert read_events(client, recording_id) == [snapshot]


def test_metadata_tracks_count_bytes_and_time_span_with_out_of_order_batches(client: Any, deliver: Any) -> None:
    recording_id = create_recording(client)
    # Counted by the stream consumer: each batch in an invocation of its own, the last
    # two in one.
    post_json(client, events_path(recording_id), {"seq": 2, "events": [{"type": 3, "timestamp": 500}]})
    deliver()
    post_json(client, events_path(recording_id), {"seq": 3, "events": [{"type": 3, "timestamp": 900}]})
    post_json(client, events_path(recording_id), {"seq": 1, "events": [{"type": 4, "timestamp": 100}] * 3})
    deliver()
    deliver()
    body = client.get(f"/recordings/{recording_id}").json_body
    assert (body["eventCount"], body["batches"]) == (5, 3)
    assert (body["firstEventAt"], body["lastEventAt"], body["durationMs"]) == (100, 900, 800)


class FlakyKinesis:
    """Real (moto) Kinesis behind a gate that refuses some records, as a throttled shard does."""

    def __init__(self, real: Any, refuse: Any) -> None:
        self.real = real
        self.refuse = refuse
        self.calls = 0

    def put_records(self, *, StreamName: str, Records: list[dict[str, Any]]) -> dict[str, Any]:  # noqa: N803
        self.calls += 1
        refused = {i for i in range(len(Records)) if self.refuse(self.calls, i)}
        accepted = [r for i, r in enumerate(Records) if i not in refused]
        results = iter(self.real.put_records(StreamName=StreamName, Records=accepted)["Records"] if accepted else [])
        out = [
            {"ErrorCode": "ProvisionedThroughputExceededException", "ErrorMessage": "slow down"}
            if i in refused
            else next(results)
            for i in range(len(Records))
        ]
        return {"FailedRecordCount": len(refused), "Records": out}


def use_writer(monkeypatch: pytest.MonkeyPatch, writer: EventWriter) -> None:
    """Serve the app with the given event writer (everything else as configured)."""
    current = get_services()
    services = dataclasses.replace(current, writer=writer, ingest=dataclasses.replace(current.ingest, writer=writer))
    monkeypatch.setattr(app_module, "get_services", lambda: services)


def test_partial_put_failures_are_retried_until_every_part_is_stored(
    client: Any, deliver: Any, aws: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    recording_id = create_recording(client)
    flaky = FlakyKinesis(aws.client("kinesis"), refuse=lambda call, i: call == 1 and i % 2 == 0)
    use_writer(monkeypatch, EventWriter(kinesis=flaky, stream=NAMES.stream, sleep=lambda _: None))
    big = {"type": 2, "timestamp": 1, "data": {"blob": base64.b64encode(os.urandom(2_000_000)).decode()}}
    response = post_gzip(client, events_path(recording_id), {"seq": 0, "events": [big]})
    assert response.status_code == 202
    assert flaky.calls == 2
    deliver()
    assert read_events(client, recording_id) == [big]


def test_kinesis_refusing_answers_503_with_retry_after_and_counts_nothing(
    client: Any, deliver: Any, aws: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    recording_id = create_recording(client)
    refusing = FlakyKinesis(aws.client("kinesis"), refuse=lambda call, i: True)
    use_writer(monkeypatch, EventWriter(kinesis=refusing, stream=NAMES.stream, sleep=lambda _: None))
    batch = {"seq": 0, "events": [{"type": 4, "timestamp": 1}]}
    response = post_gzip(client, events_path(recording_id), batch)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
    assert response.json_body["error"]["code"] == "unavailable"
    assert client.get(f"/recordings/{recording_id}").json_body["eventCount"] == 0
    use_writer(monkeypatch, get_services().writer)  # the stack's own writer: the stream takes records again
    assert post_gzip(client, events_path(recording_id), batch).status_code == 202
    deliver()
    assert read_events(client, recording_id) == batch["events"]


def test_recording_above_6mb_reads_completely_in_pages_under_the_cap(client: Any, deliver: Any) -> None:
    recording_id = create_recording(client)
    stream = rrweb_stream.session(sections=60, incremental=2000, pages=5)
    assert len(json.dumps(stream)) > 6 * 1024 * 1024
    for seq, batch in enumerate(rrweb_stream.batches(stream, 500)):
        assert post_gzip(client, events_path(recording_id), {"seq": seq, "events": batch}).status_code == 202
    deliver()
    for gzip_ok in (False, True):
        sizes: list[int] = []
        events: list[Any] = []
        cursor = None
        while True:
            headers = {"Accept": "application/x-ndjson", **({"Accept-Encoding": "gzip"} if gzip_ok else {})}
            response = client.get(events_path(recording_id) + (f"?after={cursor}" if cursor else ""), headers=headers)
            sizes.append(len(response.body))
            body = gzip.decompress(response.body) if gzip_ok else response.body
            assert response.headers.get("Content-Encoding") == ("gzip" if gzip_ok else None)
            page = [json.loads(line) for line in body.splitlines()]
            assert int(response.headers["X-Event-Count"]) == len(page)
            events += page
            cursor = response.headers.get("X-Next-Cursor")
            if not cursor:
                break
        assert events == stream
        assert max(sizes) <= settings.MAX_PAGE_BYTES
        if not gzip_ok:
            assert len(sizes) >= 3


def test_event_larger_than_a_plain_page_needs_gzip(client: Any, deliver: Any) -> None:
    recording_id = create_recording(client)
    huge = {"type": 2, "timestamp": 1, "data": {"text": "lorem ipsum " * 400_000}}
    assert post_gzip(client, events_path(recording_id), {"seq": 0, "events": [huge]}).status_code == 202
    deliver()
    plain = client.get(events_path(recording_id), headers={"Accept": "*/*"})
    assert plain.status_code == 406
    assert plain.json_body["error"]["code"] == "gzip_required"
    assert read_events(client, recording_id) == [huge]


def test_reader_fetches_chunk_objects_concurrently(client: Any, deliver: Any) -> None:
    recording_id = create_recording(client)
    for seq in range(12):
        post_json(client, events_path(recording_id), {"seq": seq, "events": [{"type": 3, "timestamp": seq + 1}]})
        deliver()
    in_flight = 0
    peak = 0
    lock = threading.Lock()

    def enter(**_: Any) -> None:
        nonlocal in_flight, peak
        with lock:
            in_flight += 1
            peak = max(peak, in_flight)
        time.sleep(0.02)  # a first-byte latency, so overlapping requests can be seen

    def leave(**_: Any) -> None:
        nonlocal in_flight
        with lock:
            in_flight -= 1

    events = get_services().s3.meta.events  # the reader's client
    events.register("before-call.s3.GetObject", enter)
    events.register("after-call.s3.GetObject", leave)
    assert [e["timestamp"] for e in read_events(client, recording_id)] == list(range(1, 13))
    assert peak > 1


def test_events_of_unknown_recording_are_404(client: Any) -> None:
    assert (
        post_json(
            client, events_path("nosuchrecording"), {"seq": 0, "events": [{"type": 4, "timestamp": 1}]}
        ).status_code
        == 404
    )
    assert client.get(events_path("nosuchrecording"), headers={"Accept": "*/*"}).status_code == 404


def test_later_pages_list_again_but_do_not_refetch_chunks(client: Any, deliver: Any) -> None:
    recording_id = create_recording(client)
    stream = rrweb_stream.session(sections=60, incremental=2000, pages=3)
    for seq, events in enumerate(rrweb_stream.batches(stream, 300)):
        post_gzip(client, events_path(recording_id), {"seq": seq, "events": events})
        deliver()
    calls: list[str] = []
    get_services().s3.meta.events.register("before-call.s3", lambda model, **_: calls.append(model.name))
    get_services().events.cache.clear()
    assert read_events(client, recording_id, gzip_ok=False) == stream
    gets = calls.count("GetObject")
    lists = calls.count("ListObjectsV2")
    assert gets == len(rrweb_stream.batches(stream, 300))  # each chunk fetched once across all pages
    assert lists >= 2  # more than one page, each listing afresh (new chunks may have landed)


def test_gzip_is_recognised_by_its_magic_in_a_cors_simple_request(client: Any, anonymous: Any, deliver: Any) -> None:
    key = client.post("/keys", body=b"{}", headers={"Content-Type": "application/json"}).json_body["key"]
    recording_id = create_recording(client)
    batch = {"seq": 0, "events": [{"type": 4, "timestamp": 1}, {"type": 3, "timestamp": 2}]}
    response = anonymous.post(
        f"{events_path(recording_id)}?ingestKey={key}",
        body=gzip.compress(json.dumps(batch).encode()),
        headers={"Content-Type": "text/plain"},
    )
    assert response.status_code == 202, response.body
    deliver()
    assert read_events(client, recording_id) == batch["events"]


def test_create_may_carry_the_first_batch(client: Any, deliver: Any) -> None:
    body = {"id": "first-batch-01", "url": "https://a.test/", "seq": 0, "events": [{"type": 4, "timestamp": 7}]}
    response = client.post(
        "/recordings", body=gzip.compress(json.dumps(body).encode()), headers={"Content-Type": "text/plain"}
    )
    assert response.status_code == 201, response.body
    assert response.json_body["firstBatch"]["events"] == 1
    assert response.json_body["recording"]["url"] == "https://a.test/"
    # A retried create finds the recording (200) and sends the batch again, read once.
    again = client.post("/recordings", body=json.dumps(body), headers={"Content-Type": "application/json"})
    assert again.status_code == 200
    assert again.json_body["firstBatch"] == response.json_body["firstBatch"]
    deliver()
    assert read_events(client, "first-batch-01") == body["events"]
    # Both copies arrived in one invocation: counted once.
    assert client.get("/recordings/first-batch-01").json_body["eventCount"] == 1


def test_a_bad_first_batch_creates_no_recording(client: Any, aws: Any) -> None:
    body = {"id": "first-batch-02", "seq": 0, "events": [{"type": "four"}]}
    response = client.post("/recordings", body=json.dumps(body), headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json_body["error"]["code"] == "invalid_event"
    assert client.get("/recordings").json_body["recordings"] == []
    assert stream_records(aws) == []


def test_lone_surrogate_escapes_are_stored_as_sent_and_read_as_replacement_characters(
    client: Any, deliver: Any, aws: Any
) -> None:
    """Text cut inside an emoji (a lone UTF-16 half, as browsers' JSON.stringify writes it) reads back as U+FFFD."""
    recording_id = create_recording(client, title="Cart \ud83d", seq=0, events=[{"type": 4, "timestamp": 5}])
    assert client.get(f"/recordings/{recording_id}").json_body["title"] == "Cart \ufffd"
    data = {"cut": "typed \ud83d", "low": "\ude00 first", "pair": "\U0001f600", "text": "\\ud800 is text"}
    body = gzip.compress(json.dumps({"seq": 1, "events": [{"type": 3, "timestamp": 10, "data": data}]}).encode())
    sent = client.post(
        events_path(recording_id),
        body=body,
        headers={"Content-Type": "application/octet-stream", "Content-Encoding": "gzip"},
    )
    assert sent.status_code == 202, sent.body
    # The client's own gzip goes on the stream: nothing is inflated, repaired and compressed again.
    payloads = [records.decode_record(line).data for line in stream_records(aws)]
    assert body in payloads
    deliver()
    expected = {"cut": "typed \ufffd", "low": "\ufffd first", "pair": "\U0001f600", "text": "\\ud800 is text"}
    assert read_events(client, recording_id) == [
        {"type": 4, "timestamp": 5},
        {"type": 3, "timestamp": 10, "data": expected},
    ]
