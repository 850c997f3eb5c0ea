"""HTTP plumbing shared by routes: error conversion and the JSON error shape."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

from chalice.app import Response

from .errors import ApiError

logger = logging.getLogger("rrweb")

JSON = {"Content-Type": "application/json"}


def error_response(code: str, message: str, status: int, headers: dict[str, str] | None = None) -> Response:
    """The one error shape: ``{"error": {"code", "message"}}``."""
    return Response(
        body={"error": {"code": code, "message": message}},
        status_code=status,
        headers={**JSON, **(headers or {})},
    )


def api_errors(view: Callable[..., Any]) -> Callable[..., Any]:
    """Turn ``ApiError`` raised anywhere below a route into its JSON response."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return view(*args, **kwargs)
        except ApiError as exc:
            return error_response(exc.code, exc.message, exc.status, exc.headers)

    return wrapper


def normalise_framework_errors(response: Response) -> Response:
    """Rewrite Chalice's own errors (415, 500, ...) into the API's error shape.

    Unhandled exceptions are logged with their traceback by Chalice; the client only
    sees a generic message.
    """
    body = response.body
    if response.status_code >= 400 and isinstance(body, dict) and set(body) == {"Code", "Message"}:
        code = str(body["Code"])
        message = str(body["Message"])
        if response.status_code >= 500:
            logger.error("internal error answered with %s", response.status_code)
            message = "internal error"
        return error_response(_snake(code), message, response.status_code, _non_body_headers(response))
    return response


def _non_body_headers(response: Response) -> dict[str, str]:
    return {k: v for k, v in response.headers.items() if k.lower() != "content-type"}


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() and i else c.lower() for i, c in enumerate(name))
