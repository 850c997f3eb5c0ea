"""Local lifecycle: what S3's lifecycle rules and DynamoDB's TTL do, on one machine.

moto stores a bucket's lifecycle configuration and a table's TTL setting but expires
nothing. The local stack sets the deployed stack's own rules on its bucket
(``chalicelib.lifecycle``, at provisioning) and runs this at start and then every hour:
it reads the bucket's configuration back, as S3 would, and deletes each object past its
rule's expiry (the rule's days after the object's last write, rounded up to midnight
UTC, as S3 counts them), aborts multipart uploads older than their rule allows, and
deletes table items whose TTL attribute (epoch seconds) has passed. (An upload's age
counts from when the runner first saw it: moto dates every upload 2010, and a restart
starts that count again, so an upload is never aborted earlier than on S3.) AWS runs both
asynchronously as well (S3 about once a day, DynamoDB within a few days), so nothing
relies on the exact moment. Every deletion goes through the embedded AWS like any
other write, so it is journaled and survives a restart.

Noncurrent-version rules are not applied: the local bucket is not versioned. Nor are
transitions (`glacierAfterDays`): one machine has one storage class.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections import Counter
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.lifecycle import due

logger = logging.getLogger("rrweb.lifecycle")

HOUR = 3600.0
# DeleteObjects takes at most this many keys.
DELETE_BATCH = 1000


class Lifecycle:
    """The bucket's lifecycle rules and the tables' TTL, applied every ``period`` seconds."""

    def __init__(self, session: Any, *, bucket: str, tables: dict[str, str], period: float = HOUR) -> None:
        self._s3 = session.client("s3")
        self._dynamodb = session.client("dynamodb")
        self._bucket = bucket
        self._tables = tables  # table name -> its TTL attribute
        self.period = period
        self._lock = threading.Lock()
        self._uploads: dict[str, dt.datetime] = {}  # upload id -> when first seen

    def run_once(self, now: dt.datetime | None = None) -> dict[str, int]:
        """Apply every rule and TTL once, as of ``now``; returns what went, by rule id and table."""
        at = now or dt.datetime.now(dt.UTC)
        with self._lock:
            gone: Counter[str] = Counter()
            for rule in self._rules():
                if rule.get("Status") != "Enabled":
                    continue
                prefix = rule.get("Filter", {}).get("Prefix", rule.get("Prefix", ""))
                days = rule.get("Expiration", {}).get("Days")
                if days is not None:
                    gone[rule["ID"]] += self._expire(prefix, int(days), at)
                aborted = rule.get("AbortIncompleteMultipartUpload", {}).get("DaysAfterInitiation")
                if aborted is not None:
                    gone[rule["ID"]] += self._abort(prefix, int(aborted), at)
            for table, attribute in self._tables.items():
                gone[table] += self._expire_items(table, attribute, at)
        return {name: count for name, count in gone.items() if count}

    def run(self, stop: threading.Event) -> None:
        """Apply now, then every period until ``stop`` is set."""
        while True:
            try:
                gone = self.run_once()
                if gone:
                    logger.info("lifecycle expired %s", gone)
            except Exception:
                logger.exception("lifecycle failed; it runs again in %.0f s", self.period)
            if stop.wait(self.period):
                return

    def _rules(self) -> list[dict[str, Any]]:
        try:
            return self._s3.get_bucket_lifecycle_configuration(Bucket=self._bucket)["Rules"]
        except ClientError as error:
            if error.response["Error"]["Code"] == "NoSuchLifecycleConfiguration":
                return []
            raise

    def _expire(self, prefix: str, days: int, now: dt.datetime) -> int:
        expired = []
        for page in self._s3.get_paginator("list_objects_v2").paginate(Bucket=self._bucket, Prefix=prefix):
            expired += [item["Key"] for item in page.get("Contents", []) if due(item["LastModified"], days) <= now]
        for start in range(0, len(expired), DELETE_BATCH):
            batch = [{"Key": key} for key in expired[start : start + DELETE_BATCH]]
            result = self._s3.delete_objects(Bucket=self._bucket, Delete={"Objects": batch, "Quiet": True})
            if result.get("Errors"):
                errors = result["Errors"]
                raise RuntimeError(f"lifecycle could not delete {len(errors)} objects: {errors[:3]}")
        return len(expired)

    def _abort(self, prefix: str, days: int, now: dt.datetime) -> int:
        aborted = 0
        listed = set()
        for page in self._s3.get_paginator("list_multipart_uploads").paginate(Bucket=self._bucket, Prefix=prefix):
            for upload in page.get("Uploads", []):
                listed.add(upload["UploadId"])
                # moto answers every upload's Initiated with one fixed date of 2010: an upload's
                # age counts from when this runner first saw it, never from before it started.
                seen = self._uploads.setdefault(upload["UploadId"], now)
                if due(max(upload["Initiated"], seen), days) <= now:
                    self._s3.abort_multipart_upload(Bucket=self._bucket, Key=upload["Key"], UploadId=upload["UploadId"])
                    aborted += 1
        for gone in set(self._uploads) - listed:
            del self._uploads[gone]
        return aborted

    def _expire_items(self, table: str, attribute: str, now: dt.datetime) -> int:
        keys = [key["AttributeName"] for key in self._dynamodb.describe_table(TableName=table)["Table"]["KeySchema"]]
        expired = 0
        # Only this background job scans (as DynamoDB's own TTL sweep reads the whole
        # table); no request path does.
        pages = self._dynamodb.get_paginator("scan").paginate(
            TableName=table,
            FilterExpression="#ttl < :now",
            ExpressionAttributeNames={"#ttl": attribute},
            ExpressionAttributeValues={":now": {"N": str(int(now.timestamp()))}},
        )
        for page in pages:
            for item in page.get("Items", []):
                self._dynamodb.delete_item(TableName=table, Key={name: item[name] for name in keys})
                expired += 1
        return expired
