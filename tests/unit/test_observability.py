"""Request logs: one JSON object per line, with the request id, and never a secret."""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from chalice import Chalice, Response
from chalice.app import Request
from chalice.test import Client

from bench import cost
from chalicelib import observability

KEY = "rrk_AbCdEf0123456789_secret-part"
TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1c2VyLTQyIn0.c2lnbmF0dXJl"
PAGE_SECRET = "card 4111 1111 1111 1111"
API_GATEWAY_REQUEST_ID = "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"
ROUTE = "/recordings/{recording_id}/events"


def demo_app() -> Chalice:
    """A minimal app with request logging installed, a route that answers and one that fails."""
    app = Chalice(app_name="observability-test")
    observability.install(app)

    @app.route(ROUTE, methods=["POST"], content_types=["application/json", "text/plain"])
    def post_events(recording_id: str) -> Response:
        del recording_id
        return Response(body={"accepted": True}, status_code=202)

    @app.route("/fails", methods=["POST"], content_types=["application/json"])
    def fails() -> Response:
        request = app.current_request
        assert request is not None  # set by Chalice before it calls a route
        # The kind of message a parser or client library writes: it quotes the input.
        raise ValueError(f"cannot parse {request.raw_body!r} for {KEY}")

    return app


def api_gateway_event(*, path: str, resource: str, body: str, query: dict[str, str]) -> dict[str, Any]:
    """An API Gateway REST proxy event, as Lambda receives it."""
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json", "X-Ingest-Key": KEY}
    return {
        "resource": resource,
        "path": path,
        "httpMethod": "POST",
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": query,
        "multiValueQueryStringParameters": {k: [v] for k, v in query.items()},
        "pathParameters": {"recording_id": "rec_12345678"} if "{recording_id}" in resource else None,
        "stageVariables": None,
        "requestContext": {
            "requestId": API_GATEWAY_REQUEST_ID,
            "resourcePath": resource,
            "httpMethod": "POST",
            "path": f"/api{path}",
            "stage": "api",
            "identity": {"sourceIp": "203.0.113.7"},
        },
        "body": body,
        "isBase64Encoded": False,
    }


@pytest.fixture
def log_lines() -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """What the module's own logger writes, parsed line by line (each must be one JSON object)."""
    buffer = io.StringIO()
    handler = observability.logger.logger_handler
    assert isinstance(handler, logging.StreamHandler)  # Powertools' default handler writes to a stream
    previous = handler.setStream(buffer)

    def lines() -> list[dict[str, Any]]:
        text = buffer.getvalue()
        for secret in (KEY, TOKEN, PAGE_SECRET, "ingestKey", "Bearer"):
            assert secret not in text, f"the log holds {secret!r}"
        return [json.loads(line) for line in text.splitlines()]

    yield lines
    handler.setStream(previous)


def test_a_request_on_aws_is_one_json_line_with_api_gateways_request_id_and_no_secret(
    log_lines: Callable[[], list[dict[str, Any]]],
) -> None:
    body = json.dumps({"seq": 0, "events": [{"type": 3, "data": {"text": PAGE_SECRET}}], "key": KEY})
    event = api_gateway_event(
        path="/recordings/rec_12345678/events", resource=ROUTE, body=body, query={"ingestKey": KEY}
    )

    response = demo_app()(event, None)

    assert response["statusCode"] == 202
    (line,) = log_lines()
    assert line["service"] == "rrweb-s3-storage"
    assert line["level"] == "INFO"
    assert line["message"] == "request"
    assert line["requestId"] == API_GATEWAY_REQUEST_ID
    assert (line["method"], line["route"], line["status"]) == ("POST", ROUTE, 202)
    assert isinstance(line["durationMs"], float)
    assert line["durationMs"] >= 0
    # The concrete path (it holds the recording id) stays out too.
    assert "rec_12345678" not in json.dumps(line)
    # What the cost model prices (bench/cost.py, LOG_BYTES["api"], with CloudWatch's 26
    # bytes per event): the line, and nothing that is the same on every line.
    assert "location" not in line
    assert len(json.dumps(line, separators=(",", ":"))) + 26 <= cost.LOG_BYTES["api"]


def test_without_an_api_gateway_request_id_one_is_generated(log_lines: Callable[[], list[dict[str, Any]]]) -> None:
    client = Client(demo_app())
    for _ in range(2):
        client.http.post(
            f"/recordings/rec_12345678/events?ingestKey={KEY}",
            headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "text/plain"},
            body=json.dumps({"seq": 1, "events": [{"data": PAGE_SECRET}]}),
        )

    first, second = log_lines()
    assert first["route"] == ROUTE
    assert len(first["requestId"]) == 32
    assert int(first["requestId"], 16) >= 0
    assert first["requestId"] != second["requestId"]


def test_a_forged_request_id_is_not_logged_as_given(log_lines: Callable[[], list[dict[str, Any]]]) -> None:
    event = api_gateway_event(path="/recordings/rec_12345678/events", resource=ROUTE, body="{}", query={})
    event["requestContext"]["requestId"] = f"id {KEY}"

    demo_app()(event, None)

    (line,) = log_lines()
    assert line["requestId"] != event["requestContext"]["requestId"]


