"""Local schedule: what an EventBridge rule does for a scheduled function, on one machine.

moto stores rules but invokes nothing, so this calls the function itself, with the
event EventBridge sends, once per period: the stack's compactor (``app.compact_recordings``)
every ``compactEveryMinutes`` and the retention expiry (``app.expire_recordings``) every
hour, as ``infra/api.py`` schedules them on AWS.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import uuid
from collections.abc import Callable
from typing import Any

from .resources import ACCOUNT

logger = logging.getLogger("rrweb.schedule")


def scheduled_event(*, rule: str, region: str, now: dt.datetime | None = None) -> dict[str, Any]:
    """The event an EventBridge schedule rule invokes its target with."""
    at = now or dt.datetime.now(dt.UTC)
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT,
        "time": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [f"arn:aws:events:{region}:{ACCOUNT}:rule/{rule}"],
        "detail": {},
    }


class Schedule:
    """Invokes a scheduled function every ``period`` seconds, one run at a time."""

    def __init__(
        self, *, handler: Callable[[dict[str, Any], Any], Any], rule: str, period: float, region: str = "us-east-1"
    ) -> None:
        self._handler = handler
        self.rule = rule
        self.period = period
        self._region = region
        self._lock = threading.Lock()

    def fire(self) -> Any:
        """Invoke the function once now; returns what it returned."""
        with self._lock:
            return self._handler(scheduled_event(rule=self.rule, region=self._region), None)

    def run(self, stop: threading.Event) -> None:
        """Fire every period until ``stop`` is set (a run under way finishes; none starts after)."""
        while not stop.wait(self.period):
            try:
                result = self.fire()
                logger.debug("%s ran: %s", self.rule, result)  # the function logs its own outcome
            except Exception:
                # EventBridge fires again next period whatever this run did.
                logger.exception("%s failed; it runs again next period", self.rule)


def compaction_schedule(*, period: float, rule: str) -> Schedule:
    """The stack's compactor function (``app.compact_recordings``) on its schedule."""
    from app import compact_recordings

    return Schedule(handler=compact_recordings, rule=rule, period=period)


# The retention expiry's rate, as the app declares it (``@app.schedule`` of ``expire_recordings``).
EXPIRY_PERIOD_SECONDS = 3600.0


def expiry_schedule(*, period: float = EXPIRY_PERIOD_SECONDS, rule: str = "expire_recordings") -> Schedule:
    """The retention expiry (``app.expire_recordings``): recordings past their workspace's own retention."""
    from app import expire_recordings

    return Schedule(handler=expire_recordings, rule=rule, period=period)
