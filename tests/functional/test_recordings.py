"""Recording lifecycle routes: create, list, get, delete."""

from __future__ import annotations

import io
import re
from typing import Any

import pytest
import requests

from chalicelib import ids, layout, recordings, schema
from chalicelib.aws import get_services
from tests.support.http import create_recording, post_gzip, post_json
from tests.support.in_process import NAMES

JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 512 + b"\xff\xd9"


def upload_screenshot(upload: dict[str, Any], body: bytes = JPEG) -> requests.Response:
    return requests.post(upload["url"], data=upload["fields"], files={"file": io.BytesIO(body)}, timeout=10)


def test_create_returns_strict_id_and_presigned_screenshot_upload(client: Any, bucket_keys: Any, owner: str) -> None:
    response = post_json(client, "/recordings", {"url": "https://example.com/a", "title": "A page"})
    assert response.status_code == 201
    body = response.json_body
    recording = body["recording"]
    assert re.fullmatch(r"[A-Za-z0-9_-]{8,64}", recording["id"])
    assert recording["url"] == "https://example.com/a"
    assert recording["eventCount"] == 0
    upload = body["screenshotUpload"]
    assert upload["method"] == "POST"
    assert upload["fields"]["key"] == layout.screenshot_key(owner, recording["id"])
    assert upload_screenshot(upload).status_code == 204
    assert bucket_keys(layout.recording_prefix(owner, recording["id"])) == [upload["fields"]["key"]]


def test_screenshot_bytes_never_reach_dynamodb(client: Any, aws: Any) -> None:
    recording_id = create_recording(client)
    item = aws.client("dynamodb").scan(TableName="rrweb-s3-storage-test-recordings")["Items"][0]
    assert item["recordingId"]["S"] == recording_id
    assert not any("B" in value for value in item.values())


def test_create_with_client_id_is_idempotent(client: Any) -> None:
    first = post_json(client, "/recordings", {"id": "client-chosen-01", "url": "https://a"})
    again = post_json(client, "/recordings", {"id": "client-chosen-01", "url": "https://a"})
    assert (first.status_code, again.status_code) == (201, 200)
    # Presigned URLs are signed per call; everything else is the same recording.
    without_url = [{k: v for k, v in r.json_body["recording"].items() if k != "screenshotUrl"} for r in (first, again)]
    assert without_url[0] == without_url[1]
    listed = client.get("/recordings").json_body["recordings"]
    assert [r["id"] for r in listed] == ["client-chosen-01"]


def test_create_accepts_empty_body(client: Any) -> None:
    response = client.post("/recordings", headers={"Content-Type": "application/json"})
    assert response.status_code == 201


