"""Following a recording live, and reading a compacted one straight from S3.

Someone watching (``GET .../events?watch=1``) makes the recorder flush every 2 s (the
202 says ``"live": true``); the follower pages on from ``X-Tail-Cursor``. A compacted
recording's events come as presigned byte ranges (``GET .../blocks``), then ``/events``
from the cursor ``after`` for anything newer.
"""

from __future__ import annotations

import json
import urllib.parse
import zlib
from typing import Any

import pytest

from chalicelib import records, settings
from chalicelib.aws import get_services
from chalicelib.settings import get_settings
from tests.functional.test_compaction import expected_lines, send
from tests.functional.test_consumer import batch, only_shard
from tests.support.accounts import make_user
from tests.support.http import create_recording, post_json, read_events
from tests.support.in_process import NAMES


def events_path(recording_id: str, query: str = "") -> str:
    return f"/recordings/{recording_id}/events" + (f"?{query}" if query else "")


def get_events(client: Any, recording_id: str, query: str = "") -> Any:
    response = client.get(events_path(recording_id, query), headers={"Accept": "*/*"})
    assert response.status_code == 200, response.body
    return response


def post(client: Any, recording_id: str, seq: int) -> dict[str, Any]:
    response = post_json(client, events_path(recording_id), batch(seq))
    assert response.status_code == 202, response.body
    return response.json_body


def test_watching_makes_the_next_batches_say_live(client: Any, owner: str, monkeypatch: pytest.MonkeyPatch) -> None:
    recording_id = create_recording(client)
    assert post(client, recording_id, 0)["live"] is False
    get_events(client, recording_id)
    get_events(client, recording_id, "watch=0")
    assert post(client, recording_id, 1)["live"] is False  # reading is not watching

    get_events(client, recording_id, "watch=1")
    assert post(client, recording_id, 2)["live"] is True
    assert post(client, recording_id, 2)["live"] is True  # a retry of a stored seq too
    # Nobody renewed the watch for WATCH_SECONDS: back to the recorder's own pace.
    item = get_services().metadata.get(owner, recording_id)
    assert item is not None
    until = int(item["watchedUntil"])
    monkeypatch.setattr("chalicelib.ingest.now_ms", lambda: until + 1)
    assert post(client, recording_id, 3)["live"] is False


def test_a_create_carrying_a_batch_says_live_when_its_id_is_watched(client: Any) -> None:
    body = {"id": "watched-rec-01", "seq": 0, "events": batch(0)["events"]}
    first = post_json(client, "/recordings", body)
    assert first.status_code == 201
    assert first.json_body["firstBatch"]["live"] is False
    get_events(client, "watched-rec-01", "watch=1")
    again = post_json(client, "/recordings", {**body, "seq": 1})  # the recorder's retried start
    assert again.status_code == 200
    assert again.json_body["firstBatch"]["live"] is True


@pytest.mark.parametrize("value", ["2", "yes", ""])
def test_watch_is_1_or_0(client: Any, value: str) -> None:
    recording_id = create_recording(client)
    response = client.get(events_path(recording_id, f"watch={value}"), headers={"Accept": "*/*"})
    assert response.status_code == 400
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json_body["error"]["code"] == "invalid_parameter"


def test_watching_someone_elses_recording_is_404_and_marks_nothing(client: Any, aws: Any, owner: str) -> None:
    recording_id = create_recording(client)
    stranger = client.acting_as(make_user(aws, "stranger@example.com").headers)
    assert stranger.get(events_path(recording_id, "watch=1"), headers={"Accept": "*/*"}).status_code == 404
    item = get_services().metadata.get(owner, recording_id)
    assert item is not None
    assert "watchedUntil" not in item


def lines(response: Any) -> list[dict[str, Any]]:
    return [json.loads(line) for line in response.body.splitlines()]


