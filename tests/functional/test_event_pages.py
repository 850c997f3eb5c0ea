"""GET /recordings/{id}/events answers JSON lines to any Accept header, and never a body API Gateway would mangle.

API Gateway turns a function's base64 body back into bytes only when the FIRST media
type of the request's Accept header is one of the API's binary types; for any other
Accept a binary response reaches the client as base64 text. So a page is gzip (binary)
only when the client takes gzip and its first Accept type is binary, and text otherwise.
"""

from __future__ import annotations

import base64
import gzip
import json
from typing import Any

import pytest
from chalice.local import LambdaContext, LambdaEventConverter, RouteMatcher

from app import app
from chalicelib import reader, settings
from tests.support.http import create_recording, post_gzip, post_json

EVENTS = [
    {"type": 4, "timestamp": 1, "data": {"href": "https://a.test/", "width": 800, "height": 600}},
    {"type": 3, "timestamp": 2, "data": {"source": 0, "text": 'quotes " and \\ and caf\u00e9 \u2603 \U0001f600'}},
]
BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8"
ACCEPTS = [None, "application/json", "text/html", "*/*", BROWSER, "application/x-ndjson", "application/x-ndjson, */*"]


@pytest.fixture
def recorded(client: Any, deliver: Any) -> str:
    recording_id = create_recording(client)
    assert post_json(client, f"/recordings/{recording_id}/events", {"seq": 0, "events": EVENTS}).status_code == 202
    deliver()
    return recording_id


def lines(body: bytes) -> list[Any]:
    return [json.loads(line) for line in body.decode("utf-8").splitlines()]


def binary_first(accept: str | None) -> bool:
    return accept is not None and accept.split(",")[0].strip() == "application/x-ndjson"


@pytest.mark.parametrize("gzip_ok", [False, True], ids=["identity", "gzip"])
@pytest.mark.parametrize("accept", ACCEPTS, ids=lambda a: str(a))
def test_every_accept_gets_json_lines(client: Any, recorded: str, accept: str | None, gzip_ok: bool) -> None:
    headers = {}
    if accept is not None:
        headers["Accept"] = accept
    if gzip_ok:
        headers["Accept-Encoding"] = "gzip"
    response = client.get(f"/recordings/{recorded}/events", headers=headers)
    assert response.status_code == 200, response.body
    compressed = gzip_ok and binary_first(accept)
    if compressed:
        assert response.headers["Content-Type"] == "application/x-ndjson"
        assert response.headers["Content-Encoding"] == "gzip"
        assert lines(gzip.decompress(response.body)) == EVENTS
    else:
        assert response.headers["Content-Type"] == "application/jsonl; charset=utf-8"
        assert "Content-Encoding" not in response.headers
        assert lines(response.body) == EVENTS
        # Not a binary type: neither Chalice nor API Gateway base64-encodes or refuses it.
        assert response.headers["Content-Type"].split(";")[0] not in app.api.binary_types
    assert response.headers["Vary"] == "Accept, Accept-Encoding"
    assert response.headers["X-Event-Count"] == "2"


