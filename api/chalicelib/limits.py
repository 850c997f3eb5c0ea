"""Rate limits: site-wide budgets shared through DynamoDB, and per-visitor abuse limits.

**Site-wide budgets** (an ingest key's, a signed-in user's) are requests and bytes per
one-minute window, shared by every function instance without a hot item and without
a write per request: an instance leases a slice of the window's budget (one conditional
UpdateItem adds the slice to the window's counter, refused once the budget is spent)
and spends it from memory. A slice is ``1 / LEASES_PER_WINDOW`` of the budget, so one
counter item takes at most about that many writes a window, however busy the site
(at the default 60,000 requests a minute: 100 writes a minute, 1.7 a second, where one
item takes 1,000). What a lease leaves unspent when the window turns is lost: at most
one slice per warm instance, so a busy key may be refused slightly before its budget.
An instance that was refused stops asking until the window turns, so a spent budget
costs no writes either. A site's budget is charged only for a request that was
authenticated and whose body was found acceptable (``auth.py``): what is refused is
charged to the client that sent it, never to the site.

**Per-visitor limits** stop a single client or page from spending a site's budget or
the stack's work. They are token buckets in each instance's memory: no request to AWS
at all. A client address is charged for every request to an ingest route before
anything else is looked at, one request and the bytes it sent, whether the request is
then accepted or refused: one client's junk spends its own address's buckets only. A
recording (its owner and id: another owner's recording of the same id is another
bucket) is charged once the request is authenticated. A visitor whose requests land on
several instances gets the limit once per instance, which bounds what it can take by
the instance count (the stage throttle bounds that); the site-wide budget stays exact.

Every refusal is a 429 carrying ``Retry-After``.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from .errors import TooManyRequestsError
from .schema import ACCESS_KEY, TTL_ATTRIBUTE

WINDOW_S = 60
# Each lease takes this fraction of a window's budget (see the module's docstring).
LEASES_PER_WINDOW = 100
# Visitors tracked per instance: bounded memory whatever a flood of addresses does.
_VISITORS_TRACKED = 50_000


@dataclass(kw_only=True)
class _Lease:
    window: int
    requests: int = 0
    bytes: int = 0
    # The shared budget refused this window: refuse locally until it turns.
    refused: bool = False


def _refusal(max_requests: int, max_bytes: int, retry_after: int) -> TooManyRequestsError:
    return TooManyRequestsError(
        f"rate limit reached ({max_requests} requests or {max_bytes} bytes a minute)", retry_after=retry_after
    )


class RateLimiter:
    """Charges requests to a principal's budget for the current window (see the module's docstring)."""

    def __init__(self, *, table: Any, clock: Callable[[], float] = time.time) -> None:
        self._table = table
        self._clock = clock
        self._leases: dict[str, _Lease] = {}
        self._lock = threading.Lock()

    def check(self, principal: str, *, max_requests: int, max_bytes: int) -> None:
        """Raise 429 if this instance already knows the budget is spent this window; charges nothing.

        Lets a request be refused before the work of checking its body, at no AWS call.
        """
        now = self._clock()
        window = int(now // WINDOW_S)
        with self._lock:
            lease = self._leases.get(principal)
            if lease is not None and lease.window == window and lease.refused:
                raise _refusal(max_requests, max_bytes, int((window + 1) * WINDOW_S - now) + 1)

    def charge(self, principal: str, *, body_bytes: int, max_requests: int, max_bytes: int, requests: int = 1) -> None:
        """Count ``requests`` requests (one, or what a costlier one weighs; 0 for bytes alone) of ``body_bytes``.

        Raises 429 with the seconds to wait when the budget cannot take them.
        """
        now = self._clock()
        window = int(now // WINDOW_S)
        retry_after = int((window + 1) * WINDOW_S - now) + 1
        with self._lock:
            lease = self._leases.get(principal)
            if lease is None or lease.window != window:
                if len(self._leases) > _VISITORS_TRACKED:
                    self._leases = {p: held for p, held in self._leases.items() if held.window == window}
                lease = self._leases[principal] = _Lease(window=window)
            if lease.refused:
                raise _refusal(max_requests, max_bytes, retry_after)
            if lease.requests >= requests and lease.bytes >= body_bytes:
                lease.requests -= requests
                lease.bytes -= body_bytes
                return
        # Outside the lock: a DynamoDB call must not hold up the instance's other requests.
        slice_requests = max(1, requests, max_requests // LEASES_PER_WINDOW)
        slice_bytes = max(body_bytes, max_bytes // LEASES_PER_WINDOW)
        granted = self._lease(principal, window, slice_requests, slice_bytes, max_requests, max_bytes)
        with self._lock:
            lease = self._leases.setdefault(principal, _Lease(window=window))
            if lease.window != window:
                lease = self._leases[principal] = _Lease(window=window)
            if not granted:
                lease.refused = True
                raise _refusal(max_requests, max_bytes, retry_after)
            lease.requests += slice_requests - requests
            lease.bytes += slice_bytes - body_bytes

    def _lease(self, principal: str, window: int, requests: int, size: int, max_requests: int, max_bytes: int) -> bool:
        """Take a slice of the window's shared budget; False when the budget cannot hold it."""
        try:
            self._table.update_item(
                Key={ACCESS_KEY: f"rate#{principal}#{window}"},
                UpdateExpression=f"ADD requests :requests, #bytes :bytes SET {TTL_ATTRIBUTE} = :expires",
                # Granted while the budget is not spent: a window may go one slice over.
                ConditionExpression=(
                    "attribute_not_exists(requests) OR (requests < :max_requests AND #bytes < :max_bytes)"
                ),
                ExpressionAttributeNames={"#bytes": "bytes"},
                ExpressionAttributeValues={
                    ":requests": requests,
                    ":bytes": size,
                    ":expires": (window + 2) * WINDOW_S,
                    ":max_requests": max_requests,
                    ":max_bytes": max_bytes,
                },
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            return False
        return True


@dataclass(kw_only=True)
class _Bucket:
    tokens: float
    at: float


class VisitorLimits:
    """Token buckets per client address (requests and bytes) and per recording (requests), in this instance's memory."""

    def __init__(
        self,
        *,
        recording_per_minute: int,
        client_per_minute: int,
        client_bytes_per_minute: int | None = None,
        clock: Callable[[], float] = time.monotonic,
        tracked: int = _VISITORS_TRACKED,
    ) -> None:
        self._capacity = {"recording": recording_per_minute, "client": client_per_minute}
        if client_bytes_per_minute is not None:
            self._capacity["client bytes"] = client_bytes_per_minute
        self._clock = clock
        self._tracked = tracked
        self._buckets: OrderedDict[tuple[str, ...], _Bucket] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def buckets_held(self) -> int:
        """How many buckets this instance holds now (at most ``tracked`` given to the constructor)."""
        return len(self._buckets)

    def charge(
        self, *, client: str | None = None, recording: tuple[str, str] | None = None, body_bytes: int = 0
    ) -> None:
        """Take one request from each named bucket (and ``body_bytes`` from the address's), or raise 429.

        ``client`` is an address: charged one request and, when bytes are limited, the
        bytes it sent (a body larger than the byte bucket needs the whole bucket).
        ``recording`` is ``(owner, recording id)``. A refusal takes nothing from any bucket.
        """
        now = self._clock()
        wanted: list[tuple[tuple[str, ...], float, str]] = []
        if client:
            wanted.append((("client", client), 1, "requests from one client address"))
            if "client bytes" in self._capacity:
                needed: float = min(body_bytes, self._capacity["client bytes"])
                wanted.append((("client bytes", client), needed, "bytes from one client address"))
        if recording is not None:
            wanted.append((("recording", *recording), 1, "requests for one recording"))
        with self._lock:
            buckets = [(self._bucket(key, now), key[0], needed, what) for key, needed, what in wanted]
            for bucket, kind, needed, what in buckets:
                if bucket.tokens < needed:
                    raise self._refusal(kind, what, bucket.tokens, needed)
            for bucket, _, needed, _ in buckets:
                bucket.tokens -= needed

    def _refusal(self, kind: str, what: str, tokens: float, needed: float) -> TooManyRequestsError:
        per_second = self._capacity[kind] / WINDOW_S
        return TooManyRequestsError(
            f"too many {what} ({self._capacity[kind]} a minute)",
            retry_after=max(1, math.ceil((needed - tokens) / per_second)),
        )

    def _bucket(self, key: tuple[str, ...], now: float) -> _Bucket:
        capacity = self._capacity[key[0]]
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(tokens=capacity, at=now)
            while len(self._buckets) > self._tracked:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
            bucket.tokens = min(capacity, bucket.tokens + (now - bucket.at) * capacity / WINDOW_S)
            bucket.at = now
        return bucket
