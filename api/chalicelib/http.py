"""HTTP plumbing shared by routes: the endpoint decorator, errors and CORS."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from chalice import Chalice
from chalice.app import Request, Response

from .auth import INGEST, PUBLIC, Principal
from .cors import ANY, SITE, CorsPolicy
from .errors import ApiError, transient_aws_error

logger = logging.getLogger("rrweb")


def json_headers() -> dict[str, str | list[str]]:
    """Headers of a JSON response: a new dict each time, since responses get CORS headers added."""
    return {"Content-Type": "application/json"}


def error_response(
    code: str, message: str, status: int, headers: Mapping[str, str | list[str]] | None = None
) -> Response:
    """The one error shape: ``{"error": {"code", "message"}}``."""
    return Response(
        body={"error": {"code": code, "message": message}},
        status_code=status,
        headers={**json_headers(), **(headers or {})},
    )


def endpoint(
    app: Chalice, *, access: str, cors: str | None = None, authenticate: Callable[..., Principal]
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Authenticate (unless public), pass the ``Principal`` in, turn ``ApiError`` into JSON.

    ``cors`` is who may call the route from a browser: ``any`` origin for ingest routes,
    otherwise only the site (``site``), unless said.
    """
    audience = cors or (ANY if access == INGEST else SITE)

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def wrapper(**kwargs: Any) -> Any:
            try:
                if access != PUBLIC:
                    kwargs["principal"] = authenticate(app.current_request, access=access)
                return view(**kwargs)
            except ApiError as exc:
                return error_response(exc.code, exc.message, exc.status, exc.headers)
            except (ClientError, BotoCoreError) as exc:
                unavailable = transient_aws_error(exc)
                if unavailable is None:
                    raise
                logger.warning("dependency busy: %s", type(exc).__name__)
                return error_response(unavailable.code, unavailable.message, unavailable.status, unavailable.headers)

        wrapper.cors_audience = audience  # type: ignore[attr-defined]
        return wrapper

    return decorate


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
        headers = {k: v for k, v in response.headers.items() if k.lower() != "content-type"}
        return error_response(_snake(code), message, response.status_code, headers)
    return response


def _audience(app: Chalice, path: str, method: str) -> str | None:
    entry = app.routes.get(path, {}).get(method)
    return getattr(entry.view_function, "cors_audience", None) if entry else None


def with_cors(app: Chalice, policy: CorsPolicy, request: Request, response: Response) -> Response:
    """Add the CORS headers the route's audience and the caller's Origin call for."""
    origin = request.headers.get("origin")
    path = (request.context or {}).get("resourcePath", "")
    if request.method == "OPTIONS":
        audiences = {
            method: audience
            for method in app.routes.get(path, {})
            if method != "OPTIONS" and (audience := _audience(app, path, method)) is not None
        }
        headers = policy.preflight_headers(audiences, origin)
    else:
        audience = _audience(app, path, request.method)
        headers = policy.response_headers(audience, origin) if audience else {}
    # A new dict: a response's headers may be a dict shared with other responses.
    response.headers = {**response.headers, **headers}
    return response


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() and i else c.lower() for i, c in enumerate(name))
