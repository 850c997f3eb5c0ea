"""Structured logs: one JSON line per request, and exceptions without their text.

Powertools' Logger writes one JSON object per line to stdout, which Lambda sends to
the function's log group as is. What a line may hold is fixed here: the request id,
the method, the route template, status and duration, and for a failure the
exception's type and where it was raised. Bodies, query strings, headers, concrete
paths and exception messages never reach it: any of them can carry an ingest key
(``?ingestKey=rrk_...``), a bearer token or recorded page content.

``install(app)`` wires both halves: the request middleware, and a filter on Chalice's
own logger, which otherwise logs an unhandled exception's full traceback, message
included.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from aws_lambda_powertools import Logger
from chalice.app import Chalice, Request, Response

SERVICE = "rrweb-s3-storage"

logger = Logger(service=SERVICE)
# Where the line was written is the same for every request line: 26 bytes of each,
# billed per GB by CloudWatch Logs, that say nothing.
logger.remove_keys(["location"])
# The level Powertools chose (POWERTOOLS_LOG_LEVEL, else INFO), kept to undo Chalice's.
_LEVEL = logger.log_level

# API Gateway's request ids are UUIDs; anything else (or nothing: the local stack has
# none) is replaced by a generated id rather than logged as given.
_REQUEST_ID = re.compile(r"[A-Za-z0-9-]{1,128}")
# A route template as API Gateway and Chalice name it: ``/recordings/{recording_id}``.
_ROUTE = re.compile(r"/[A-Za-z0-9_{}+./-]{0,255}")
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# An AWS error code (``ProvisionedThroughputExceededException``): a name, never data.
_ERROR_CODE = re.compile(r"[A-Za-z0-9.]{1,128}")
UNKNOWN = "-"
# The request being handled, for exceptions Chalice catches and logs itself.
_CURRENT_REQUEST_ID: ContextVar[str | None] = ContextVar("rrweb_request_id", default=None)
# Set while the ingest door (the function URL) answers: its fast successes go unlogged.
_QUIET_SUCCESSES: ContextVar[bool] = ContextVar("rrweb_quiet_successes", default=False)
# A success at least this slow is logged even there.
SLOW_MS = 1000.0


def install(app: Chalice) -> None:
    """Log every request of ``app`` as one line, and its unhandled exceptions by type and place."""
    app.register_middleware(log_request, "http")
    app.log.addFilter(ExceptionsByTypeAndPlace())
    if app.log is logging.getLogger(SERVICE):
        # An app named after the service shares this logger. Created before this module
        # was imported, Chalice gave it a text handler (every line printed a second
        # time, unstructured) and the level ERROR (no request line at all): undo both.
        for handler in list(app.log.handlers):
            if handler is not logger.logger_handler:
                app.log.removeHandler(handler)
        app.log.setLevel(_LEVEL)


class ExceptionsByTypeAndPlace(logging.Filter):
    """Replace a log record that carries an exception with ``log_exception``'s line.

    Chalice answers an exception raised by a route with a 500 and logs it with its
    traceback, whose last line is the exception's message; on a logger with this
    filter that record is dropped and the exception is logged without its text.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if error is None:
            return True
        log_exception(error, request_id=_CURRENT_REQUEST_ID.get() or uuid.uuid4().hex)
        return False


def request_id(request: Request) -> str:
    """API Gateway's id for this request when it has one, else a new random id."""
    context = getattr(request, "context", None)
    given = context.get("requestId") if isinstance(context, dict) else None
    if isinstance(given, str) and _REQUEST_ID.fullmatch(given):
        return given
    return uuid.uuid4().hex


def route(request: Request) -> str:
    """The route template the request matched (never the concrete path, which holds ids)."""
    context = getattr(request, "context", None)
    template = context.get("resourcePath") if isinstance(context, dict) else None
    return template if isinstance(template, str) and _ROUTE.fullmatch(template) else UNKNOWN


