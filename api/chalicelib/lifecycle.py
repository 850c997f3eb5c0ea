"""The recordings bucket's lifecycle rules, in S3's own shape, and when a rule expires an object.

One list for both homes of the bucket: the stack sets it (``infra/storage.py``, in
Pulumi's spelling of the same fields) and the local stack sets it on its embedded S3 and
applies it itself (``local/lifecycle.py``), since moto stores a lifecycle configuration
but expires nothing.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from chalicelib import layout
from chalicelib.assets import asset_days

# Days a noncurrent version stays once versioning keeps old ones (prod).
NONCURRENT_DAYS = 30


def bucket_rules(*, retention_days: int, archive_retention_days: int, versioning: bool = False) -> list[dict[str, Any]]:
    """The bucket's rules, as ``PutBucketLifecycleConfiguration`` takes them."""
    # No age-based rule for the consumer's small objects on their own: compaction removes
    # them only after verifying the compacted object; all of a recording goes at retention.
    rules: list[dict[str, Any]] = [
        _expire("expire-recordings", layout.RECORDINGS_ROOT, retention_days),
        # Page assets live by a lease: a page that uses one rewrites it once it is half a
        # retention old, so it outlives the last recording that used it (assets.py).
        _expire("expire-assets", layout.ASSETS_ROOT, asset_days(retention_days)),
        # The raw archive and Firehose's error output hold raw ingest records: both go
        # after archiveRetentionDays, which bounds how long a deleted recording's raw copy
        # stays in storage.
        _expire("expire-archive", layout.ARCHIVE_PREFIX, archive_retention_days),
        _expire("expire-delivery-errors", layout.ERRORS_PREFIX, archive_retention_days),
        {
            "ID": "abort-incomplete-uploads",
            "Status": "Enabled",
            "Filter": {"Prefix": ""},
            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
        },
    ]
    if versioning:
        rules.append(
            {
                "ID": "expire-old-versions",
                "Status": "Enabled",
                "Filter": {"Prefix": ""},
                "NoncurrentVersionExpiration": {"NoncurrentDays": NONCURRENT_DAYS},
            }
        )
    return rules


def _expire(rule_id: str, prefix: str, days: int) -> dict[str, Any]:
    return {"ID": rule_id, "Status": "Enabled", "Filter": {"Prefix": prefix}, "Expiration": {"Days": days}}


def due(written: dt.datetime, days: int) -> dt.datetime:
    """When S3 expires an object written at ``written`` under a rule of ``days`` days.

    S3 adds the days to the object's creation time and rounds up to the next midnight
    UTC (its lifecycle documentation, "Lifecycle rules: Based on an object's age").
    """
    at = written.astimezone(dt.UTC) + dt.timedelta(days=days)
    midnight = at.replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight if midnight == at else midnight + dt.timedelta(days=1)
