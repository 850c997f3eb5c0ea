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
costs no writes either.

**Per-visitor limits** (one recording's requests, one client address's) stop a single
page or client from spending a site's budget. They are token buckets in each instance's
memory: no request to AWS at all. A visitor whose requests land on several instances
gets the limit once per instance, which bounds what it can take by the instance count
(the stage throttle bounds that); the site-wide budget stays exact.

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

    def charge(self, principal: str, *, body_bytes: int, max_requests: int, max_bytes: int) -> None:
        """Count one request of ``body_bytes``, or raise 429 with the seconds to wait."""
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
            if lease.requests >= 1 and lease.bytes >= body_bytes:
                lease.requests -= 1
                lease.bytes -= body_bytes
                return
        # Outside the lock: a DynamoDB call must not hold up the instance's other requests.
        slice_requests = max(1, max_requests // LEASES_PER_WINDOW)
        slice_bytes = max(body_bytes, max_bytes // LEASES_PER_WINDOW)
        granted = self._lease(principal, window, slice_requests, slice_bytes, max_requests, max_bytes)
        with self._lock:
            lease = self._leases.setdefault(principal, _Lease(window=window))
            if lease.window != window:
                lease = self._leases[principal] = _Lease(window=window)
            if not granted:
                lease.refused = True
                raise _refusal(max_requests, max_bytes, retry_after)
            lease.requests += slice_requests - 1
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
    """Token buckets per recording and per client address, in this instance's memory."""

    def __init__(
        self,
        *,
        recording_per_minute: int,
        client_per_minute: int,
        clock: Callable[[], float] = time.monotonic,
        tracked: int = _VISITORS_TRACKED,
    ) -> None:
        self._limits = {"recording": recording_per_minute, "client": client_per_minute}
        self._clock = clock
        self._tracked = tracked
        self._buckets: OrderedDict[tuple[str, str], _Bucket] = OrderedDict()
        self._lock = threading.Lock()

    def charge(self, *, recording: str | None, client: str | None) -> None:
        """Take one request from each of the visitor's buckets, or raise 429 with the seconds to wait."""
        now = self._clock()
        with self._lock:
            wanted = [(kind, name) for kind, name in (("recording", recording), ("client", client)) if name]
            buckets = [self._bucket(kind, name, now) for kind, name in wanted]
            for (kind, _), bucket in zip(wanted, buckets, strict=True):
                if bucket.tokens < 1:
                    per_second = self._limits[kind] / WINDOW_S
                    raise TooManyRequestsError(
                        f"too many requests for one {kind} ({self._limits[kind]} a minute)",
                        retry_after=max(1, math.ceil((1 - bucket.tokens) / per_second)),
                    )
            for bucket in buckets:
                bucket.tokens -= 1

    def _bucket(self, kind: str, name: str, now: float) -> _Bucket:
        capacity = self._limits[kind]
        key = (kind, name)
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
