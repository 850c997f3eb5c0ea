"""Who is acting: one authorizer for every route, identical locally and on AWS.

Credentials are an ``Authorization: Bearer`` header holding either a Cognito access
token (a signed-in user: every route) or an ingest key (``rrk_...``: create recordings
and post events only). Browsers' ``sendBeacon`` cannot set headers, so an ingest key
may also come as the ``ingestKey`` query parameter.

What a request is charged, and when (``limits.py``). An ingest key is public (it sits in
every recorded page), so nothing is charged to a key, an owner or a recording before
the request is authenticated, nor to a budget of bytes before its body is found
acceptable. A request to an ingest route goes, in this order, through:

1. its client address (API Gateway's ``requestContext.identity.sourceIp``, or the viewer's
   for a request the stack's CloudFront proved it sent: ``clients.py``): one request and
   the bytes it sent, whatever happens next; the only charge of a refused request;
2. what its length and headers alone refuse: a body over the size limit (413), an
   encoding that is not gzip or identity (415);
3. authentication (401, 403);
4. the body's own checks (inflate, validate: 400, 413), in the route (``ingest.py``),
   unless this function already knows the key's or user's budget is spent (429);
5. ``Principal.admit``: the recording's bucket (its owner and id) and the key's or
   user's budget, requests and bytes; then the write.

Any other route is authenticated, then charged to the user's budget at once.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial

from chalice.app import Request

from . import ingest, workspaces
from .clients import client_address
from .errors import ForbiddenError, UnauthorizedError
from .keys import PREFIX, Keys
from .limits import RateLimiter, VisitorLimits
from .settings import Limits
from .tokens import TokenVerifier
from .workspaces import Workspaces

PUBLIC = "public"
USER = "user"
INGEST = "ingest"
# Cognito subs are UUIDs; the owner id becomes part of S3 keys, so it is checked.
_OWNER = re.compile(r"\A[A-Za-z0-9-]{1,64}\Z")


@dataclass(frozen=True)
class Principal:
    """The owner a request acts for, and with which credential."""

    # The workspace acted in (``workspaces.py``): a user's own id for their personal one.
    owner: str
    kind: str  # "user" or "key"
    key_id: str | None = None
    # A signed-in user: who, their role in the workspace ("admin" or "member"), and the
    # access token they sent (for Cognito calls made on their behalf; never logged).
    user: str | None = None
    role: str | None = None
    token: str | None = field(default=None, compare=False, repr=False)
    # Ingest routes: what charges the request once its body is found acceptable (recording
    # id, requests it weighs), and bytes it lets the browser upload.
    charge: Callable[[str, int], None] | None = field(default=None, compare=False, repr=False)
    charge_bytes: Callable[[int], None] | None = field(default=None, compare=False, repr=False)

    def require_admin(self) -> None:
        """403 unless a workspace admin acts (keys, members, settings and deleting are theirs)."""
        if self.kind != "user" or self.role != workspaces.ADMIN:
            raise ForbiddenError("only a workspace admin may do this", code="admin_only")

    def admit(self, recording_id: str, *, requests: int = 1) -> None:
        """Charge an ingest request whose body was found acceptable: its recording's bucket, then its budget.

        ``requests`` is what the request weighs against the budget's requests: one, or
        more for one that costs the stack several calls (``assets.lookup_requests``).
        429 when the budget is spent. Other routes were charged when authenticated: a no-op.
        """
        if self.charge is not None:
            self.charge(recording_id, requests)

    def admit_uploads(self, upload_bytes: int) -> None:
        """Charge bytes an admitted request's answer lets the browser send straight to S3 (page assets).

        They count against an upload budget of their own, as large as the byte budget of
        bodies (no request more); 429 when spent. Their own: a question only claims its
        bytes, and spending that budget must never keep the recording's batches out.
        """
        if self.charge_bytes is not None and upload_bytes:
            self.charge_bytes(upload_bytes)


def _credential(request: Request) -> str | None:
    header: str | None = request.headers.get("authorization")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise UnauthorizedError("use Authorization: Bearer <access token or ingest key>")
        return value.strip()
    query: Mapping[str, str] = request.query_params or {}
    in_url = query.get("ingestKey")
    # URLs end up in logs and browser history: only a write-only ingest key, which
    # every recorded page already holds, may travel there, never an access token.
    if in_url is not None and not in_url.startswith(PREFIX):
        raise UnauthorizedError("only an ingest key may be sent in the URL; send tokens as Authorization: Bearer")
    return in_url


class Authenticator:
    """Turns a request's credentials into a ``Principal`` (or a 401/403/413/415/429); see the module's docstring."""

    def __init__(
        self,
        *,
        verifier: TokenVerifier,
        keys: Keys,
        limiter: RateLimiter,
        limits: Limits,
        workspaces: Workspaces,
        visitors: VisitorLimits | None = None,
        origin_secret: str | None = None,
    ) -> None:
        self._verifier = verifier
        self._workspaces = workspaces
        self._origin_secret = origin_secret
        self._keys = keys
        self._limiter = limiter
        self._limits = limits
        self._visitors = visitors or VisitorLimits(
            recording_per_minute=limits.recording_requests,
            client_per_minute=limits.client_requests,
            client_bytes_per_minute=limits.client_bytes,
        )

    def client_address(self, request: Request) -> str | None:
        """The address the per-address limits count this request against (``clients.py``)."""
        return client_address(request, origin_secret=self._origin_secret)

    def authenticate(self, request: Request, *, access: str) -> Principal:
        """The principal for a route of the given access level."""
        body_bytes = len(request.raw_body or b"")
        if access == INGEST:
            # Before any AWS call, and whatever the request turns out to be: a flood
            # from one address costs that address, and nothing else.
            self._visitors.charge(client=self.client_address(request), body_bytes=body_bytes)
            ingest.screen(body_bytes, request.headers.get("content-encoding"))
        credential = _credential(request)
        if credential is None:
            raise UnauthorizedError("sign in, or present an ingest key")
        if credential.startswith(PREFIX):
            key = self._keys.verify(credential, origin=request.headers.get("origin"))
            if access != INGEST:
                raise ForbiddenError(
                    "ingest keys may only create recordings, post events, ask about assets and read their controls"
                )
            # A key is a site's budget; an owner's keys are at most MAX_KEYS_PER_OWNER,
            # each within key_requests_max, so minting keys cannot grow it without bound.
            budget = _Budget(
                principal=f"key#{key.key_id}",
                max_requests=key.requests_per_minute or self._limits.key_requests,
                max_bytes=key.bytes_per_minute or self._limits.key_bytes,
            )
            charge, charge_bytes = self._deferred(key.owner, budget, body_bytes)
            return Principal(owner=key.owner, kind="key", key_id=key.key_id, charge=charge, charge_bytes=charge_bytes)
        if credential.startswith("rrk"):
            raise UnauthorizedError("malformed ingest key")
        claims = self._verifier.verify(credential)
        user = claims["sub"]
        if not isinstance(user, str) or not _OWNER.match(user):
            raise UnauthorizedError("token subject is not a valid owner id")
        budget = _Budget(
            principal=f"user#{user}", max_requests=self._limits.user_requests, max_bytes=self._limits.user_bytes
        )
        workspace = workspaces.requested(request.headers.get(workspaces.HEADER), user)
        if access == INGEST:
            charge, charge_bytes = self._deferred(user, budget, body_bytes)
            role = self._workspaces.require(workspace, user)
            return Principal(
                owner=workspace, kind="user", user=user, role=role, charge=charge, charge_bytes=charge_bytes
            )
        self._limiter.charge(
            budget.principal, body_bytes=body_bytes, max_requests=budget.max_requests, max_bytes=budget.max_bytes
        )
        # Membership is read per request (after the user's budget is charged): a member
        # removed a moment ago is refused at once, whatever token they hold.
        role = self._workspaces.require(workspace, user)
        return Principal(owner=workspace, kind="user", user=user, role=role, token=credential)

    def _deferred(
        self, owner: str, budget: _Budget, body_bytes: int
    ) -> tuple[Callable[[str, int], None], Callable[[int], None]]:
        """The charges of an authenticated ingest request (``Principal.admit``, ``admit_uploads``)."""
        # A budget this function already saw spent refuses now, before the body's checks.
        self._limiter.check(budget.principal, max_requests=budget.max_requests, max_bytes=budget.max_bytes)
        return partial(self._admit, owner, budget, body_bytes), partial(self._bytes, budget)

    def _admit(self, owner: str, budget: _Budget, body_bytes: int, recording_id: str, requests: int) -> None:
        # The recording first: it costs no AWS call, and a refusal there spends no budget.
        self._visitors.charge(recording=(owner, recording_id))
        self._limiter.charge(
            budget.principal,
            requests=requests,
            body_bytes=body_bytes,
            max_requests=budget.max_requests,
            max_bytes=budget.max_bytes,
        )

    def _bytes(self, budget: _Budget, upload_bytes: int) -> None:
        self._limiter.charge(
            f"{budget.principal}#uploads",
            requests=0,
            body_bytes=upload_bytes,
            max_requests=budget.max_requests,
            max_bytes=budget.max_bytes,
        )


@dataclass(frozen=True, kw_only=True)
class _Budget:
    principal: str
    max_requests: int
    max_bytes: int
