"""The recorder's door: the ingest function behind a Lambda function URL (payload format 2.0).

Requests go in as Lambda delivers them (``function_url.url_event``: a text body as a
UTF-8 string decoded with replacement, anything else base64), through the same handler
the stack deploys (``app.ingest``), and are read back through the REST API.
"""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Callable
from typing import Any

import pytest
from chalice.local import LambdaContext

from chalicelib import function_url
from tests.support.http import AuthedHttp, read_events

EVENTS = [
    {"type": 4, "data": {"href": "https://shop.example/", "width": 1280, "height": 800}, "timestamp": 1_000},
    {"type": 2, "data": {"node": {"type": 0, "childNodes": [], "id": 1}}, "timestamp": 1_001},
]
LATER = [{"type": 3, "data": {"source": 2, "type": 2, "id": 1, "x": 5, "y": 5}, "timestamp": 2_000}]


def door(
    method: str,
    path: str,
    body: bytes = b"",
    *,
    content_type: str | None = "text/plain",
    query: str = "",
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """One request through the ingest function, as its function URL would deliver it."""
    from app import ingest

    event = function_url.url_event(
        method=method,
        path=path,
        query=query,
        headers={
            **({"Content-Type": content_type} if content_type else {}),
            "Origin": "https://shop.example",
            "User-Agent": "Mozilla/5.0 (X11; Linux x86_64)",
            **(headers or {}),
        },
        body=body,
        source_ip="203.0.113.7",
        request_id="test",
    )
    return ingest(event, LambdaContext("ingest", memory_size=512))


def armoured(body: Any) -> bytes:
    """A batch as the recorder sends it: gzip, then base64 (recorder/transport.js armour)."""
    return base64.b64encode(gzip.compress(json.dumps(body).encode()))


@pytest.fixture
def key(client: AuthedHttp) -> str:
    created = client.post("/keys", body=json.dumps({"name": "shop"}), headers={"Content-Type": "application/json"})
    assert created.status_code == 201, created.json_body
    return str(created.json_body["key"])


def test_a_recording_created_and_appended_through_the_door_reads_back_whole(
    client: AuthedHttp, key: str, deliver: Callable[[], int]
) -> None:
    created = door("POST", "/recordings", armoured({"seq": 0, "events": EVENTS}), query=f"ingestKey={key}")
    assert created["statusCode"] == 201, created["body"]
    assert created["isBase64Encoded"] is False
    # The app's CORS and JSON headers, one value per name as a function URL takes them.
    assert created["headers"]["Access-Control-Allow-Origin"] == "*"
    assert all(isinstance(value, str) for value in created["headers"].values())
    recording_id = json.loads(created["body"])["recording"]["id"]
    appended = door(
        "POST", f"/recordings/{recording_id}/events", armoured({"seq": 1, "events": LATER}), query=f"ingestKey={key}"
    )
    assert appended["statusCode"] == 202, appended["body"]
    assert json.loads(appended["body"])["events"] == 1
    deliver()
    assert read_events(client, recording_id) == EVENTS + LATER


def test_gzip_bytes_as_text_are_refused_whole_and_binary_types_arrive_intact(
    client: AuthedHttp, key: str, deliver: Callable[[], int]
) -> None:
    raw = gzip.compress(json.dumps({"seq": 0, "events": EVENTS}).encode())
    # Lambda hands a text/plain body over as UTF-8, mangling gzip's bytes: refused, nothing made.
    mangled = door("POST", "/recordings", raw, query=f"ingestKey={key}")
    assert 400 <= mangled["statusCode"] < 500, mangled["body"]
    assert "error" in json.loads(mangled["body"])
    assert client.get("/recordings").json_body["recordings"] == []
    # A binary type arrives base64-encoded, and intact.
    binary = door("POST", "/recordings", raw, content_type="application/octet-stream", query=f"ingestKey={key}")
    assert binary["statusCode"] == 201, binary["body"]
    deliver()
    assert read_events(client, json.loads(binary["body"])["recording"]["id"]) == EVENTS


@pytest.mark.parametrize("wrap", ["lines of 76", "a trailing newline", "leading whitespace", "CRLF lines"])
def test_base64_as_tools_write_it_is_taken(client: AuthedHttp, key: str, deliver: Callable[[], int], wrap: str) -> None:
    text = armoured({"seq": 0, "events": EVENTS})
    body = {
        "lines of 76": b"\n".join(text[i : i + 76] for i in range(0, len(text), 76)) + b"\n",
        "a trailing newline": text + b"\n",
        "leading whitespace": b"  \n" + text,
        "CRLF lines": b"\r\n".join(text[i : i + 64] for i in range(0, len(text), 64)),
    }[wrap]
    created = door("POST", "/recordings", body, query=f"ingestKey={key}")
    assert created["statusCode"] == 201, created["body"]
    deliver()
    assert read_events(client, json.loads(created["body"])["recording"]["id"]) == EVENTS


@pytest.mark.parametrize(
    "body",
    [b"H4sI", b"H4sI!!!!", b"H4sIAAAAAAAA" + b"=" * 7, b"H4sI" + b"A" * 10_000, b"H4sI-_-_"],
)
def test_a_body_that_only_looks_like_base64_gzip_is_a_400(client: AuthedHttp, key: str, body: bytes) -> None:
    answer = door("POST", "/recordings", body, query=f"ingestKey={key}")
    assert answer["statusCode"] == 400, answer["body"]
    assert json.loads(answer["body"])["error"]["code"] in ("bad_body", "invalid_gzip")
    assert client.get("/recordings").json_body["recordings"] == []


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/recordings"),
        ("GET", "/keys"),
        ("POST", "/keys"),
        ("DELETE", "/recordings/abc"),
        ("GET", "/recordings/abc/events"),
        ("GET", "/health"),
        ("POST", "/auth/signin"),
        ("GET", "/"),
        ("POST", "/recordings/"),
        ("POST", "/recordings//events"),
        ("POST", "/recordings/a/b/events"),
    ],
)
def test_the_door_serves_the_recorders_routes_and_nothing_else(method: str, path: str) -> None:
    answer = door(method, path, headers={"Authorization": "Bearer x"})
    assert answer["statusCode"] == 404
    assert json.loads(answer["body"]) == function_url.NOT_FOUND