def test_the_tail_cursor_gives_a_follower_only_what_is_new(client: Any, deliver: Any) -> None:
    recording_id = create_recording(client)
    send(client, recording_id, 0, 1, deliver=deliver)
    first = get_events(client, recording_id, "watch=1")
    assert lines(first) == batch(0)["events"] + batch(1)["events"]
    assert "X-Next-Cursor" not in first.headers
    tail = first.headers["X-Tail-Cursor"]

    nothing = get_events(client, recording_id, f"after={tail}")
    assert (nothing.body, nothing.headers["X-Event-Count"]) == (b"", "0")
    assert nothing.headers["X-Tail-Cursor"] == tail  # nothing new: ask again from the same place

    send(client, recording_id, 2, 3, deliver=deliver)
    newer = get_events(client, recording_id, f"after={tail}")
    assert lines(newer) == batch(2)["events"] + batch(3)["events"]
    assert lines(get_events(client, recording_id, f"after={newer.headers['X-Tail-Cursor']}")) == []


def test_the_tail_cursor_of_an_empty_recording_reads_its_first_events(client: Any, deliver: Any) -> None:
    recording_id = create_recording(client)
    empty = get_events(client, recording_id, "watch=1")
    assert empty.body == b""
    send(client, recording_id, 0, deliver=deliver)
    assert lines(get_events(client, recording_id, f"after={empty.headers['X-Tail-Cursor']}")) == batch(0)["events"]


def test_a_recording_is_live_from_its_creation_and_not_once_idle(
    client: Any, owner: str, monkeypatch: pytest.MonkeyPatch, deliver: Any
) -> None:
    recording_id = create_recording(client)
    # Being recorded from its creation, before its first events are stored.
    assert client.get(f"/recordings/{recording_id}").json_body["live"] is True
    post(client, recording_id, 0)
    deliver()  # its events counted: live for another LIVE_IDLE_MS from now
    described = client.get(f"/recordings/{recording_id}").json_body
    assert described["live"] is True
    updated = int(described["updatedAt"])
    # Quiet for a minute past the unwatched consumer's window (the stack's default: 1 s).
    quiet = settings.LIVE_IDLE_MS + get_settings().unwatched_window_seconds * 1000
    monkeypatch.setattr("chalicelib.recordings.now_ms", lambda: updated + quiet - 1)
    assert client.get(f"/recordings/{recording_id}").json_body["live"] is True
    monkeypatch.setattr("chalicelib.recordings.now_ms", lambda: updated + quiet)
    assert client.get(f"/recordings/{recording_id}").json_body["live"] is False
    listed = client.get("/recordings").json_body["recordings"]
    assert [(r["id"], r["live"], r["compacted"]) for r in listed] == [(recording_id, False, False)]


def blocks(client: Any, recording_id: str) -> dict[str, Any]:
    response = client.get(f"/recordings/{recording_id}/blocks")
    assert response.status_code == 200, response.body
    return response.json_body


def fetch_range(aws: Any, url_text: str, block: dict[str, Any]) -> bytes:
    """A block's bytes, fetched as the replay page does: the answer's presigned object, by range."""
    url = urllib.parse.urlsplit(url_text)
    path = urllib.parse.unquote(url.path.lstrip("/"))
    key = path if url.netloc.startswith(NAMES.bucket + ".") else path.split("/", 1)[1]
    return aws.client("s3").get_object(Bucket=NAMES.bucket, Key=key, Range=block["range"])["Body"].read()


def test_blocks_of_someone_elses_recording_are_404(client: Any, aws: Any, deliver: Any, owner: str) -> None:
    recording_id = create_recording(client)
    send(client, recording_id, 0, deliver=deliver)
    get_services().compactor.compact(owner, recording_id)
    stranger = client.acting_as(make_user(aws, "stranger@example.com").headers)
    response = stranger.get(f"/recordings/{recording_id}/blocks")
    assert response.status_code == 404
    assert response.json_body["error"]["code"]
    assert client.get("/recordings/nosuchrecording/blocks").status_code == 404


def test_an_uncompacted_recording_has_no_blocks(client: Any, deliver: Any) -> None:
    recording_id = create_recording(client)
    send(client, recording_id, 0, 1, deliver=deliver)
    assert blocks(client, recording_id) == {"blocks": [], "next": None, "after": None, "complete": False}


