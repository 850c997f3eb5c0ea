"""Smoke test for any deployed stack: ``make smoke URL=https://.../api POOL=<user pool id>``.

Without ``RRWEB_SMOKE_URL`` it starts the local stack, so the suite proves the smoke
test passes before any deployment relies on it.
"""

from __future__ import annotations

import gzip
import json
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

# Firehose buffers at least 60 s on AWS; locally delivery takes about a second.
READ_TIMEOUT_S = float(os.environ.get("RRWEB_SMOKE_TIMEOUT", "300"))


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = os.environ.get("RRWEB_SMOKE_URL")
    if url:
        yield url.rstrip("/")
        return
    from tests.support.local_stack import start_stack

    stack = start_stack(Path(tmp_path_factory.mktemp("smoke")) / "data")
    try:
        yield stack.api
    finally:
        stack.stop()


def test_create_post_read_list_delete(base_url: str) -> None:
    from tests.support.accounts import remove_user, sign_up_and_in

    http = requests.Session()
    email, headers = sign_up_and_in(base_url, http)
    try:
        http.headers.update(headers)
        create_post_read_list_delete(base_url, http)
    finally:
        remove_user(email)


def create_post_read_list_delete(base_url: str, http: requests.Session) -> None:
    """The walk every deployment must pass."""
    recording_id = f"smoke-{uuid.uuid4().hex[:20]}"
    created = http.post(f"{base_url}/recordings", json={"id": recording_id, "url": "https://smoke.test/"}, timeout=30)
    assert created.status_code == 201, created.text
    assert created.json()["screenshotUpload"]["method"] == "POST"

    events = [
        {
            "type": 4,
            "timestamp": 1_700_000_000_000,
            "data": {"href": "https://smoke.test/", "width": 800, "height": 600},
        },
        {"type": 3, "timestamp": 1_700_000_000_050, "data": {"source": 3, "id": 1, "x": 0, "y": 100}},
    ]
    for seq, batch in enumerate((events[:1], events[1:])):
        body = gzip.compress(json.dumps({"seq": seq, "events": batch}).encode())
        posted = http.post(
            f"{base_url}/recordings/{recording_id}/events",
            data=body,
            headers={"Content-Type": "application/octet-stream", "Content-Encoding": "gzip"},
            timeout=30,
        )
        assert posted.status_code == 202, posted.text

    deadline = time.monotonic() + READ_TIMEOUT_S
    while True:
        read = http.get(f"{base_url}/recordings/{recording_id}/events", timeout=30)
        assert read.status_code == 200, read.text
        got = [json.loads(line) for line in read.content.splitlines()]
        if got == events or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert got == events

    listed = http.get(f"{base_url}/recordings", params={"limit": 200}, timeout=30)
    assert recording_id in [r["id"] for r in listed.json()["recordings"]]

    assert http.delete(f"{base_url}/recordings/{recording_id}", timeout=30).status_code == 204
    assert http.get(f"{base_url}/recordings/{recording_id}", timeout=30).status_code == 404
