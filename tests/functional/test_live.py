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

from chalicelib import settings
from chalicelib.aws import get_services
from tests.functional.test_compaction import expected_lines, send
from tests.functional.test_consumer import batch
from tests.support.accounts import make_user
from tests.support.http import create_recording, post_json
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
    monkeypatch.setattr("chalicelib.recordings.now_ms", lambda: updated + settings.LIVE_IDLE_MS - 1)
    assert client.get(f"/recordings/{recording_id}").json_body["live"] is True
    monkeypatch.setattr("chalicelib.recordings.now_ms", lambda: updated + settings.LIVE_IDLE_MS)
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
    assert blocks(client, recording_id) == {"blocks": [], "next": None, "after": None}


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
    assert blocks(client, recording_id) == {"blocks": [], "next": None, "after": None}
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
