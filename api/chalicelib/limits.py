"""Per-key and per-user rate limits, counted in DynamoDB so every function agrees.

Fixed one-minute windows: one conditional UpdateItem per request adds the request and
its bytes to the principal's counter, and refuses once either limit is reached. The
counter item expires by TTL shortly after its window.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from .errors import TooManyRequestsError

WINDOW_S = 60


class RateLimiter:
    """Charges requests to a principal's current window in the access table."""

    def __init__(self, *, table: Any, clock: Callable[[], float] = time.time) -> None:
        self._table = table
        self._clock = clock

    def charge(self, principal: str, *, body_bytes: int, max_requests: int, max_bytes: int) -> None:
        """Count one request of ``body_bytes``, or raise 429 with the seconds to wait."""
        now = self._clock()
        window = int(now // WINDOW_S)
        try:
            self._table.update_item(
                Key={"pk": f"rate#{principal}#{window}"},
                UpdateExpression="ADD requests :one, #bytes :bytes SET expiresAt = if_not_exists(expiresAt, :expires)",
                ConditionExpression=(
                    "attribute_not_exists(requests) OR (requests < :max_requests AND #bytes < :max_bytes)"
                ),
                ExpressionAttributeNames={"#bytes": "bytes"},
                ExpressionAttributeValues={
                    ":one": 1,
                    ":bytes": body_bytes,
                    ":expires": (window + 2) * WINDOW_S,
                    ":max_requests": max_requests,
                    ":max_bytes": max_bytes,
                },
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            retry_after = int((window + 1) * WINDOW_S - now) + 1
            raise TooManyRequestsError(
                f"rate limit reached ({max_requests} requests or {max_bytes} bytes a minute)",
                retry_after=retry_after,
            ) from None