def test_blocks_inflate_to_exactly_the_events_and_after_reads_only_newer_ones(
    client: Any, aws: Any, deliver: Any, owner: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    recording_id = create_recording(client)
    send(client, recording_id, 0, 1, 2, 3, deliver=deliver)
    # Small blocks, so there are several to fetch.
    monkeypatch.setattr(get_services().compactor, "block_bytes", 150)
    assert get_services().compactor.compact(owner, recording_id).outcome == "compacted"
    assert client.get(f"/recordings/{recording_id}").json_body["compacted"] is True
    send(client, recording_id, 4, deliver=deliver)

    found = blocks(client, recording_id)
    assert len(found["blocks"]) > 1
    assert found["events"] == 8
    assert found["expiresIn"] == settings.BLOCK_URL_SECONDS
    data = b""
    for block in found["blocks"]:
        member = zlib.decompress(fetch_range(aws, found["url"], block), wbits=31)  # each range inflates alone
        assert member.count(b"\n") == block["events"]
        data += member
    assert data == expected_lines(0, 1, 2, 3)
    newer = get_events(client, recording_id, f"after={found['after']}")
    assert lines(newer) == batch(4)["events"]


def test_a_late_batch_that_belongs_inside_the_compacted_events_turns_blocks_off(
    client: Any, deliver: Any, owner: str
) -> None:
    recording_id = create_recording(client)
    send(client, recording_id, 0, 1, 3, deliver=deliver)
    get_services().compactor.compact(owner, recording_id)
    send(client, recording_id, 2, deliver=deliver)  # a retried batch, arriving late
    # The blocks and then /events would put seq 2 after seq 3: /events alone is the ordered read.
    assert blocks(client, recording_id) == {"blocks": [], "next": None, "after": None, "complete": False}
    assert get_events(client, recording_id).body == expected_lines(0, 1, 2, 3)


def test_a_recording_its_recorder_ended_is_never_live(client: Any) -> None:
    recording_id = create_recording(client)
    post(client, recording_id, 0)
    assert client.get(f"/recordings/{recording_id}").json_body["live"] is True
    last = {"seq": 1, "end": True, "events": [{"type": 5, "timestamp": 5, "data": {"tag": "end", "payload": {}}}]}
    assert post_json(client, events_path(recording_id), last).status_code == 202
    described = client.get(f"/recordings/{recording_id}").json_body
    assert (described["live"], isinstance(described["endedAt"], int)) == (False, True)
    assert [entry["live"] for entry in client.get("/recordings").json_body["recordings"]] == [False]
    # A retried last batch keeps the first end.
    assert post_json(client, events_path(recording_id), last).status_code == 202
    assert client.get(f"/recordings/{recording_id}").json_body["endedAt"] == described["endedAt"]


def test_a_recording_whose_first_batch_is_its_last_is_created_ended(client: Any) -> None:
    body = {"seq": 0, "end": True, "events": [{"type": 4, "timestamp": 1, "data": {}}]}
    created = post_json(client, "/recordings", body)
    assert created.status_code == 201, created.json_body
    described = client.get(f"/recordings/{created.json_body['recording']['id']}").json_body
    assert described["live"] is False
    assert described["endedAt"] is not None


@pytest.mark.parametrize("end", ["yes", 1, None, {}])
def test_an_end_that_is_not_true_or_false_is_a_400(client: Any, end: Any) -> None:
    recording_id = create_recording(client)
    refused = post_json(
        client, events_path(recording_id), {"seq": 0, "end": end, "events": [{"type": 5, "timestamp": 1}]}
    )
    assert refused.status_code == 400, refused.json_body
    created = post_json(client, "/recordings", {"seq": 0, "end": end, "events": [{"type": 4, "timestamp": 1}]})
    if end is None:
        assert created.status_code == 201, "null is absent, as for the other optional fields"
    else:
        assert (created.status_code, created.json_body["error"]["code"]) == (400, "invalid_batch")


def test_only_a_watched_recordings_batches_that_ask_take_the_watched_consumer(
    client: Any, aws: Any, owner: str, deliver: Any
) -> None:
    recording_id = create_recording(client)
    for seq, live in ((0, True), (1, False)):
        # Nobody watches: asking changes nothing (a page cannot buy the fast path).
        assert post_json(client, events_path(recording_id), {**batch(seq), "live": live}).json_body["live"] is False
    get_events(client, recording_id, "watch=1")
    assert post(client, recording_id, 2)["live"] is True  # watched, but the recorder did not know yet
    for seq in (3, 4):
        response = post_json(client, events_path(recording_id), {**batch(seq), "live": True})
        assert response.status_code == 202, response.body
    marks = {}
    for record in only_shard(aws)[1]:
        part = records.decode_record(record["Data"], data=False)
        marks[part.seq] = part.live
        assert ("live" in json.loads(record["Data"])) is part.live, "only ever true, or absent"
    assert marks == {0: False, 1: False, 2: False, 3: True, 4: True}

    assert deliver() == 5
    item = get_services().metadata.get(owner, recording_id)
    assert item is not None
    # Each consumer keeps its own mark: neither skips the other's records.
    assert {"countedThrough", "countedThroughLive"} <= set(item)
    assert int(item["batchCount"]) == 5
    assert int(item["eventCount"]) == 10
    assert read_events(client, recording_id) == [event for seq in range(5) for event in batch(seq)["events"]]


def test_the_two_consumers_count_each_record_once_whichever_runs_first(client: Any, aws: Any, owner: str) -> None:
    import app as app_module
    from local.event_source import lambda_event

    recording_id = create_recording(client)
    post(client, recording_id, 0)
    get_events(client, recording_id, "watch=1")
    post_json(client, events_path(recording_id), {**batch(1), "live": True})
    post(client, recording_id, 2)  # did not ask: unwatched
    shard, found = only_shard(aws)
    live = [r for r in found if records.decode_record(r["Data"], data=False).live]
    unwatched = [r for r in found if r not in live]
    arn = aws.client("kinesis").describe_stream_summary(StreamName=NAMES.stream)["StreamDescriptionSummary"][
        "StreamARN"
    ]
    # The watched consumer runs first and sets its mark past the unwatched records' sequence numbers.
    assert app_module.consume_watched_events(lambda_event(live, shard=shard, stream_arn=arn), None) == {
        "batchItemFailures": []
    }
    for _ in range(2):  # a redelivery counts nothing twice
        app_module.consume_events(lambda_event(unwatched, shard=shard, stream_arn=arn), None)
        app_module.consume_watched_events(lambda_event(live, shard=shard, stream_arn=arn), None)
    item = get_services().metadata.get(owner, recording_id)
    assert item is not None
    assert (int(item["batchCount"]), int(item["eventCount"])) == (3, 6)
    assert int(item["firstEventAt"]) == batch(0)["events"][0]["timestamp"]
    assert int(item["lastEventAt"]) == batch(2)["events"][-1]["timestamp"]


def test_an_unwatched_window_keeps_a_recording_live_and_says_when_an_ended_one_settles(
    client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib import recordings as recordings_module
    from chalicelib.recordings import SETTLE_MARGIN_MS, Recordings

    now = 10_000_000
    monkeypatch.setattr(recordings_module, "now_ms", lambda: now)
    item = {"recordingId": "r1", "createdAt": now - 600_000, "updatedAt": now - 90_000}
    one_second = Recordings(table=get_services().metadata, s3=None, bucket="b")
    minute = Recordings(table=get_services().metadata, s3=None, bucket="b", unwatched_window_seconds=60)
    # Counted 90 s ago: quiet for a stack whose batches arrive within a second, not for one
    # whose unwatched consumer gathers a minute (its next chunk may be on its way).
    assert one_second.public("o", item)["live"] is False
    assert minute.public("o", item)["live"] is True
    assert minute.public("o", {**item, "updatedAt": now - settings.LIVE_IDLE_MS - 60_000})["live"] is False
    assert minute.public("o", item)["settlesAt"] is None
    ended = {**item, "endedAt": now - 5_000}
    assert minute.public("o", ended)["live"] is False
    assert minute.public("o", ended)["settlesAt"] == now - 5_000 + 60_000 + SETTLE_MARGIN_MS
    assert one_second.public("o", ended)["settlesAt"] == now - 5_000 + 1_000 + SETTLE_MARGIN_MS


@pytest.mark.parametrize("live", ["true", 1, None, {}])
def test_a_live_that_is_not_true_or_false_is_a_400_and_writes_nothing(client: Any, aws: Any, live: Any) -> None:
    recording_id = create_recording(client)
    response = post_json(client, events_path(recording_id), {**batch(0), "live": live})
    assert response.status_code == 400, response.body
    assert response.json_body["error"]["code"] == "invalid_batch"
    assert not shard_records_of(aws)


def shard_records_of(aws: Any) -> list[Any]:
    from tests.functional.test_consumer import shard_records

    return [record for found in shard_records(aws).values() for record in found]
