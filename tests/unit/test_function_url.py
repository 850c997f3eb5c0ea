"""The ingest door's translation between a function URL's payload format 2.0 and API Gateway's 1.0."""

from __future__ import annotations

import base64

from chalicelib import function_url


def test_paths_match_route_templates_as_api_gateway_matches_them() -> None:
    assert function_url.match("/recordings") == ("/recordings", {})
    assert function_url.match("/recordings/r%2Dx_1/events") == (
        "/recordings/{recording_id}/events",
        {"recording_id": "r-x_1"},
    )
    for path in (
        "/recordings/",
        "/recordings//events",
        "/recordings/a/b/events",
        "/controls/x",
        "",
        "/",
        "/Recordings",
    ):
        assert function_url.match(path) is None, path


def test_a_request_becomes_the_rest_apis_event_and_the_answer_a_function_urls() -> None:
    event = function_url.url_event(
        method="POST",
        path="/recordings/abc/events",
        query="ingestKey=k1&x=1&x=2&empty=",
        headers={"Content-Type": "text/plain", "X-Twice": "a", "x-twice": "b"},
        body=b"H4sIAAAA",
        source_ip="2001:db8::1",
        request_id="r1",
    )
    assert event["headers"]["x-twice"] == "a,b"
    assert event["body"] == "H4sIAAAA"
    assert event["isBase64Encoded"] is False
    rest = function_url.rest_event(event, *function_url.match(event["rawPath"]))  # type: ignore[misc]
    assert rest["requestContext"]["resourcePath"] == "/recordings/{recording_id}/events"
    assert rest["requestContext"]["httpMethod"] == "POST"
    assert rest["requestContext"]["identity"]["sourceIp"] == "2001:db8::1"
    assert rest["pathParameters"] == {"recording_id": "abc"}
    assert rest["multiValueQueryStringParameters"] == {"ingestKey": ["k1"], "x": ["1", "2"], "empty": [""]}
    assert rest["queryStringParameters"]["x"] == "2"
    binary = function_url.url_event(
        method="POST",
        path="/recordings",
        query="",
        headers={"Content-Type": "application/octet-stream"},
        body=b"\x1f\x8b\x08\xff",
        source_ip="1.2.3.4",
        request_id="r2",
    )
    assert binary["isBase64Encoded"] is True
    assert base64.b64decode(binary["body"]) == b"\x1f\x8b\x08\xff"
    # Lambda decodes a text body as UTF-8, with replacement: gzip's bytes do not survive.
    mangled = function_url.url_event(
        method="POST",
        path="/recordings",
        query="",
        headers={"Content-Type": "text/plain; charset=utf-8"},
        body=b"\x1f\x8b\x08\xff",
        source_ip="1.2.3.4",
        request_id="r3",
    )
    assert mangled["body"].encode() != b"\x1f\x8b\x08\xff"
    answer = function_url.url_response(
        {
            "statusCode": 429,
            "headers": {"Retry-After": 3, "Content-Type": "application/json"},
            "multiValueHeaders": {"Vary": ["Origin", "Authorization"], "Set-Cookie": ["a=1", "b=2"]},
            "body": '{"error":{}}',
        }
    )
    assert answer == {
        "statusCode": 429,
        "headers": {"Retry-After": "3", "Content-Type": "application/json", "Vary": "Origin, Authorization"},
        "body": '{"error":{}}',
        "isBase64Encoded": False,
        "cookies": ["a=1", "b=2"],
    }
