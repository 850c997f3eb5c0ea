"""Who is acting: one authorizer for every route, identical locally and on AWS.

Credentials are an ``Authorization: Bearer`` header holding either a Cognito access
token (a signed-in user: every route) or an ingest key (``rrk_...``: create recordings
and post events only). Browsers' ``sendBeacon`` cannot set headers, so an ingest key
may also come as the ``ingestKey`` query parameter. Every authenticated request is
charged before any work is done (``limits.py``): an ingest key to its own budget (a site's
traffic: the stack's default, or what the key was given), a user to theirs; a request to
an ingest route also to its visitor's limits (its recording and its client address).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from chalice.app import Request

from .errors import ForbiddenError, UnauthorizedError
from .keys import PREFIX, Keys
from .limits import RateLimiter, VisitorLimits
from .settings import Limits
from .tokens import TokenVerifier

PUBLIC = "public"
USER = "user"
INGEST = "ingest"
# Cognito subs are UUIDs; the owner id becomes part of S3 keys, so it is checked.
_OWNER = re.compile(r"\A[A-Za-z0-9-]{1,64}\Z")


@dataclass(frozen=True)
class Principal:
    """The owner a request acts for, and with which credential."""

    owner: str
    kind: str  # "user" or "key"
    key_id: str | None = None


def _credential(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise UnauthorizedError("use Authorization: Bearer <access token or ingest key>")
        return value.strip()
    value = (request.query_params or {}).get("ingestKey")
    # URLs end up in logs and browser history: only a write-only ingest key, which
    # every recorded page already holds, may travel there, never an access token.
    if value is not None and not value.startswith(PREFIX):
        raise UnauthorizedError("only an ingest key may be sent in the URL; send tokens as Authorization: Bearer")
    return value


class Authenticator:
    """Turns a request's credentials into a ``Principal`` (or a 401/403/429)."""

    def __init__(
        self,
        *,
        verifier: TokenVerifier,
        keys: Keys,
        limiter: RateLimiter,
        limits: Limits,
        visitors: VisitorLimits | None = None,
    ) -> None:
        self._verifier = verifier
        self._keys = keys
        self._limiter = limiter
        self._limits = limits
        self._visitors = visitors or VisitorLimits(
            recording_per_minute=limits.recording_requests, client_per_minute=limits.client_requests
        )

    def authenticate(self, request: Request, *, access: str) -> Principal:
        """The principal for a route of the given access level."""
        credential = _credential(request)
        if credential is None:
            raise UnauthorizedError("sign in, or present an ingest key")
        if access == INGEST:
            # Before any AWS call: a flood from one page or address costs nothing.
            identity = (request.context or {}).get("identity") or {}
            self._visitors.charge(
                recording=(request.uri_params or {}).get("recording_id"), client=identity.get("sourceIp")
            )
        body_bytes = len(request.raw_body or b"")
        if credential.startswith(PREFIX):
            key = self._keys.verify(credential)
            if access != INGEST:
                raise ForbiddenError("ingest keys may only create recordings and post events")
            # A key is a site's budget; an owner's keys are at most MAX_KEYS_PER_OWNER,
            # each within key_requests_max, so minting keys cannot grow it without bound.
            self._limiter.charge(
                f"key#{key.key_id}",
                body_bytes=body_bytes,
                max_requests=key.requests_per_minute or self._limits.key_requests,
                max_bytes=key.bytes_per_minute or self._limits.key_bytes,
            )
            return Principal(owner=key.owner, kind="key", key_id=key.key_id)
        if credential.startswith("rrk"):
            raise UnauthorizedError("malformed ingest key")
        owner = self._verifier.verify(credential)["sub"]
        if not isinstance(owner, str) or not _OWNER.match(owner):
            raise UnauthorizedError("token subject is not a valid owner id")
        self._limiter.charge(
            f"user#{owner}",
            body_bytes=body_bytes,
            max_requests=self._limits.user_requests,
            max_bytes=self._limits.user_bytes,
        )
        return Principal(owner=owner, kind="user")
