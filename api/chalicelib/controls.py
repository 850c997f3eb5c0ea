"""A key's recording controls (what the recorder records with it) and allowed origins, set in the site.

The recorder's controls (docs/recorder.md) are options of the snippet; an admin may also
set them on a key (``PATCH /keys/{id}``), and a snippet that says so (``data-key-controls``)
reads them (``GET /controls``) before it starts, so they change without touching the
recorded site. A key's control replaces the snippet's option of the same name. Every
field is optional; an unknown field or a value the recorder could not use is refused
whole (400), so nothing half-valid is ever stored.

A key's ``allowedOrigins`` (``https://shop.example``, ``https://*.shop.example``) are the
pages that may use it: a browser request with another ``Origin`` is refused (403
``origin_not_allowed``, noted for the keys page), so another site cannot record into the
owner's account with a key copied from their pages. A request without an ``Origin``
(not from a page's script: a server, a tool) is not refused: it could send any ``Origin``
it likes, so the check would keep out nobody.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from .errors import BadRequestError

# Bounds: what a recorder can honour in a page's memory and a person can maintain.
MAX_URL_RULES = 20
MAX_URL_RULE_LENGTH = 500
MAX_MINIMUM_DURATION_MS = 10 * 60 * 1000
MAX_ON_ERROR_BUFFER_MS = 5 * 60 * 1000
LEVELS = ("error", "warn", "info", "log")
# A URL pattern as the recorder matches it against a page's whole URL: one that starts
# otherwise, or holds a space, matches no page and would silently record nothing.
_RULE = re.compile(r"\A(?:https?://|\*)\S*\Z")
# A sample rate's precision: finer is no use to a person, and DynamoDB keeps no number below 1e-130.
_RATE_DIGITS = 6
FIELDS = (
    "sampleRate",
    "urlAllow",
    "urlDeny",
    "minimumDurationMs",
    "onErrorBufferMs",
    "onErrorLevels",
    "maskAllText",
    "blockMedia",
)


def _refused(message: str) -> BadRequestError:
    return BadRequestError(message, code="invalid_controls")


def _whole(value: Any, name: str, most: int) -> int:
    if type(value) is not int or not 0 <= value <= most:
        raise _refused(f"{name} must be a whole number of milliseconds from 0 to {most}")
    return value


def _rules(value: Any, name: str) -> list[str]:
    if not isinstance(value, list) or len(value) > MAX_URL_RULES:
        raise _refused(f"{name} must be a list of at most {MAX_URL_RULES} URL patterns")
    for rule in value:
        if not isinstance(rule, str) or not 1 <= len(rule) <= MAX_URL_RULE_LENGTH or not _RULE.match(rule):
            raise _refused(
                f"each of {name} must be a URL pattern of 1 to {MAX_URL_RULE_LENGTH} characters starting with "
                f"https://, http:// or * (`*` a wildcard), without spaces; {str(rule)[:60]!r} is not"
            )
    return list(dict.fromkeys(value))


def parse(body: Any, current: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """``{"sampleRate", "urlAllow", ...}`` merged into the ``current`` controls (JSON merge patch), checked whole.

    A control given a value sets it, one given null clears it, one left out keeps its
    value; a body of null clears them all. 400 ``invalid_controls`` for anything else.
    Returns the controls as they are to be stored (None: none left).
    """
    if body is None:
        return None
    if not isinstance(body, dict):
        raise _refused("controls must be an object (or null to clear them)")
    unknown = sorted(set(body) - set(FIELDS))
    if unknown:
        raise _refused(f"unknown control {unknown[0]!r}; the controls are {', '.join(FIELDS)}")
    controls: dict[str, Any] = dict(current or {})
    for name, value in body.items():
        if value is None:
            controls.pop(name, None)
            continue
        if name == "sampleRate":
            if type(value) not in (int, float) or not 0 <= value <= 1:
                raise _refused("sampleRate must be a number from 0 to 1")
            controls[name] = round(float(value), _RATE_DIGITS)
        elif name in ("urlAllow", "urlDeny"):
            controls[name] = _rules(value, name)
        elif name == "minimumDurationMs":
            controls[name] = _whole(value, name, MAX_MINIMUM_DURATION_MS)
        elif name == "onErrorBufferMs":
            controls[name] = _whole(value, name, MAX_ON_ERROR_BUFFER_MS)
        elif name == "onErrorLevels":
            if not isinstance(value, list) or not value or any(level not in LEVELS for level in value):
                raise _refused(f"onErrorLevels must be a non-empty list of {', '.join(LEVELS)}")
            controls[name] = list(dict.fromkeys(value))
        elif not isinstance(value, bool):
            raise _refused(f"{name} must be true or false")
        else:
            controls[name] = value
    return controls or None


def stored(item: dict[str, Any]) -> dict[str, Any]:
    """A key item's controls as the API answers them (DynamoDB gives numbers back as Decimal)."""
    controls = item.get("controls") or {}
    answer: dict[str, Any] = {}
    for name, value in controls.items():
        if name == "sampleRate":
            answer[name] = float(value)
        elif name in ("minimumDurationMs", "onErrorBufferMs"):
            answer[name] = int(value)
        else:
            answer[name] = value
    return answer


