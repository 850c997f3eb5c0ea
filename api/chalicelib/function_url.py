"""The ingest door: a Lambda function URL in front of the recorder's routes, free per request.

API Gateway's REST API bills $3.50 a million requests, which made it the largest line of
a recording's cost; a function URL bills nothing beyond the invocation. The recorder's
four routes (create, events, its key's controls, a policy's block report) are served
there too; the site and everything signed-in stay on the REST API, which keeps its
stage throttle and gateway responses (docs/architecture.md, "The ingest door").

A function URL delivers payload format 2.0 (``rawPath``, ``requestContext.http``) and
routes nothing; Chalice dispatches on API Gateway's format 1.0 (``resourcePath``,
``pathParameters``). ``handle`` matches the path against the app's own route table,
limited to ``ROUTES``, builds the 1.0 event API Gateway would have sent, lets the app
answer it (middleware, CORS and errors included), and turns the answer back into 2.0.
A path or method outside ``ROUTES`` gets the REST API's own 404 for a path no route has.
"""

from __future__ import annotations

import base64
import json
import urllib.parse
from collections.abc import Mapping
from typing import Any

from . import observability

# The recorder's routes, and the preflight of each (the app answers OPTIONS itself).
ROUTES: Mapping[str, frozenset[str]] = {
    "/recordings": frozenset({"POST", "OPTIONS"}),
    "/recordings/{recording_id}/events": frozenset({"POST", "OPTIONS"}),
    "/controls": frozenset({"GET", "OPTIONS"}),
    "/blocked": frozenset({"GET", "OPTIONS"}),
}
NOT_FOUND = {"error": {"code": "not_found", "message": "no route matches this path"}}


def match(path: str, routes: Mapping[str, frozenset[str]] = ROUTES) -> tuple[str, dict[str, str]] | None:
    """The route template ``path`` falls under and its path parameters, as API Gateway matches them.

    A ``{name}`` segment takes one whole, non-empty segment; literal segments must be
    equal. Parameters are percent-decoded, as API Gateway passes them.
    """
    parts = path.split("/")
    for template in routes:
        pattern = template.split("/")
        if len(pattern) != len(parts):
            continue
        params: dict[str, str] = {}
        for expected, actual in zip(pattern, parts, strict=True):
            if expected.startswith("{") and expected.endswith("}"):
                if not actual:
                    break
                params[expected[1:-1]] = urllib.parse.unquote(actual)
            elif expected != actual:
                break
        else:
            return template, params
    return None


def rest_event(event: Mapping[str, Any], template: str, params: dict[str, str]) -> dict[str, Any]:
    """The format 1.0 event API Gateway's REST API sends for the same request."""
    http = event["requestContext"]["http"]
    headers = {name.lower(): value for name, value in (event.get("headers") or {}).items()}
    query: dict[str, list[str]] = {}
    for name, value in urllib.parse.parse_qsl(event.get("rawQueryString") or "", keep_blank_values=True):
        query.setdefault(name, []).append(value)
    return {
        "resource": template,
        "path": event.get("rawPath", "/"),
        "httpMethod": http["method"],
        "headers": headers,
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "queryStringParameters": {name: values[-1] for name, values in query.items()} or None,
        "multiValueQueryStringParameters": query or None,
        "pathParameters": params or None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": template,
            "httpMethod": http["method"],
            "path": event.get("rawPath", "/"),
            "stage": "$default",
            "requestId": event["requestContext"].get("requestId", ""),
            "identity": {"sourceIp": http.get("sourceIp"), "userAgent": http.get("userAgent")},
        },
        "body": event.get("body"),
        "isBase64Encoded": bool(event.get("isBase64Encoded")),
    }


def url_response(response: Mapping[str, Any]) -> dict[str, Any]:
    """A format 1.0 answer as a function URL takes it: one header value per name, cookies apart."""
    headers = {name: str(value) for name, value in (response.get("headers") or {}).items()}
    cookies: list[str] = []
    for name, values in (response.get("multiValueHeaders") or {}).items():
        if name.lower() == "set-cookie":
            cookies += [str(value) for value in values]
        else:
            headers[name] = ", ".join(str(value) for value in values)
    answer: dict[str, Any] = {
        "statusCode": int(response.get("statusCode", 200)),
        "headers": headers,
        "body": response.get("body") or "",
        "isBase64Encoded": bool(response.get("isBase64Encoded")),
    }
    if cookies:
        answer["cookies"] = cookies
    return answer


def not_found() -> dict[str, Any]:
    """The REST API's answer to a path no route has (its MISSING_AUTHENTICATION_TOKEN, reshaped)."""
    return {
        "statusCode": 404,
        "headers": {"Content-Type": "application/json", "Access-Control-Allow-Origin": "*"},
        "body": json.dumps(NOT_FOUND),
        "isBase64Encoded": False,
    }


def handle(app: Any, event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    """Answer one function URL request with the app's own route, or 404 outside the recorder's routes."""
    method = event["requestContext"]["http"]["method"]
    matched = match(event.get("rawPath") or "/")
    if matched is None or method not in ROUTES[matched[0]]:
        return not_found()
    with observability.successes_unlogged():
        return url_response(app(rest_event(event, *matched), context))


def url_event(
    *,
    method: str,
    path: str,
    query: str,
    headers: Mapping[str, str],
    body: bytes,
    source_ip: str,
    request_id: str,
) -> dict[str, Any]:
    """The format 2.0 event a function URL delivers for an HTTP request (the local stack's door).

    As on AWS: header names lower-cased, repeated ones joined with commas; a text body
    (``text/*``, JSON, XML, JavaScript) as a UTF-8 string, decoded with replacement as
    Lambda does, anything else base64-encoded.
    """
    joined: dict[str, str] = {}
    for name, value in headers.items():
        key = name.lower()
        joined[key] = f"{joined[key]},{value}" if key in joined else value
    content_type = joined.get("content-type", "").split(";", 1)[0].strip().lower()
    text = content_type.startswith("text/") or content_type in (
        "application/json",
        "application/xml",
        "application/javascript",
    )
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": joined,
        "queryStringParameters": {
            name: ",".join(values) for name, values in urllib.parse.parse_qs(query, keep_blank_values=True).items()
        }
        or None,
        "requestContext": {
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": joined.get("user-agent", ""),
            },
            "requestId": request_id,
            "routeKey": "$default",
            "stage": "$default",
        },
        "body": (body.decode("utf-8", errors="replace") if text else base64.b64encode(body).decode()) if body else None,
        "isBase64Encoded": bool(body) and not text,
    }
