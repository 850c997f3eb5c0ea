"""The archive: Firehose's copy of the raw stream, and rebuilding recordings from it.

Firehose writes every ingest record, as it was on the stream, to
``archive/<yyyy>/<MM>/<dd>/<HH>/`` (hour of arrival, UTC), GZIP, without dynamic
partitioning. Rebuilding reads the hours asked for and writes each recording's records
back as chunk objects named by the archive object they came from, so a rerun rewrites
the same keys. The reader drops whatever the recording already holds (same seq), so
rebuilding a recording that lost nothing changes nothing it serves.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from . import layout, records
from .consumer import storable, write_chunk
from .recording_table import RecordingTable

logger = logging.getLogger("rrweb.archive")

# Firehose may deliver a record up to its buffer interval (at most 900 s) after it
# arrived on the stream, into the hour of delivery.
_DELIVERY_SLACK = dt.timedelta(seconds=900)


@dataclass(kw_only=True)
class RebuildResult:
    """What a rebuild read and wrote."""

    archive_objects: int = 0
    records: int = 0
    chunks: int = 0
    recordings: set[str] = field(default_factory=set)
    skipped_deleted: int = 0
    # lines that are not ingest records, or name an owner or id unfit for an S3 key
    skipped_invalid: int = 0


def hour_prefixes(since: dt.datetime, until: dt.datetime) -> list[str]:
    """The archive's hour prefixes from ``since`` to ``until`` (UTC), both included."""
    start = since.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)
    end = until.astimezone(dt.UTC)
    out = []
    while start <= end:
        out.append(f"{layout.ARCHIVE_PREFIX}{start:%Y/%m/%d/%H}/")
        start += dt.timedelta(hours=1)
    return out


class Archive:
    """Reads the archive and rebuilds recordings' chunk objects from it."""

    def __init__(self, *, s3: Any, bucket: str, table: RecordingTable) -> None:
        self._s3 = s3
        self._bucket = bucket
        self._table = table

    def keys(self, since: dt.datetime, until: dt.datetime) -> Iterator[str]:
        """Keys of the archive objects delivered from ``since`` to ``until``."""
        paginator = self._s3.get_paginator("list_objects_v2")
        for prefix in hour_prefixes(since, until):
            for page in paginator.paginate(Bucket=self._bucket, Prefix=prefix):
                for entry in page.get("Contents", []):
                    yield entry["Key"]

    def rebuild(
        self,
        *,
        since: dt.datetime,
        until: dt.datetime,
        owner: str | None = None,
        recording: str | None = None,
    ) -> RebuildResult:
        """Rewrite chunk objects from the archive objects of ``since``..``until`` (one recording, or all)."""
        result = RebuildResult()
        items: dict[tuple[str, str], dict[str, Any] | None] = {}
        for key in self.keys(since, until):
            result.archive_objects += 1
            body = self._s3.get_object(Bucket=self._bucket, Key=key)["Body"].read()
            groups: dict[tuple[str, str], list[bytes]] = {}
            for line in _lines(body):
                part = records.parse_record(line)
                if part is None or not storable(part):
                    result.skipped_invalid += 1
                    continue
                if recording is not None and part.recording != recording:
                    continue
                if owner is not None and part.owner != owner:
                    continue
                groups.setdefault((part.owner, part.recording), []).append(line)
            name = "archive-" + hashlib.sha256(key.encode()).hexdigest()[:24]
            for pair, lines in groups.items():
                if pair not in items:
                    items[pair] = self._table.get(*pair)
                item = items[pair]
                if item is None:
                    result.skipped_deleted += len(lines)
                    continue
                write_chunk(s3=self._s3, bucket=self._bucket, item=item, name=name, lines=lines)
                # Not counted here: most were counted when they first arrived, and the
                # next compaction (rescheduled now) replaces the event and batch counts
                # with exact ones for whatever the rebuild brought back.
                self._table.reschedule_compaction(*pair)
                result.records += len(lines)
                result.chunks += 1
                result.recordings.add(pair[1])
        return result

    def rebuild_recording(self, owner: str, recording: str) -> RebuildResult:
        """Rebuild one recording from the archive hours its item says it was written in.

        Those hours run from its creation to its last counted chunk (plus Firehose's
        delivery slack). Records the consumer never counted after that (an outage longer
        than the stream keeps records) lie later: rebuild them by hours, with ``--since``.
        """
        item = self._table.get(owner, recording)
        if item is None:
            return RebuildResult()
        since = dt.datetime.fromtimestamp(int(item["createdAt"]) / 1000, dt.UTC)
        until = dt.datetime.fromtimestamp(int(item.get("updatedAt", item["createdAt"])) / 1000, dt.UTC)
        return self.rebuild(since=since, until=until + _DELIVERY_SLACK, owner=owner, recording=recording)


def _lines(body: bytes) -> Iterator[bytes]:
    data = gzip.decompress(body) if body[:2] == b"\x1f\x8b" else body
    for line in data.split(b"\n"):
        if line.strip():
            yield line + b"\n"