def test_the_door_answers_preflights_and_a_keys_controls_and_refusals_as_the_rest_api_does(
    client: AuthedHttp, anonymous: AuthedHttp, key: str
) -> None:
    preflight = door(
        "OPTIONS",
        "/recordings",
        content_type=None,
        headers={"Origin": "https://shop.example", "Access-Control-Request-Method": "POST"},
    )
    rest = anonymous.options(
        "/recordings", headers={"Origin": "https://shop.example", "Access-Control-Request-Method": "POST"}
    )
    assert preflight["statusCode"] == rest.status_code == 204
    assert {k.lower(): v for k, v in preflight["headers"].items() if k.lower().startswith("access-control")} == {
        k.lower(): v for k, v in rest.headers.items() if k.lower().startswith("access-control")
    }
    controls = door("GET", "/controls", content_type=None, query=f"ingestKey={key}")
    assert controls["statusCode"] == 200
    assert json.loads(controls["body"]) == {"controls": {}}
    assert controls["headers"]["Cache-Control"] == "public, max-age=300"
    # A key's refusal comes through whole: its status, code and CORS headers.
    (listed,) = client.get("/keys").json_body["keys"]
    allowed = client.patch(
        f"/keys/{listed['id']}",
        body=json.dumps({"allowedOrigins": ["https://shop.example"]}),
        headers={"Content-Type": "application/json"},
    )
    assert allowed.status_code == 200, allowed.json_body
    refused = door(
        "POST",
        "/recordings",
        armoured({"seq": 0, "events": EVENTS}),
        query=f"ingestKey={key}",
        headers={"Origin": "https://elsewhere.example"},
    )
    assert refused["statusCode"] == 403
    assert json.loads(refused["body"])["error"]["code"] == "origin_not_allowed"
    assert refused["headers"]["Access-Control-Allow-Origin"] == "*"
    assert client.get("/recordings").json_body["recordings"] == []