def method(request: Request) -> str:
    """The HTTP method, when it is one."""
    value = getattr(request, "method", None)
    return value if isinstance(value, str) and value in _METHODS else UNKNOWN


def log_request(event: Request, get_response: Callable[[Request], Response]) -> Response:
    """Chalice HTTP middleware: one log line per request, whatever happens to logging.

    An exception from the route is logged (type and place) and raised again, so the
    app answers exactly as it would without this middleware; Chalice turns an
    exception that leaves every middleware into a 500, which is the status logged.
    """
    started = time.perf_counter()
    rid = request_id(event)
    token = _CURRENT_REQUEST_ID.set(rid)
    try:
        response = get_response(event)
    except Exception as error:
        _log_line(event, rid, status=500, started=started, error=error)
        raise
    finally:
        _CURRENT_REQUEST_ID.reset(token)
    _log_line(event, rid, status=getattr(response, "status_code", None), started=started)
    return response


@contextmanager
def successes_unlogged() -> Iterator[None]:
    """Inside, a request answered below 400 in under ``SLOW_MS`` writes no line.

    For the recorder's door: a line holds no recording id (only the route template), so
    for a success it says nothing that the function URL's metrics (``UrlRequestCount``,
    ``UrlRequestLatency``, by status class ``Url4xxCount`` and ``Url5xxCount``) do not,
    and it would be billed for every batch (docs/cost.md). Refusals, failures and slow
    answers are logged as everywhere.
    """
    token = _QUIET_SUCCESSES.set(True)
    try:
        yield
    finally:
        _QUIET_SUCCESSES.reset(token)


def log_exception(error: BaseException, *, request_id: str) -> None:
    """Log an exception by type and place only, never by message.

    Messages and arguments can quote what failed to parse or store: a batch, a key, a
    token. The type, the file and line it was raised at, and an AWS error code say
    enough to find the cause in the code. Never raises.
    """
    try:
        fields: dict[str, Any] = {"requestId": request_id, "error": _type_name(error), "where": _where(error)}
        code = _aws_error_code(error)
        if code is not None:
            fields["errorCode"] = code
        logger.error("exception", extra=fields)
    except Exception:  # noqa: S110 (a lost log line must never fail the request)
        pass


def _log_line(
    event: Request, rid: str, *, status: int | None, started: float, error: BaseException | None = None
) -> None:
    try:
        if error is not None:
            log_exception(error, request_id=rid)
        elapsed_ms = (time.perf_counter() - started) * 1000
        if _QUIET_SUCCESSES.get() and isinstance(status, int) and status < 400 and elapsed_ms < SLOW_MS:
            return
        fields: dict[str, Any] = {
            "requestId": rid,
            "method": method(event),
            "route": route(event),
            "status": status if isinstance(status, int) else None,
            "durationMs": round(elapsed_ms, 1),
        }
        if error is not None:
            fields["error"] = _type_name(error)
        # Server errors at ERROR level, so a filter on level finds them.
        if isinstance(status, int) and status >= 500:
            logger.error("request", extra=fields)
        else:
            logger.info("request", extra=fields)
    except Exception:  # noqa: S110 (a lost log line must never fail the request)
        pass


def _type_name(error: BaseException) -> str:
    kind = type(error)
    return kind.__qualname__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"


def _where(error: BaseException) -> str:
    """``chalicelib/events.py:42 in put``: the innermost frame the exception passed through."""
    trace = error.__traceback__
    if trace is None:
        return UNKNOWN
    while trace.tb_next is not None:
        trace = trace.tb_next
    code = trace.tb_frame.f_code
    return f"{'/'.join(Path(code.co_filename).parts[-2:])}:{trace.tb_lineno} in {code.co_name}"


def _aws_error_code(error: BaseException) -> str | None:
    """botocore's ``ClientError`` code, when the exception carries one."""
    response = getattr(error, "response", None)
    if not isinstance(response, dict):
        return None
    code = response.get("Error", {}).get("Code")
    return code if isinstance(code, str) and _ERROR_CODE.fullmatch(code) else None
