"""The local stack's HTTP servers read requests as strictly as API Gateway, over raw sockets.

The API's server (Chalice's, behind the stack's request handler) runs in this process
with a small app of its own, so each test sees exactly which requests reached a route;
the site's server serves a folder made for the test.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from chalice import Chalice
from chalice.config import Config

import local  # noqa: F401  (puts api/ on the import path)
from chalicelib import settings
from local import site
from local.site import SiteServer
from local.stack import ApiHTTPServer, Intake, api_server

# Short enough for a test, far below what the tests give the server to act.
SHORT = 0.5
PATIENCE = 10.0


@dataclass
class Api:
    port: int
    handler: type
    calls: list[str] = field(default_factory=list)
    problem: list[str] = field(default_factory=list)


def _app(calls: list[str]) -> Chalice:
    app = Chalice(app_name="strict-http")

    @app.route("/health", methods=["GET"])
    def health() -> dict[str, str]:
        calls.append("health")
        return {"status": "ok"}

    @app.route("/echo", methods=["POST"], content_types=["application/json", "application/octet-stream"])
    def echo() -> dict[str, int]:
        calls.append("echo")
        request = app.current_request
        assert request is not None  # set by Chalice before it calls a route
        return {"bytes": len(request.raw_body or b"")}

    @app.route("/smuggled", methods=["GET"])
    def smuggled() -> dict[str, str]:
        calls.append("smuggled")
        return {}

    return app


@pytest.fixture
def api() -> Iterator[Api]:
    calls: list[str] = []
    problem: list[str] = []
    server = api_server(
        _app(calls),
        Config.create(chalice_stage="dev", app_name="strict-http"),
        host="127.0.0.1",
        port=0,
        intake=Intake(),
        health=lambda: problem[0] if problem else None,
    )
    thread = threading.Thread(target=server.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Api(
            port=server.server.server_address[1],
            handler=server.server.RequestHandlerClass.func,
            calls=calls,
            problem=problem,
        )
    finally:
        server.server.shutdown()
        server.server.server_close()


def connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=PATIENCE)


def read_all(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received


def responses(data: bytes) -> list[tuple[int, dict[str, str], bytes]]:
    """The responses in what a server sent, each framed by its Content-Length."""
    parsed = []
    while data:
        head, separator, rest = data.partition(b"\r\n\r\n")
        assert separator, f"a response without a complete head: {data[:200]!r}"
        lines = head.decode("latin-1").split("\r\n")
        assert lines[0].startswith("HTTP/1."), f"no status line: {data[:200]!r}"
        headers = {name.lower(): value.strip() for name, value in (line.split(":", 1) for line in lines[1:])}
        length = int(headers.get("content-length", "0"))
        parsed.append((int(lines[0].split()[1]), headers, rest[:length]))
        data = rest[length:]
    return parsed


def exchange(port: int, request: bytes) -> list[tuple[int, dict[str, str], bytes]]:
    """Send the bytes, read until the server closes; the responses it sent."""
    with connect(port) as sock:
        sock.sendall(request)
        return responses(read_all(sock))


def one_refusal(answers: list[tuple[int, dict[str, str], bytes]], status: int, code: str) -> None:
    """Exactly one answer: the refusal, in the API's error shape, closing the connection."""
    assert len(answers) == 1, answers
    (got, headers, body) = answers[0]
    assert got == status, answers
    assert json.loads(body)["error"]["code"] == code, body
    assert json.loads(body)["error"]["message"]
    assert headers["connection"] == "close"
    assert headers["content-type"] == "application/json"


def post(length: str | None, body: bytes = b"", *, extra: bytes = b"") -> bytes:
    framing = b"" if length is None else b"Content-Length: " + length.encode() + b"\r\n"
    return (
        b"POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        + framing
        + extra
        + b"Connection: close\r\n\r\n"
        + body
    )


def test_a_body_over_the_apis_limit_is_refused_before_a_byte_of_it_is_sent(api: Api) -> None:
    for length in (settings.MAX_BODY_BYTES + 1, 1 << 30):
        with connect(api.port) as sock:
            sock.sendall(post(str(length)))  # the head alone: the answer must not wait for the body
            one_refusal(responses(read_all(sock)), 413, "body_too_large")
    # Expect: 100-continue is answered with the refusal, never with "send it".
    with connect(api.port) as sock:
        sock.sendall(post(str(settings.MAX_BODY_BYTES + 1), extra=b"Expect: 100-continue\r\n"))
        one_refusal(responses(read_all(sock)), 413, "body_too_large")
    assert api.calls == []
    # A body of exactly the limit still reaches the route whole.
    body = b"[" + b" " * (settings.MAX_BODY_BYTES - 2) + b"]"
    ((status, _, answer),) = exchange(api.port, post(str(len(body)), body))
    assert (status, json.loads(answer)) == (200, {"bytes": settings.MAX_BODY_BYTES})


@pytest.mark.parametrize("length", ["abc", "+5", "-1", "5 5", "5, 5", "0x5", "5.0", ""])
def test_a_content_length_that_is_not_plain_digits_gets_one_400(api: Api, length: str) -> None:
    one_refusal(exchange(api.port, post(length, b"[1,2]")), 400, "invalid_content_length")
    assert api.calls == []