def test_list_is_newest_first_and_cursor_pages_cover_everything_once(
    client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = iter(range(1_800_000_000_000, 1_800_000_000_000 + 10_000, 100))
    monkeypatch.setattr(recordings, "now_ms", lambda: next(clock))
    created = [create_recording(client) for _ in range(5)]
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        response = client.get("/recordings?limit=2" + (f"&cursor={cursor}" if cursor else ""))
        assert response.status_code == 200
        seen += [r["id"] for r in response.json_body["recordings"]]
        cursor = response.json_body["cursor"]
        pages += 1
        if cursor is None:
            break
    assert seen == list(reversed(created))
    assert pages == 3


def test_list_uses_query_never_scan(client: Any) -> None:
    create_recording(client)
    operations: list[str] = []
    table_client = get_services().dynamodb.meta.client  # the client every table of the services uses
    table_client.meta.events.register(
        "before-parameter-build.dynamodb",
        lambda model, params, **_: operations.append(model.name) if params.get("TableName") == NAMES.table else None,
    )
    assert client.get("/recordings").status_code == 200
    assert operations == ["Query"]


def test_get_returns_friendly_json(client: Any, deliver: Any, notify: Any) -> None:
    created = post_json(client, "/recordings", {"url": "https://example.com"}).json_body
    recording_id = created["recording"]["id"]
    post_json(
        client,
        f"/recordings/{recording_id}/events",
        {
            "seq": 0,
            "events": [{"type": 4, "timestamp": 1000, "data": {}}, {"type": 3, "timestamp": 4500.5, "data": {}}],
        },
    )
    # Counted by the stream consumer, once the batch is stored.
    assert client.get(f"/recordings/{recording_id}").json_body["eventCount"] == 0
    deliver()
    body = client.get(f"/recordings/{recording_id}").json_body
    assert body["id"] == recording_id
    assert body["eventCount"] == 2
    assert (body["firstEventAt"], body["lastEventAt"], body["durationMs"]) == (1000, 4500.5, 3500.5)
    assert body["bytes"] > 0
    assert body["storedBytes"] > 0
    assert body["batches"] == 1
    assert body["screenshotUrl"] is None  # nothing uploaded: no link that would 404
    assert (body["pageCount"], body["errorCount"]) == (1, 0)
    assert body["pages"] == [{"url": "https://example.com", "title": None, "at": body["createdAt"]}]
    assert "seqs" not in body
    assert "owner" not in body
    assert body["traits"] is None
    upload_screenshot(created["screenshotUpload"])
    assert notify() == 1  # the screenshot: the bucket tells the reaper of nothing else
    assert client.get(f"/recordings/{recording_id}").json_body["screenshotUrl"].startswith("https://")


def test_unknown_recording_is_404(client: Any) -> None:
    for method in ("get", "delete"):
        response = getattr(client, method)("/recordings/doesnotexist1")
        assert response.status_code == 404
        assert response.json_body["error"]["code"] == "not_found"


def test_delete_removes_metadata_events_and_screenshot(client: Any, deliver: Any, bucket_keys: Any, owner: str) -> None:
    created = post_json(client, "/recordings", {}).json_body
    recording_id = created["recording"]["id"]
    other = create_recording(client)
    post_gzip(client, f"/recordings/{recording_id}/events", {"seq": 0, "events": [{"type": 4, "timestamp": 1}]})
    post_gzip(client, f"/recordings/{other}/events", {"seq": 0, "events": [{"type": 4, "timestamp": 1}]})
    deliver()
    upload_screenshot(created["screenshotUpload"])
    assert len(bucket_keys(layout.recording_prefix(owner, recording_id))) == 2

    assert client.delete(f"/recordings/{recording_id}").status_code == 204

    assert bucket_keys(layout.recording_prefix(owner, recording_id)) == []
    assert client.get(f"/recordings/{recording_id}").status_code == 404
    assert client.get(f"/recordings/{recording_id}/events", headers={"Accept": "*/*"}).status_code == 404
    assert client.delete(f"/recordings/{recording_id}").status_code == 404
    assert [r["id"] for r in client.get("/recordings").json_body["recordings"]] == [other]
    assert len(bucket_keys(layout.recording_prefix(owner, other))) == 1


def test_events_delivered_after_delete_are_removed_on_arrival(
    client: Any, deliver: Any, notify: Any, bucket_keys: Any, owner: str
) -> None:
    recording_id = create_recording(client)
    post_gzip(client, f"/recordings/{recording_id}/events", {"seq": 0, "events": [{"type": 4, "timestamp": 1}]})
    assert client.delete(f"/recordings/{recording_id}").status_code == 204
    assert deliver() == 1
    # The consumer counted nothing for a deleted recording; a chunk written meanwhile is
    # reaped when the bucket's notification reaches the reaper.
    notify()
    assert bucket_keys(layout.recording_prefix(owner, recording_id)) == []


def test_interrupted_delete_resumes_on_retry(client: Any, deliver: Any, bucket_keys: Any, owner: str) -> None:
    recording_id = create_recording(client)
    post_gzip(client, f"/recordings/{recording_id}/events", {"seq": 0, "events": [{"type": 4, "timestamp": 1}]})
    deliver()
    services = get_services()
    services.metadata.mark_deleting(owner, recording_id)  # as if S3 failed right after the tombstone
    assert client.get(f"/recordings/{recording_id}").status_code == 404
    assert client.get("/recordings").json_body["recordings"] == []
    assert post_json(client, "/recordings", {"id": recording_id}).status_code == 409
    assert client.delete(f"/recordings/{recording_id}").status_code == 204
    assert bucket_keys(layout.recording_prefix(owner, recording_id)) == []
    # The id stays taken while its tombstone lives (two days, longer than the stream keeps
    # a record), so no batch of the deleted recording can be taken for one of a new one.
    again = post_json(client, "/recordings", {"id": recording_id})
    assert (again.status_code, again.json_body["error"]["code"]) == (409, "id_in_use")
    assert client.get(f"/recordings/{recording_id}").status_code == 404


def test_health(client: Any) -> None:
    response = client.get("/health")
    assert (response.status_code, response.json_body) == (200, {"status": "ok"})


def test_reaper_lambda_removes_objects_of_deleted_recordings_only(
    client: Any, aws: Any, bucket_keys: Any, owner: str
) -> None:
    from urllib.parse import quote_plus

    from app import reap_orphans
    from tests.support.events import load_event
    from tests.support.in_process import NAMES

    live = create_recording(client)
    s3 = aws.client("s3")
    orphan_key = layout.events_prefix(owner, "deletedrecording1") + "late chunk.gz"
    live_key = layout.events_prefix(owner, live) + "chunk.gz"
    for key in (orphan_key, live_key):
        s3.put_object(Bucket=NAMES.bucket, Key=key, Body=b"x")
    for key in (orphan_key, live_key):
        reap_orphans(load_event("s3_object_created", KEY=quote_plus(key)), None)
    assert bucket_keys("recordings/") == [live_key]


def test_recording_expires_with_the_stack_retention(
    client: Any, aws: Any, monkeypatch: pytest.MonkeyPatch, owner: str
) -> None:
    from chalicelib.settings import get_settings

    monkeypatch.setenv("RRWEB_RETENTION_DAYS", "30")
    get_settings.cache_clear()
    get_services.cache_clear()
    monkeypatch.setattr(recordings, "now_ms", lambda: 1_800_000_000_000)
    recording_id = create_recording(client)
    item = (
        aws.resource("dynamodb")
        .Table("rrweb-s3-storage-test-recordings")
        .get_item(Key=ids.recording_key(owner, recording_id))["Item"]
    )
    assert item[schema.TTL_ATTRIBUTE] == 1_800_000_000 + 30 * 86400
    ttl = aws.client("dynamodb").describe_time_to_live(TableName="rrweb-s3-storage-test-recordings")
    assert ttl["TimeToLiveDescription"]["AttributeName"] == schema.TTL_ATTRIBUTE