def for_dynamodb(controls: dict[str, Any]) -> dict[str, Any]:
    """The controls as a DynamoDB map (no floats: a sample rate as Decimal)."""
    return {name: Decimal(str(value)) if name == "sampleRate" else value for name, value in controls.items()}


MAX_ORIGINS = 20
_ORIGIN = re.compile(r"\A(https?)://(\*\.)?([a-z0-9-]+(?:\.[a-z0-9-]+)*)(?::(\d{1,5}))?\Z")


def parse_origins(value: Any) -> list[str] | None:
    """``["https://shop.example", "https://*.shop.example", ...]`` checked whole (400); None or [] allows any."""
    if value is None:
        return None
    if not isinstance(value, list) or len(value) > MAX_ORIGINS:
        raise BadRequestError(f"allowedOrigins must be a list of at most {MAX_ORIGINS} origins", code="invalid_origins")
    origins = []
    for entry in value:
        origin = entry.lower().rstrip("/") if isinstance(entry, str) else ""
        if len(origin) > 200 or not _ORIGIN.match(origin):
            raise BadRequestError(
                "each of allowedOrigins must be an origin such as https://shop.example or https://*.shop.example "
                "(scheme, host and optional port; no path)",
                code="invalid_origins",
            )
        origins.append(origin)
    return list(dict.fromkeys(origins)) or None


def origin_allowed(origins: list[str], origin: str) -> bool:
    """Whether a request's ``Origin`` is one of ``origins`` (a ``*.`` entry: any subdomain, not the domain itself)."""
    asked = _ORIGIN.match(origin.lower())
    if asked is None or asked.group(2):
        return False
    scheme, _, host, port = asked.groups()
    for allowed in origins:
        rule = _ORIGIN.match(allowed)
        if rule is None or (rule.group(1), rule.group(4)) != (scheme, port):
            continue
        if host == rule.group(3) if not rule.group(2) else host.endswith("." + rule.group(3)):
            return True
    return False


# What a page's policy may have blocked, as securitypolicyviolation names it.
# Only the recorder's own requests to the API are reported, and the keys page says which
# origin to allow from the site's own configuration, never from the report: a forged
# report can then only repeat the true advice.
DIRECTIVES = ("connect-src", "default-src")


def blocked_report(directive: str | None, uri: str | None) -> tuple[str, str]:
    """A recorder's CSP report: the directive that blocked it and the blocked URL's origin (400 otherwise)."""
    if directive not in DIRECTIVES:
        raise BadRequestError(f"directive must be one of {', '.join(DIRECTIVES)}", code="invalid_report")
    origin = (uri or "").lower().rstrip("/")
    if len(origin) > 200 or not _ORIGIN.match(origin) or "*" in origin:
        raise BadRequestError("uri must be the blocked origin, such as https://api.example", code="invalid_report")
    return directive, origin


def is_origin(value: str) -> bool:
    """Whether ``value`` is shaped as an origin (scheme, host, optional port), at most 200 characters."""
    return len(value) <= 200 and _ORIGIN.match(value.lower()) is not None and "*" not in value
