"""A key's recording controls: what the recorder records with that key, set in the site.

The recorder's controls (docs/recorder.md) are options of the snippet; an admin may also
set them on a key (``PATCH /keys/{id}``), and a snippet that says so (``data-key-controls``)
reads them (``GET /controls``) before it starts, so they change without touching the
recorded site. A key's control replaces the snippet's option of the same name. Every
field is optional; an unknown field or a value the recorder could not use is refused
whole (400), so nothing half-valid is ever stored.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from .errors import BadRequestError

# Bounds: what a recorder can honour in a page's memory and a person can maintain.
MAX_URL_RULES = 20
MAX_URL_RULE_LENGTH = 500
MAX_MINIMUM_DURATION_MS = 10 * 60 * 1000
MAX_ON_ERROR_BUFFER_MS = 5 * 60 * 1000
LEVELS = ("error", "warn", "info", "log")
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
        if not isinstance(rule, str) or not 1 <= len(rule) <= MAX_URL_RULE_LENGTH or rule.strip() != rule:
            raise _refused(
                f"each of {name} must be a URL pattern of 1 to {MAX_URL_RULE_LENGTH} characters (`*` a wildcard), "
                "without surrounding spaces"
            )
    return list(dict.fromkeys(value))


def parse(body: Any) -> dict[str, Any] | None:
    """``{"sampleRate", "urlAllow", ...}`` checked whole (400 ``invalid_controls``); None or {} clears them."""
    if body is None:
        return None
    if not isinstance(body, dict):
        raise _refused("controls must be an object (or null to clear them)")
    unknown = sorted(set(body) - set(FIELDS))
    if unknown:
        raise _refused(f"unknown control {unknown[0]!r}; the controls are {', '.join(FIELDS)}")
    controls: dict[str, Any] = {}
    for name, value in body.items():
        if value is None:
            continue
        if name == "sampleRate":
            if type(value) not in (int, float) or not 0 <= value <= 1:
                raise _refused("sampleRate must be a number from 0 to 1")
            controls[name] = value
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