def through_api_gateway(path: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    """What a client receives on AWS: the function's proxy response, as API Gateway hands it on.

    The function's answer is the real one (the app called with a Lambda proxy event); the
    gateway's part is its documented rule: a base64 body (``isBase64Encoded``) is decoded
    only when the first Accept type is a binary media type, else sent as the base64 text.
    """
    converter = LambdaEventConverter(RouteMatcher(list(app.routes)), app.api.binary_types)
    event = converter.create_lambda_event(method="GET", path=path, headers=headers)
    answer = app(event, LambdaContext("api_handler", 512))
    body = answer["body"]
    accept = {k.lower(): v for k, v in headers.items()}.get("accept")
    if answer.get("isBase64Encoded"):
        raw = base64.b64decode(body) if reader.first_type_is_binary(accept, app.api.binary_types) else body.encode()
    else:
        raw = body.encode("utf-8")
    return answer["statusCode"], answer["headers"], raw


@pytest.mark.parametrize("gzip_ok", [False, True], ids=["identity", "gzip"])
@pytest.mark.parametrize("accept", ACCEPTS, ids=lambda a: str(a))
def test_what_api_gateway_hands_on_is_json_lines_for_every_accept(
    user: Any, recorded: str, accept: str | None, gzip_ok: bool
) -> None:
    headers = dict(user.headers)
    if accept is not None:
        headers["Accept"] = accept
    if gzip_ok:
        headers["Accept-Encoding"] = "gzip"
    status, sent, body = through_api_gateway(f"/recordings/{recorded}/events", headers)
    assert status == 200, body
    if sent.get("Content-Encoding") == "gzip":
        body = gzip.decompress(body)
    assert lines(body) == EVENTS


def test_a_urllib_request_gets_plain_json_lines(user: Any, recorded: str) -> None:
    # What urllib.request.urlopen sends: no Accept, Accept-Encoding identity.
    headers = {**user.headers, "Accept-Encoding": "identity", "User-Agent": "Python-urllib/3.11"}
    status, sent, body = through_api_gateway(f"/recordings/{recorded}/events", headers)
    assert (status, sent["Content-Type"]) == (200, "application/jsonl; charset=utf-8")
    assert lines(body) == EVENTS


def test_an_event_larger_than_a_text_page_is_406_naming_what_to_send(client: Any, deliver: Any) -> None:
    recording_id = create_recording(client)
    huge = {"type": 2, "timestamp": 1, "data": {"text": "lorem ipsum " * 300_000}}
    assert post_gzip(client, f"/recordings/{recording_id}/events", {"seq": 0, "events": [huge]}).status_code == 202
    deliver()
    for headers in ({}, {"Accept": "*/*", "Accept-Encoding": "gzip"}, {"Accept": "application/x-ndjson"}):
        refused = client.get(f"/recordings/{recording_id}/events", headers=headers)
        assert refused.status_code == 406
        error = refused.json_body["error"]
        assert error["code"] == "gzip_required"
        assert "Accept: application/x-ndjson" in error["message"]
        assert "Accept-Encoding: gzip" in error["message"]
    taken = client.get(
        f"/recordings/{recording_id}/events", headers={"Accept": "application/x-ndjson", "Accept-Encoding": "gzip"}
    )
    assert taken.status_code == 200
    assert lines(gzip.decompress(taken.body)) == [huge]


def test_text_pages_are_cut_by_their_size_escaped_into_the_functions_response(
    client: Any, user: Any, deliver: Any
) -> None:
    # Quotes and non-ASCII text grow when Lambda's JSON response escapes the page: a
    # text page is budgeted by that size, so it stays below the 6 MB response cap.
    recording_id = create_recording(client)
    snowmen = [{"type": 3, "timestamp": i + 1, "data": {"text": '\u2603"' * 10_000}} for i in range(50)]
    for seq in range(0, 50, 10):
        assert (
            post_gzip(client, f"/recordings/{recording_id}/events", {"seq": seq, "events": snowmen[seq : seq + 10]})
        ).status_code == 202
    deliver()
    raw_size = sum(len(json.dumps(event, ensure_ascii=False).encode()) + 1 for event in snowmen)
    assert raw_size < settings.MAX_PAGE_BYTES  # unescaped, all of it would fit one page
    read: list[Any] = []
    cursor = None
    pages = 0
    while True:
        path = f"/recordings/{recording_id}/events" + (f"?after={cursor}" if cursor else "")
        status, sent, body = through_api_gateway(path, dict(user.headers))
        assert status == 200
        escaped = len(json.dumps(body.decode("utf-8")))  # as the runtime serialises the body
        assert escaped <= settings.MAX_PAGE_BYTES + 2
        read += lines(body)
        pages += 1
        cursor = sent.get("X-Next-Cursor")
        if not cursor:
            break
    assert read == snowmen
    assert pages >= 2


@pytest.mark.parametrize(
    ("accept", "binary"),
    [
        (None, False),
        ("", False),
        ("*/*", False),
        ("application/*", False),
        ("application/x-ndjson", True),
        ("Application/X-NDJSON; q=0.9, text/html", True),
        ("text/html, application/x-ndjson", False),
        ("image/png", True),  # Chalice's defaults are binary types too
        ("application/json", False),
    ],
)
def test_only_the_first_accept_type_decides(accept: str | None, binary: bool) -> None:
    assert reader.first_type_is_binary(accept, app.api.binary_types) is binary
