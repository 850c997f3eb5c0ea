"""Request reading as strict as API Gateway's, for the local stack's HTTP servers (API and site).

On AWS, API Gateway parses every request before the function sees a byte of it: a
malformed request line or header, a body above its limit, a length it cannot trust
or a client too slow to finish its request are refused there. The standard library's
``BaseHTTPRequestHandler`` (under Chalice's local server and the site's file server)
is lenient: it waits forever for a request line's end, accepts ``Content-Length: +5``,
lets whoever reads the body trust ``Content-Length`` next to ``Transfer-Encoding``
(a second request hidden in the body then runs), and answers a garbage request line
without a status line. ``StrictRequestHandler`` reads each request itself instead:

- the head (request line and headers) must arrive within ``head_timeout`` of its
  first byte and stay within ``MAX_HEAD_BYTES``; a byte no request line or header may
  hold (NUL, other controls) is refused as soon as it arrives;
- a connection with no request for ``idle_timeout`` is closed;
- the body is framed by one plain-digits ``Content-Length`` alone, refused above
  ``max_body_bytes`` before any of it is read (a client sending ``Expect:
  100-continue`` never sends it), and read whole, within a deadline that grows with
  its length, before the request is handled;
- every refusal is exactly one answer in the API's error shape
  (``{"error": {"code": ..., "message": ...}}``) with ``Connection: close``, after
  which the connection is closed: nothing after a refused request is ever read as a
  request.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import socket
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import Any

# API Gateway (REST) takes at most 10,240 bytes of request line and header values
# together; the same bound here, counted the same way.
MAX_HEAD_BYTES = 10240
# What is read of a head at most, names and separators included, before refusing it.
_MAX_RAW_HEAD_BYTES = 16 * 1024
_MAX_HEADERS = 100
# Blank lines a client may send before a request line (RFC 9112 2.2), at most.
_MAX_LEADING_BLANK = 8
# After a refusal, what the client may still be sending is read and dropped for this
# long (at most this much), so that closing the connection does not reset it before
# the client reads the answer.
_LINGER_SECONDS = 2.0
_LINGER_BYTES = 1 << 20

_TOKEN = rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_REQUEST_LINE = re.compile(rb"(" + _TOKEN + rb") ([\x21-\x7e]+) HTTP/([0-9])\.([0-9])")
_HEADER_LINE = re.compile(rb"(" + _TOKEN + rb"):[ \t]*(.*?)[ \t]*")
# Bytes no request line or header may hold (a tab only in header values, CR only
# before LF, both checked per line).
_FORBIDDEN = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

_ERROR_CODES = {
    HTTPStatus.BAD_REQUEST: "bad_request",
    HTTPStatus.NOT_FOUND: "not_found",
    HTTPStatus.METHOD_NOT_ALLOWED: "method_not_allowed",
    HTTPStatus.REQUEST_TIMEOUT: "request_timeout",
    HTTPStatus.LENGTH_REQUIRED: "length_required",
    HTTPStatus.REQUEST_ENTITY_TOO_LARGE: "body_too_large",
    HTTPStatus.REQUEST_URI_TOO_LONG: "uri_too_long",
    HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE: "headers_too_large",
    HTTPStatus.HTTP_VERSION_NOT_SUPPORTED: "http_version_not_supported",
    HTTPStatus.SERVICE_UNAVAILABLE: "unavailable",
}


class RefusedError(Exception):
    """A request refused before it is handled: its answer."""

    def __init__(self, status: HTTPStatus, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code or _ERROR_CODES.get(status, "bad_request")
        self.message = message


class StrictRequestHandler(BaseHTTPRequestHandler):
    """Reads, checks and frames each request before ``dispatch`` handles it.

    Subclasses set ``max_body_bytes`` (0: no request may carry a body) and may
    override ``admit``/``release`` (around a request that will be handled) and
    ``dispatch`` (which by default calls ``do_<METHOD>``). The request's body is
    ``self.body``.
    """

    # Seconds a connection may wait for its next request's first byte.
    idle_timeout: float = 30.0
    # Seconds from a request's first byte to the end of its headers.
    head_timeout: float = 20.0
    # Seconds a body may take, plus one per ``body_min_rate`` bytes of it.
    body_timeout: float = 20.0
    body_min_rate: int = 64 * 1024
    # Seconds an answer may take to leave.
    write_timeout: float = 30.0
    max_body_bytes: int = 0
    # StreamRequestHandler's default read buffering makes it a buffered reader: ``peek``
    # waits for a byte without taking it.
    rfile: io.BufferedReader

    body: bytes = b""
    _unread = True

    def handle_one_request(self) -> None:
        """Read one request, refuse it or hand it to ``dispatch``; exactly one answer either way."""
        self.close_connection = True
        self.command, self.path, self.requestline = "", "", ""
        self.request_version = "HTTP/1.1"
        self.body = b""
        self._unread = True
        admitted = False
        try:
            head = self._read_head()
            if head is None:
                return  # idle, or the client left: nothing to answer
            length = self._parse(head)
            admitted = self.admit()
            if not admitted:
                self.close_connection = True
                return  # dropped unanswered: see admit()
            if length:
                if self.headers.get("Expect", "").lower() == "100-continue" and self.request_version >= "HTTP/1.1":
                    self.send_response_only(HTTPStatus.CONTINUE)
                    self.end_headers()
                self.body = self._read_body(length)
            self._unread = False
            self.connection.settimeout(self.write_timeout)
            self.dispatch()
            self.wfile.flush()
        except RefusedError as refused:
            self.refuse(refused)
        except _ClientGoneError:
            self.close_connection = True
        except TimeoutError as e:
            self.log_error("answer timed out: %r", e)
            self.close_connection = True
        finally:
            if admitted:
                self.release()

    def admit(self) -> bool:
        """Whether a well-formed request is handled; False drops it unanswered."""
        return True

    def release(self) -> None:
        """The admitted request is over."""

    def dispatch(self) -> None:
        """Handle the checked request (its body read whole into ``self.body``)."""
        getattr(self, "do_" + self.command)()

    # --- reading -----------------------------------------------------------------------

    def _read_head(self) -> bytes | None:
        self.connection.settimeout(self.idle_timeout)
        try:
            if not self.rfile.peek(1):
                return None
        except OSError:  # TimeoutError included: an idle connection is closed quietly
            return None
        deadline = time.monotonic() + self.head_timeout
        head = bytearray()
        blank = 0
        while True:
            data = self._peek(deadline, "the request's head")
            if not data:
                raise RefusedError(HTTPStatus.BAD_REQUEST, "the connection ended inside the request's head")
            if not head and data[:1] in (b"\r", b"\n"):
                blank += 1
                if blank > _MAX_LEADING_BLANK * 2:
                    raise RefusedError(HTTPStatus.BAD_REQUEST, "blank lines where a request line belongs")
                self.rfile.read(1)
                continue
            window = bytes(head[-3:]) + data
            ends = [i + n for i, n in ((window.find(b"\n\r\n"), 3), (window.find(b"\n\n"), 2)) if i >= 0]
            take = (min(ends) - len(window) + len(data)) if ends else len(data)
            part = data[:take]
            if _FORBIDDEN.search(part):
                raise RefusedError(HTTPStatus.BAD_REQUEST, "the request holds a control character")
            if len(head) + len(part) > _MAX_RAW_HEAD_BYTES:
                if b"\n" not in head + part:
                    raise RefusedError(HTTPStatus.REQUEST_URI_TOO_LONG, "the request line is too long")
                raise RefusedError(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "the request's headers are too large")
            head += self.rfile.read(len(part))
            if ends:
                return bytes(head)

    def _read_body(self, length: int) -> bytes:
        deadline = time.monotonic() + self.body_timeout + length / self.body_min_rate
        chunks: list[bytes] = []
        received = 0
        while received < length:
            self._peek(deadline, "the request's body")
            chunk = self.rfile.read1(min(length - received, 1 << 16))
            if not chunk:
                raise RefusedError(HTTPStatus.BAD_REQUEST, "the body ended before its Content-Length")
            chunks.append(chunk)
            received += len(chunk)
        return b"".join(chunks)

    def _peek(self, deadline: float, what: str) -> bytes:
        """What is buffered, or one read of the socket, never waiting past ``deadline``."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise RefusedError(HTTPStatus.REQUEST_TIMEOUT, f"{what} took too long to arrive")
        self.connection.settimeout(remaining)
        try:
            return self.rfile.peek(1)
        except TimeoutError:
            raise RefusedError(HTTPStatus.REQUEST_TIMEOUT, f"{what} took too long to arrive") from None
        except OSError:
            raise _ClientGoneError from None

    # --- parsing -----------------------------------------------------------------------

    def _parse(self, head: bytes) -> int:
        """Set the request's line, version, headers and keep-alive; returns the body's length."""
        lines = [line[:-1] if line.endswith(b"\r") else line for line in head.split(b"\n")[:-2]]
        if any(b"\r" in line for line in lines):
            raise RefusedError(HTTPStatus.BAD_REQUEST, "a bare CR in the request's head")
        request_line = lines[0]
        self.requestline = request_line.decode("latin-1")
        if len(request_line) > MAX_HEAD_BYTES:
            raise RefusedError(HTTPStatus.REQUEST_URI_TOO_LONG, "the request line is too long")
        matched = _REQUEST_LINE.fullmatch(request_line)
        if matched is None:
            raise RefusedError(HTTPStatus.BAD_REQUEST, "a malformed request line")
        method, target, major, minor = (part.decode("latin-1") for part in matched.groups())
        if major != "1":
            raise RefusedError(HTTPStatus.HTTP_VERSION_NOT_SUPPORTED, f"HTTP/{major}.{minor} is not supported")
        self.command, self.path = method, target
        self.request_version = "HTTP/1.0" if minor == "0" else "HTTP/1.1"

        if len(lines) - 1 > _MAX_HEADERS:
            raise RefusedError(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "too many headers")
        headers = self.MessageClass()
        size = len(request_line)
        for line in lines[1:]:
            field = _HEADER_LINE.fullmatch(line)
            if field is None:
                # Folded (obs-fold), spaced before its colon, or no colon at all.
                raise RefusedError(HTTPStatus.BAD_REQUEST, "a malformed header line")
            name, value = (part.decode("latin-1") for part in field.groups())
            size += len(value)
            headers[name] = value
        if size > MAX_HEAD_BYTES:
            raise RefusedError(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "the request's headers are too large")
        self.headers = headers

        if self.request_version >= "HTTP/1.1" and self.protocol_version >= "HTTP/1.1":
            self.close_connection = False
        connection = headers.get("Connection", "").lower()
        if connection == "close":
            self.close_connection = True
        elif connection == "keep-alive" and self.protocol_version >= "HTTP/1.1":
            self.close_connection = False

        if len(headers.get_all("Host") or []) > 1:
            raise RefusedError(HTTPStatus.BAD_REQUEST, "more than one Host header")
        if not hasattr(self, "do_" + method):
            raise RefusedError(HTTPStatus.METHOD_NOT_ALLOWED, f"method {method[:32]!r} is not allowed")
        return self._body_length(headers)

    def _body_length(self, headers: Any) -> int:
        lengths = headers.get_all("Content-Length") or []
        if headers.get_all("Transfer-Encoding"):
            if lengths:
                # Which of the two frames the body is what request smuggling exploits.
                raise RefusedError(HTTPStatus.BAD_REQUEST, "Content-Length and Transfer-Encoding together")
            raise RefusedError(HTTPStatus.LENGTH_REQUIRED, "send the body with a Content-Length (no Transfer-Encoding)")
        if not lengths:
            return 0
        if len(lengths) > 1:
            raise RefusedError(HTTPStatus.BAD_REQUEST, "more than one Content-Length", code="invalid_content_length")
        value = lengths[0]
        if not (value.isascii() and value.isdigit()):
            raise RefusedError(HTTPStatus.BAD_REQUEST, "Content-Length is not a number", code="invalid_content_length")
        digits = value.lstrip("0")
        if len(digits) > 18 or int(digits or "0") > self.max_body_bytes:
            raise RefusedError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"request body exceeds {self.max_body_bytes} bytes")
        return int(digits or "0")

    # --- answering ---------------------------------------------------------------------

    def refuse(self, refused: RefusedError) -> None:
        """Answer a refused request and end the connection (nothing after it is read)."""
        self.log_error("code %d, message %s", refused.status, refused.message)
        self.close_connection = True
        headers = {"Allow": self.allowed_methods()} if refused.status == HTTPStatus.METHOD_NOT_ALLOWED else {}
        with contextlib.suppress(OSError):
            self.connection.settimeout(self.write_timeout)
            self.send_json(refused.status, {"error": {"code": refused.code, "message": refused.message}}, headers)
            self.wfile.flush()
            if self._unread:
                self._linger()

    def send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        """One JSON answer (no body to HEAD)."""
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """The base classes' errors (a missing file, say) in the same shape, ending the connection."""
        status = HTTPStatus(code)
        if status == HTTPStatus.NOT_IMPLEMENTED:
            status = HTTPStatus.METHOD_NOT_ALLOWED
        self.refuse(RefusedError(status, status.description or status.phrase))

    def allowed_methods(self) -> str:
        """The ``Allow`` header of a 405: the methods this handler has."""
        return ", ".join(sorted(name[3:] for name in dir(self) if name.startswith("do_")))

    def _linger(self) -> None:
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_WR)
            deadline = time.monotonic() + _LINGER_SECONDS
            dropped = 0
            while dropped < _LINGER_BYTES and (remaining := deadline - time.monotonic()) > 0:
                self.connection.settimeout(remaining)
                chunk = self.connection.recv(65536)
                if not chunk:
                    return
                dropped += len(chunk)


class _ClientGoneError(Exception):
    """The client closed or reset the connection: there is no one to answer."""
