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
# S3 Glacier Instant Retrieval bills at least 128 KB per object and 90 days per object
# (an earlier deletion pays the rest): only larger objects move (compacted recordings;
# screenshots, comments and indexes are smaller), and only where retention keeps them
# there 90 days (``StackSettings.validate``).
GLACIER_IR = "GLACIER_IR"
GLACIER_IR_MIN_BYTES = 128 * 1024
GLACIER_IR_MIN_DAYS = 90


def bucket_rules(
    *, retention_days: int, archive_retention_days: int, versioning: bool = False, glacier_after_days: int = 0
) -> list[dict[str, Any]]:
    """The bucket's rules, as ``PutBucketLifecycleConfiguration`` takes them.

    ``glacier_after_days`` (0: never) moves a recording's objects above 128 KB (its
    compacted events, in practice) to Glacier Instant Retrieval that many days after
    they were written: same first-byte latency, a sixth of Standard's price per GB-month,
    plus a retrieval fee per GB read (docs/architecture.md, "Storage classes").
    """
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
    if glacier_after_days:
        rules.append(
            {
                "ID": "compacted-to-glacier-ir",
                "Status": "Enabled",
                # A chunk is never this old (compaction removes it within the hour), so
                # in practice only compacted events move; "greater than" is strict.
                "Filter": {
                    "And": {"Prefix": layout.RECORDINGS_ROOT, "ObjectSizeGreaterThan": GLACIER_IR_MIN_BYTES - 1}
                },
                "Transitions": [{"Days": glacier_after_days, "StorageClass": GLACIER_IR}],
            }
        )
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
