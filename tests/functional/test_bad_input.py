"""Bad input: each case is a clear 4xx JSON error, nothing is stored, the API keeps serving."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from typing import Any

import pytest

from chalicelib import settings
from chalicelib.validation import encode_cursor
from tests.support.events import stream_records
from tests.support.http import create_recording

GOOD_EVENT = {"type": 3, "timestamp": 1}


def plain(body: Any) -> tuple[bytes, dict[str, str]]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return raw, {"Content-Type": "application/json"}


def gzipped(raw: bytes) -> tuple[bytes, dict[str, str]]:
    return raw, {"Content-Type": "application/octet-stream", "Content-Encoding": "gzip"}


def gzip_bomb() -> bytes:
    # 200 MB of zeros in ~200 KB: must be refused while inflating, long before 200 MB.
    return gzip.compress(b"\0" * (200 * 1024 * 1024), compresslevel=9)


BAD_BATCHES: dict[str, tuple[Callable[[], tuple[bytes, dict[str, str]]], int, str]] = {
    "not json": (lambda: plain(b"{not json"), 400, "invalid_json"),
    "json but not an object": (lambda: plain([1, 2]), 400, "invalid_json"),
    "empty body": (lambda: plain(b""), 400, "invalid_json"),
    "seq is a string": (lambda: plain({"seq": "1", "events": [GOOD_EVENT]}), 400, "invalid_batch"),
    "seq is negative": (lambda: plain({"seq": -1, "events": [GOOD_EVENT]}), 400, "invalid_batch"),
    "seq is a float": (lambda: plain({"seq": 1.5, "events": [GOOD_EVENT]}), 400, "invalid_batch"),
    "seq is a boolean": (lambda: plain({"seq": True, "events": [GOOD_EVENT]}), 400, "invalid_batch"),
    "events is an object": (lambda: plain({"seq": 1, "events": {"0": GOOD_EVENT}}), 400, "invalid_batch"),
    "missing seq": (lambda: plain({"events": [GOOD_EVENT]}), 400, "invalid_batch"),
    "missing events": (lambda: plain({"seq": 1}), 400, "invalid_batch"),
    "empty batch": (lambda: plain({"seq": 1, "events": []}), 400, "invalid_batch"),
    "unknown field": (lambda: plain({"seq": 1, "events": [GOOD_EVENT], "extra": 1}), 400, "invalid_batch"),
    "event not an object": (lambda: plain({"seq": 1, "events": [GOOD_EVENT, 5]}), 400, "invalid_event"),
    "event without type": (lambda: plain({"seq": 1, "events": [{"timestamp": 1}]}), 400, "invalid_event"),
    "event type not numeric": (
        lambda: plain({"seq": 1, "events": [{"type": "3", "timestamp": 1}]}),
        400,
        "invalid_event",
    ),
    "event type boolean": (lambda: plain({"seq": 1, "events": [{"type": True, "timestamp": 1}]}), 400, "invalid_event"),
    "event without timestamp": (lambda: plain({"seq": 1, "events": [{"type": 3}]}), 400, "invalid_event"),
    "timestamp a string": (
        lambda: plain({"seq": 1, "events": [{"type": 3, "timestamp": "now"}]}),
        400,
        "invalid_event",
    ),
    "too many events": (
        lambda: plain({"seq": 1, "events": [GOOD_EVENT] * (settings.MAX_EVENTS_PER_BATCH + 1)}),
        413,
        "batch_too_large",
    ),
    "body over the size limit": (
        lambda: plain({"seq": 1, "events": [{"type": 3, "timestamp": 1, "d": "x" * settings.MAX_BODY_BYTES}]}),
        413,
        "body_too_large",
    ),
    "corrupt gzip": (lambda: gzipped(b"\x1f\x8b\x08\x00garbage-not-deflate"), 400, "invalid_gzip"),
    "not gzip at all": (lambda: gzipped(b'{"seq": 1, "events": []}'), 400, "invalid_gzip"),
    "truncated gzip": (
        lambda: gzipped(gzip.compress(json.dumps({"seq": 1, "events": [GOOD_EVENT]}).encode())[:-12]),
        400,
        "invalid_gzip",
    ),
    "gzip bomb": (lambda: gzipped(gzip_bomb()), 413, "batch_too_large"),
    "unsupported encoding": (
        lambda: (b"{}", {"Content-Type": "application/json", "Content-Encoding": "br"}),
        415,
        "unsupported_encoding",
    ),
    "unsupported media type": (
        lambda: (b"seq=1", {"Content-Type": "application/x-www-form-urlencoded"}),
        415,
        "unsupported_media_type",
    ),
}


def assert_error(response: Any, status: int, code: str) -> None:
    assert response.status_code == status, response.body
    assert response.headers["Content-Type"].startswith("application/json")
    error = json.loads(response.body)["error"]
    assert error["code"] == code
    assert isinstance(error["message"], str)
    assert error["message"]


@pytest.mark.parametrize("case", list(BAD_BATCHES))
def test_bad_batch_is_refused_and_stores_nothing(client: Any, aws: Any, deliver: Any, case: str) -> None:
    recording_id = create_recording(client)
    make, status, code = BAD_BATCHES[case]
    body, headers = make()
    assert_error(client.post(f"/recordings/{recording_id}/events", body=body, headers=headers), status, code)
    assert stream_records(aws) == []
    deliver()  # counts are the stream consumer's
    assert client.get(f"/recordings/{recording_id}").json_body["eventCount"] == 0
    good = client.post(
        f"/recordings/{recording_id}/events",
        body=json.dumps({"seq": 1, "events": [GOOD_EVENT]}),
        headers={"Content-Type": "application/json"},
    )
    assert good.status_code == 202
    deliver()
    assert client.get(f"/recordings/{recording_id}").json_body["eventCount"] == 1


BAD_IDS = {
    "path traversal": "..%2F..%2Fetc",
    "dots": "..........",
    "encoded slash": "abcdefgh%2Fijkl",
    "unicode": "r%C3%A9cording-123",
    "too short": "abc",
    "1000 characters": "a" * 1000,
    "equals sign": "owner=someone",
    "space": "abc%20defghij",
}


@pytest.mark.parametrize("case", list(BAD_IDS))
def test_recording_id_outside_the_strict_pattern_is_refused(client: Any, aws: Any, case: str) -> None:
    bad = BAD_IDS[case]
    batch = json.dumps({"seq": 1, "events": [GOOD_EVENT]})
    responses = [
        client.get(f"/recordings/{bad}"),
        client.delete(f"/recordings/{bad}"),
        client.get(f"/recordings/{bad}/events", headers={"Accept": "*/*"}),
        client.post(f"/recordings/{bad}/events", body=batch, headers={"Content-Type": "application/json"}),
        client.post("/recordings", body=json.dumps({"id": bad}), headers={"Content-Type": "application/json"}),
    ]
    for response in responses:
        assert_error(response, 400, "invalid_id")
    assert stream_records(aws) == []
    assert client.get("/recordings").json_body["recordings"] == []


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"[1]", "invalid_json"),
        (b"{bad", "invalid_json"),
        (b'{"id": 5}', "invalid_id"),
        (b'{"id": "' + b"i" * 5000 + b'"}', "invalid_id"),
        (b'{"url": 7}', "invalid_field"),
        (b'{"title": "' + b"t" * 600 + b'"}', "invalid_field"),
        (b'{"title": "' + b"\\u00e9" * 600 + b'"}', "invalid_field"),
        (b'{"seq": 0}', "invalid_batch"),
        (b'{"events": [{"type": 3, "timestamp": 5}]}', "invalid_batch"),
    ],
    ids=[
        "array",
        "not json",
        "id not a string",
        "id of 5000 characters",
        "url not a string",
        "title too long",
        "title too long in escapes",
        "seq without events",
        "events without seq",
    ],
)
def test_bad_create_body_is_refused(client: Any, aws: Any, body: bytes, code: str) -> None:
    response = client.post("/recordings", body=body, headers={"Content-Type": "application/json"})
    assert_error(response, 400, code)
    assert client.get("/recordings").json_body["recordings"] == []
    assert stream_records(aws) == []


@pytest.mark.parametrize("limit", ["abc", "0", "-1", "1.5", "201", "1e3", "", "٣"])
def test_limit_garbage_is_400(client: Any, limit: str) -> None:
    assert_error(client.get(f"/recordings?limit={limit}"), 400, "invalid_limit")


CURSORS = {
    "not base64": "!!!",
    "base64 of garbage": "bm90IGpzb24",
    "wrong keys": encode_cursor({"x": 1}),
    "wrong types": encode_cursor({"recordingId": 5, "createdKey": "k"}),
    "foreign id": encode_cursor({"recordingId": "../../x", "createdKey": "k"}),
    "very long": "a" * 5000,
}


@pytest.mark.parametrize("case", list(CURSORS))
def test_list_cursor_garbage_is_400(client: Any, case: str) -> None:
    assert_error(
        client.get(f"/recordings?cursor={CURSORS[case]}"),
        400,
        "invalid_cursor" if case != "foreign id" else "invalid_id",
    )


@pytest.mark.parametrize(
    "cursor",
    ["!!!", encode_cursor({"s": -1, "i": 0}), encode_cursor({"s": "1", "i": 0}), encode_cursor({"recordingId": "a"})],
)
def test_events_cursor_garbage_is_400(client: Any, cursor: str) -> None:
    recording_id = create_recording(client)
    response = client.get(f"/recordings/{recording_id}/events?after={cursor}", headers={"Accept": "*/*"})
    assert_error(response, 400, "invalid_cursor")
