"""Who is acting. Every route asks ``current_owner``; the accounts work replaces it."""

from __future__ import annotations

from chalice.app import Request

from .settings import get_settings


def current_owner(request: Request) -> str:
    """The owner a request acts for: for now, the one owner the stack is configured with."""
    del request  # identity comes from the request once sign-in exists
    return get_settings().default_owner
