"""A recording's screenshot link exists only once its screenshot does, known without asking S3.

The browser uploads the screenshot straight to S3 with the create's presigned form; the
bucket's object-created notification (the one that reaps orphans) tells the reaper,
which notes ``screenshotAt`` on the recording. Here the notification goes through
moto's bucket notification to the stack's queue and to ``app.reap_orphans``, as the
local stack runs it (``notify``).
"""

from __future__ import annotations

import io
from typing import Any
from urllib.parse import quote_plus

import pytest
import requests

from app import reap_orphans
from chalicelib import layout
from chalicelib.aws import get_services
from tests.support.events import load_event
from tests.support.http import post_json
from tests.support.in_process import NAMES

JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 512 + b"\xff\xd9"


def upload(created: dict[str, Any], body: bytes = JPEG) -> int:
    form = created["screenshotUpload"]
    return requests.post(form["url"], data=form["fields"], files={"file": io.BytesIO(body)}, timeout=10).status_code


def s3_calls() -> list[str]:
    calls: list[str] = []
    get_services().s3.meta.events.register("before-call.s3", lambda model, **_: calls.append(model.name))
    return calls


def test_no_link_until_the_upload_lands_then_a_link_everywhere(client: Any, notify: Any) -> None:
    created = post_json(client, "/recordings", {"id": "shot-0000001"}).json_body
    assert created["recording"]["screenshotUrl"] is None
    assert client.get("/recordings/shot-0000001").json_body["screenshotUrl"] is None
    assert client.get("/recordings").json_body["recordings"][0]["screenshotUrl"] is None
    assert upload(created) == 204
    # Until the notification is handled, the recording does not know.
    assert client.get("/recordings/shot-0000001").json_body["screenshotUrl"] is None
    assert notify() == 1
    described = client.get("/recordings/shot-0000001").json_body["screenshotUrl"]
    listed = client.get("/recordings").json_body["recordings"][0]["screenshotUrl"]
    for url in (described, listed):
        assert requests.get(url, timeout=10).content == JPEG


def test_listing_screenshots_costs_no_request_to_s3(client: Any, notify: Any) -> None:
    for n in range(5):
        created = post_json(client, "/recordings", {"id": f"shot-list-{n}"}).json_body
        if n % 2 == 0:
            upload(created)
    notify()
    calls = s3_calls()
    listed = client.get("/recordings").json_body["recordings"]
    assert calls == []  # presigning is local; nothing asks S3 whether an object exists
    with_shots = {recording["id"] for recording in listed if recording["screenshotUrl"]}
    assert with_shots == {"shot-list-0", "shot-list-2", "shot-list-4"}


def test_an_upload_again_writes_nothing_more(client: Any, notify: Any, aws: Any) -> None:
    created = post_json(client, "/recordings", {"id": "shot-twice-1"}).json_body
    upload(created)
    notify()
    first = client.get("/recordings/shot-twice-1").json_body["screenshotUrl"]
    assert first
    updates: list[str] = []
    get_services().dynamodb.meta.client.meta.events.register(
        "before-call.dynamodb.UpdateItem", lambda model, **_: updates.append(model.name)
    )
    upload(created)
    assert notify() == 1
    assert updates == []
    assert client.get("/recordings/shot-twice-1").json_body["screenshotUrl"]


def test_a_screenshot_of_a_deleted_recording_is_reaped_and_noted_nowhere(
    client: Any, notify: Any, bucket_keys: Any, owner: str
) -> None:
    created = post_json(client, "/recordings", {"id": "shot-deleted"}).json_body
    assert client.delete("/recordings/shot-deleted").status_code == 204
    assert upload(created) == 204  # the form was handed out before the delete
    assert bucket_keys(layout.recording_prefix(owner, "shot-deleted")) == [layout.screenshot_key(owner, "shot-deleted")]
    notify()
    assert bucket_keys(layout.recording_prefix(owner, "shot-deleted")) == []
    assert client.get("/recordings/shot-deleted").status_code == 404


def test_a_screenshot_landing_while_its_recording_is_being_deleted_is_reaped(
    client: Any, aws: Any, bucket_keys: Any, owner: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    post_json(client, "/recordings", {"id": "shot-tombstone"})
    key = layout.screenshot_key(owner, "shot-tombstone")
    aws.client("s3").put_object(Bucket=NAMES.bucket, Key=key, Body=JPEG)
    services = get_services()
    item = services.metadata.get(owner, "shot-tombstone")
    # The tombstone lands between the reaper's read and its write.
    services.metadata.mark_deleting(owner, "shot-tombstone")
    monkeypatch.setattr(services.metadata, "get", lambda *_: item)  # as read before the tombstone
    assert services.recordings.object_created(key) == "reaped"
    assert bucket_keys(layout.recording_prefix(owner, "shot-tombstone")) == []


def test_the_reaper_function_reports_what_it_did(client: Any, aws: Any, owner: str) -> None:
    post_json(client, "/recordings", {"id": "shot-report1"})
    s3 = aws.client("s3")
    keys = {
        "shot": layout.screenshot_key(owner, "shot-report1"),
        "chunk": layout.events_prefix(owner, "shot-report1") + "c.gz",
        "orphan": layout.screenshot_key(owner, "no-such-rec1"),
    }
    for key in keys.values():
        s3.put_object(Bucket=NAMES.bucket, Key=key, Body=JPEG)
    outcomes = [reap_orphans(load_event("s3_object_created", KEY=quote_plus(key)), None) for key in keys.values()]
    assert outcomes == [
        {"reaped": 0, "screenshots": 1},
        {"reaped": 0, "screenshots": 0},
        {"reaped": 1, "screenshots": 0},
    ]
    # A chunk named like a screenshot elsewhere in the prefix is not a screenshot.
    odd = layout.events_prefix(owner, "shot-report1") + layout.SCREENSHOT_NAME
    s3.put_object(Bucket=NAMES.bucket, Key=odd, Body=b"x")
    assert reap_orphans(load_event("s3_object_created", KEY=quote_plus(odd)), None) == {"reaped": 0, "screenshots": 0}
