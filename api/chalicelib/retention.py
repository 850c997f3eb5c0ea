"""Retention per workspace: recordings older than their workspace's own retention are deleted.

The stack's retention (``retentionDays``) is the bucket's lifecycle and the recording
items' TTL: the longest anything is kept. A workspace may keep its recordings for fewer
days (``Workspaces.set_retention``, at most the stack's). Nothing in S3 or DynamoDB
can expire one workspace sooner than another without per-object rules, so an hourly
function (``app.expire_recordings``) does it:

- the workspaces with a retention of their own come from the access table's
  ``byParent`` index (parent ``retention``): none costs one Query an hour;
- each one's recordings created before its cutoff come from the recordings' ``byOwner``
  index, a creation-time key range (no Scan), and each is deleted as the API deletes
  one (tombstone, its objects, its item), comments and screenshot included;
- a run deletes at most ``PER_WORKSPACE`` recordings of one workspace and stops while
  the function has time left, so a workspace that just lowered its retention over a
  long history catches up over the following hours without holding up the others.

The bound: a recording is deleted within the hour after it passed its workspace's
retention, plus, after a lowered retention, one hour per ``PER_WORKSPACE`` recordings
of backlog.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from .errors import NotFoundError
from .recording_table import CreatedRange, RecordingTable
from .recordings import Recordings
from .workspaces import Workspaces

logger = logging.getLogger("rrweb")

# Recordings of one workspace one run deletes, and of one index page.
PER_WORKSPACE = 1000
PAGE = 100
# Seconds of the function's time a run keeps in hand: it stops starting deletions then.
MARGIN_SECONDS = 30.0
DAY_MS = 86_400_000


class Expiry:
    """Deletes recordings past their workspace's own retention (see the module's docstring)."""

    def __init__(
        self,
        *,
        workspaces: Workspaces,
        recordings: Recordings,
        table: RecordingTable,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._workspaces = workspaces
        self._recordings = recordings
        self._table = table
        self._clock = clock

    def run(self, *, seconds_left: Callable[[], float]) -> dict[str, Any]:
        """One run: how many workspaces were looked at, recordings deleted, and whether any remain."""
        counts: dict[str, Any] = {"workspaces": 0, "deleted": 0, "more": False}
        for workspace, days in self._workspaces.with_retention():
            if seconds_left() < MARGIN_SECONDS:
                counts["more"] = True
                break
            counts["workspaces"] += 1
            deleted, more = self._expire(workspace, days, seconds_left)
            counts["deleted"] += deleted
            counts["more"] = counts["more"] or more
        return counts

    def _expire(self, workspace: str, days: int, seconds_left: Callable[[], float]) -> tuple[int, bool]:
        """Delete up to PER_WORKSPACE of the workspace's recordings created before its cutoff; (deleted, more)."""
        cutoff = int(self._clock() * 1000) - days * DAY_MS
        created = CreatedRange(until=cutoff)
        deleted = 0
        after: dict[str, str] | None = None
        while True:
            items, after = self._table.page(workspace, limit=PAGE, after=after, created=created)
            for item in items:
                if deleted >= PER_WORKSPACE or seconds_left() < MARGIN_SECONDS:
                    return deleted, True
                try:
                    self._recordings.delete(workspace, str(item["recordingId"]))
                    deleted += 1
                except NotFoundError:
                    continue  # deleted meanwhile
            if after is None:
                if deleted:
                    logger.info("expired %d recordings past a workspace's %d days", deleted, days)
                return deleted, False