def test_two_content_lengths_get_one_400(api: Api) -> None:
    request = post("5", b"[1,2][1,2,3]", extra=b"Content-Length: 12\r\n")
    one_refusal(exchange(api.port, request), 400, "invalid_content_length")
    assert api.calls == []


def test_content_length_with_transfer_encoding_is_refused_and_nothing_is_smuggled(api: Api) -> None:
    smuggled = b"GET /smuggled HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    for first, second in (
        (b"Content-Length: 5", b"Transfer-Encoding: chunked"),
        (b"Transfer-Encoding: chunked", b"Content-Length: 5"),
    ):
        request = (
            b"POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            + first
            + b"\r\n"
            + second
            + b"\r\n\r\n0\r\n\r\n"
            + smuggled
        )
        one_refusal(exchange(api.port, request), 400, "bad_request")
    assert api.calls == []


def test_a_chunked_body_is_refused_with_411_and_never_read_as_requests(api: Api) -> None:
    chunk = b"GET /smuggled HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    request = (
        b"POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n" + f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n0\r\n\r\n"
    )
    one_refusal(exchange(api.port, request), 411, "length_required")
    assert api.calls == []


@pytest.mark.parametrize(
    "request_bytes",
    [
        pytest.param(b"\x00", id="a NUL byte"),
        pytest.param(b"GET /health HTTP/1.1\r\nHost: x\x00y\r\n\r\n", id="NUL in a header"),
        pytest.param(b"GET /health HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n", id="header without colon"),
        pytest.param(b"GET /health HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n folded\r\n\r\n", id="folded header"),
        pytest.param(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length : 2\r\n\r\n[]", id="space before colon"),
        pytest.param(b"GET /health HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", id="two hosts"),
        pytest.param(b"GET /health\r\n\r\n", id="HTTP/0.9"),
        pytest.param(b"GET  /health HTTP/1.1\r\n\r\n", id="two spaces"),
    ],
)
def test_a_malformed_request_gets_exactly_one_400(api: Api, request_bytes: bytes) -> None:
    with connect(api.port) as sock:
        sock.sendall(request_bytes)  # no end of head for the NUL: it is refused as it arrives
        one_refusal(responses(read_all(sock)), 400, "bad_request")
    assert api.calls == []


def test_headers_over_api_gateways_limit_get_431(api: Api) -> None:
    padding = b"".join(b"X-Pad-%d: %s\r\n" % (i, b"p" * 1000) for i in range(12))
    request = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n" + padding + b"\r\n"
    one_refusal(exchange(api.port, request), 431, "headers_too_large")
    assert api.calls == []


def test_a_client_sending_its_headers_slowly_is_cut_off(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(api.handler, "head_timeout", SHORT, raising=False)
    drip = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 100
    with connect(api.port) as sock:
        received = _drip(sock, drip)
    one_refusal(responses(received), 408, "request_timeout")
    assert api.calls == []


def test_an_idle_connection_is_closed(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(api.handler, "idle_timeout", SHORT, raising=False)
    with connect(api.port) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        ((status, headers, _),) = responses(_read_response(sock))
        assert (status, headers.get("connection")) == (200, None)  # kept alive...
        assert sock.recv(1) == b""  # ...until it idles


def test_an_unknown_route_gets_the_error_shape(api: Api) -> None:
    for request in (
        b"GET /no/such/route HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
        b"GET /nothing HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer x\r\nConnection: close\r\n\r\n",
    ):
        ((status, _, body),) = exchange(api.port, request)
        assert status == 404
        assert json.loads(body)["error"]["code"] == "not_found"


@pytest.mark.parametrize("path", [b"/health", b"/echo", b"/no/such/route"])
def test_an_answer_to_head_has_no_body_so_the_next_answer_is_read_as_sent(api: Api, path: bytes) -> None:
    with connect(api.port) as sock:
        sock.sendall(
            b"HEAD " + path + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
            b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        )
        data = read_all(sock)
    # A client reads no body after HEAD, whatever Content-Length says: the next answer starts there.
    head, _, rest = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 ")
    assert rest.startswith(b"HTTP/1.1 200 "), data
    assert json.loads(responses(rest)[0][2]) == {"status": "ok"}


def test_health_reports_the_embedded_aws(api: Api) -> None:
    request = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    ((status, _, _),) = exchange(api.port, request)
    assert status == 200
    api.problem.append("the embedded AWS (moto) exited with code -9; restart the stack")
    ((status, headers, body),) = exchange(api.port, request)
    assert status == 503
    assert json.loads(body)["error"] == {"code": "unavailable", "message": api.problem[0]}
    assert int(headers["retry-after"]) >= 1


def test_a_burst_of_connections_waits_in_the_listen_backlog() -> None:
    # Nothing accepts: every connection of the burst must still be queued by the kernel.
    server = api_server(
        _app([]),
        Config.create(chalice_stage="dev", app_name="strict-http"),
        host="127.0.0.1",
        port=0,
        intake=Intake(),
        health=lambda: None,
    )
    sockets = []
    try:
        for _ in range(100):
            sockets.append(socket.create_connection(server.server.server_address, timeout=PATIENCE / 5))
    finally:
        for sock in sockets:
            sock.close()
        server.server.server_close()
    assert len(sockets) == 100


def test_connections_past_the_cap_get_503_and_a_freed_slot_serves_again(api: Api) -> None:
    """Each connection may hold a body and a thread before anything authenticates it: their number is capped."""
    cap = ApiHTTPServer.max_connections
    held = [connect(api.port) for _ in range(cap)]
    try:
        # Each holds its slot: a head arrives, its body never does.
        for sock in held:
            sock.sendall(b"POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000\r\n\r\n")
        time.sleep(0.3)
        ((status, headers, body),) = exchange(api.port, b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert status == 503
        assert headers["retry-after"] == "1"
        assert json.loads(body)["error"]["code"] == "unavailable"
        assert "health" not in api.calls
    finally:
        for sock in held:
            sock.close()
    time.sleep(0.3)
    ((status, _, _),) = exchange(api.port, b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    assert status == 200


# --- the site ------------------------------------------------------------------------


@pytest.fixture
def site_port(tmp_path: Path) -> Iterator[int]:
    (tmp_path / "assets" / "fonts").mkdir(parents=True)
    (tmp_path / "assets" / "app.js").write_text("console.log(1)")
    (tmp_path / "index.html").write_text("<!doctype html><title>site</title>")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = SiteServer(host="127.0.0.1", port=port, config={"apiUrl": "x"}, directory=tmp_path)
    server.start()
    try:
        yield port
    finally:
        server.stop()


def get(port: int, path: str) -> list[tuple[int, dict[str, str], bytes]]:
    return exchange(port, f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())


def test_the_site_lists_no_folder(site_port: int) -> None:
    for path in ("/assets/", "/assets", "/assets/fonts/"):
        ((status, _, body),) = get(site_port, path)
        assert status == 404, path
        assert b"app.js" not in body
    ((status, _, body),) = get(site_port, "/assets/app.js")
    assert (status, body) == (200, b"console.log(1)")
    ((status, _, body),) = get(site_port, "/")
    assert (status, body) == (200, b"<!doctype html><title>site</title>")


def test_a_missing_page_is_the_sites_own_404_page(site_port: int, tmp_path: Path) -> None:
    (tmp_path / "404.html").write_text("<!doctype html><title>Page not found</title>")
    for path in ("/no-such-page", "/assets/nope.js", "/assets/"):
        ((status, headers, body),) = get(site_port, path)
        assert (status, body) == (404, b"<!doctype html><title>Page not found</title>"), path
        assert headers["content-type"] == "text/html; charset=utf-8"
    # A malformed request still gets the error shape, not a page.
    ((status, headers, _),) = exchange(site_port, b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    assert status == 405
    assert headers["content-type"] == "application/json"


def test_the_built_site_has_its_404_page() -> None:
    page = (site.SITE_DIR / site.NOT_FOUND_PAGE).read_text()
    assert "Page not found" in page
    assert 'href="/index.html"' in page


@pytest.mark.parametrize("request_bytes", [b"\x00", b"\x00\r\n\r\n", b"NONSENSE\r\n\r\n", b"GET / HTTP/1.1 x\r\n\r\n"])
def test_the_site_answers_a_nul_byte_or_a_garbage_request_line_with_400(site_port: int, request_bytes: bytes) -> None:
    with connect(site_port) as sock:
        sock.sendall(request_bytes)
        one_refusal(responses(read_all(sock)), 400, "bad_request")


def test_the_site_times_out_idle_and_slow_clients(site_port: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(site.SiteRequestHandler, "idle_timeout", SHORT, raising=False)
    monkeypatch.setattr(site.SiteRequestHandler, "head_timeout", SHORT, raising=False)
    with connect(site_port) as sock:
        assert sock.recv(1) == b""  # an idle connection is closed
    with connect(site_port) as sock:
        received = _drip(sock, b"GET /index.html HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 100)
    one_refusal(responses(received), 408, "request_timeout")


def _drip(sock: socket.socket, data: bytes) -> bytes:
    """Send one byte at a time, slowly, until the server ends the connection; what it sent.

    Fails if the server lets the whole drip (PATIENCE seconds) go on.
    """
    deadline = time.monotonic() + PATIENCE
    sock.settimeout(0.1)
    for byte in data:
        assert time.monotonic() < deadline, "the server kept waiting for a slow client"
        try:
            sock.sendall(bytes([byte]))
        except OSError:
            break  # the server closed: what it sent is still to be read
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            continue
        sock.settimeout(PATIENCE)
        return chunk + read_all(sock)
    else:
        pytest.fail("the server kept waiting for a slow client")
    sock.settimeout(PATIENCE)
    return read_all(sock)


def _read_response(sock: socket.socket) -> bytes:
    """One response with a Content-Length, read without waiting for the connection's end."""
    received = b""
    while b"\r\n\r\n" not in received:
        received += sock.recv(65536)
    head, _, body = received.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        body += sock.recv(65536)
    return head + b"\r\n\r\n" + body