def test_a_failing_route_logs_the_exception_type_and_place_without_its_message(
    log_lines: Callable[[], list[dict[str, Any]]],
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    event = api_gateway_event(path="/fails", resource="/fails", body=json.dumps({"x": PAGE_SECRET}), query={})

    response = demo_app()(event, None)

    assert response["statusCode"] == 500
    # Chalice's own traceback (which ends with the message) is not logged anywhere.
    printed = capsys.readouterr()
    for text in (printed.out, printed.err, caplog.text):
        assert KEY not in text
        assert PAGE_SECRET not in text
    exception, request = log_lines()
    assert exception["message"] == "exception"
    assert exception["level"] == "ERROR"
    assert exception["requestId"] == request["requestId"] == API_GATEWAY_REQUEST_ID
    assert exception["error"] == "ValueError"
    assert exception["where"].startswith("unit/test_observability.py:")
    assert exception["where"].endswith(" in fails")
    assert "cannot parse" not in json.dumps(exception)
    assert (request["status"], request["level"]) == (500, "ERROR")


def test_an_exception_escaping_other_middleware_is_logged_and_raised_again(
    log_lines: Callable[[], list[dict[str, Any]]],
) -> None:
    event = api_gateway_event(path="/recordings/rec_12345678/events", resource=ROUTE, body="{}", query={})

    def broken(request: Any) -> Response:
        raise KeyError(KEY)

    request = Request(event)
    with pytest.raises(KeyError):
        observability.log_request(request, broken)

    exception, line = log_lines()
    assert exception["error"] == "KeyError"
    assert exception["where"].endswith(" in broken")
    assert (line["status"], line["error"], line["route"]) == (500, "KeyError", ROUTE)
    assert exception["requestId"] == line["requestId"] == API_GATEWAY_REQUEST_ID


def test_an_aws_error_is_logged_with_its_code_and_not_its_message(
    log_lines: Callable[[], list[dict[str, Any]]],
) -> None:
    error = ClientError(
        {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": f"item {KEY} too hot"}}, "PutItem"
    )

    observability.log_exception(error, request_id="abc-123")

    (line,) = log_lines()
    assert line["error"] == "botocore.exceptions.ClientError"
    assert line["errorCode"] == "ProvisionedThroughputExceededException"
    # Never raised, so it has no place.
    assert line["where"] == "-"


def test_a_failure_to_log_never_fails_the_request(monkeypatch: pytest.MonkeyPatch) -> None:
    class BrokenLogger:
        def info(self, *args: Any, **kwargs: Any) -> None:
            raise OSError("log stream closed")

        error = info

    monkeypatch.setattr(observability, "logger", BrokenLogger())
    app = demo_app()
    ok = api_gateway_event(path="/recordings/rec_12345678/events", resource=ROUTE, body="{}", query={})
    failing = api_gateway_event(path="/fails", resource="/fails", body="{}", query={})

    assert app(ok, None)["statusCode"] == 202
    assert app(failing, None)["statusCode"] == 500
    observability.log_exception(RuntimeError("x"), request_id="abc")


@pytest.fixture
def service_logger() -> Iterator[logging.Logger]:
    """The logger Chalice and Powertools share, put back as it was after the test."""
    shared = logging.getLogger(observability.SERVICE)
    state = (list(shared.handlers), list(shared.filters), shared.level, shared.propagate)
    yield shared
    shared.handlers[:], shared.filters[:], shared.level, shared.propagate = state


def test_an_app_named_after_the_service_prints_each_line_once_as_json(
    log_lines: Callable[[], list[dict[str, Any]]], capsys: pytest.CaptureFixture[str], service_logger: logging.Logger
) -> None:
    app = Chalice(app_name=observability.SERVICE)
    assert app.log is service_logger
    # As Chalice configures an app created before this module's logger existed.
    app.log.addHandler(logging.StreamHandler(sys.stdout))
    app.log.setLevel(logging.ERROR)
    observability.install(app)

    @app.route("/health", methods=["GET"])
    def health() -> dict[str, str]:
        app.log.info("framework line")
        return {"status": "ok"}

    Client(app).http.get("/health")

    framework, request = log_lines()
    assert framework["message"] == "framework line"
    assert (request["route"], request["status"]) == ("/health", 200)
    assert capsys.readouterr().out == ""


def url_request(app: Chalice, *, content_type: str = "application/json") -> int:
    """POST a batch to ``app`` through the ingest door (its function URL), as Lambda delivers it."""
    from chalicelib import function_url

    event = function_url.url_event(
        method="POST",
        path="/recordings/rec_12345678/events",
        query="",
        headers={"Content-Type": content_type},
        body=b'{"seq": 0, "events": []}',
        source_ip="203.0.113.7",
        request_id="url-request-1",
    )
    return int(function_url.handle(app, event, None)["statusCode"])


def test_the_ingest_door_logs_refusals_and_slow_answers_but_not_each_fast_success(
    log_lines: Callable[[], list[dict[str, Any]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    app = demo_app()
    assert url_request(app) == 202
    assert log_lines() == [], "a fast 202 of the door: the function URL's metrics count it"
    assert url_request(app, content_type="image/png") == 415
    (refused,) = log_lines()
    assert (refused["route"], refused["status"]) == (ROUTE, 415)
    monkeypatch.setattr(observability, "SLOW_MS", 0.0)
    assert url_request(app) == 202
    slow = log_lines()[-1]
    assert (slow["route"], slow["status"]) == (ROUTE, 202)
    # The site's routes (through API Gateway) log every request, successes too.
    monkeypatch.setattr(observability, "SLOW_MS", 1000.0)
    event = api_gateway_event(path="/recordings/rec_12345678/events", resource=ROUTE, body="{}", query={})
    assert demo_app()(event, None)["statusCode"] == 202
    assert log_lines()[-1]["status"] == 202
