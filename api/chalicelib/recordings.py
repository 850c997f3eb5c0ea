"""Recording metadata in DynamoDB, and the recording lifecycle (create, list, delete).

Table layout: partition key ``owner``, sort key ``recordingId``; the local secondary
index ``byCreated`` sorts an owner's recordings by ``createdKey``
(``<createdAt ms, 13 digits>#<id>``) so the list is one Query, newest first. A
recording being deleted keeps a tombstone (``deleting``) without ``createdKey``, so it
drops out of the sparse index at once and late deliveries can be recognised as orphans.

The sparse global index ``byPendingCompaction`` holds recordings with events not yet
compacted: partition key ``pendingCompaction`` (one of ``COMPACTION_SHARDS`` shards,
set with every counted batch), sort key ``updatedAt``. The compactor queries each shard
for items idle past a cutoff: no Scan, and O(1) requests per recording.
"""

from __future__ import annotations

import re
import secrets
import time
import urllib.parse
import zlib
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from botocore.exceptions import ClientError

from . import layout, settings, validation
from .errors import ApiError, BadRequestError, NotFoundError

INDEX_BY_CREATED = "byCreated"
INDEX_PENDING_COMPACTION = "byPendingCompaction"
PENDING_ATTRIBUTE = "pendingCompaction"
TTL_ATTRIBUTE = "expiresAt"
_NAMES = {"#owner": "owner", "#id": "recordingId"}
_PUBLIC_FIELDS = (
    "recordingId",
    "createdAt",
    "updatedAt",
    "url",
    "title",
    "eventCount",
    "rawBytes",
    "storedBytes",
    "batchCount",
    "firstEventAt",
    "lastEventAt",
    PENDING_ATTRIBUTE,
    "compactedGeneration",
)


def now_ms() -> int:
    """Wall-clock milliseconds, the unit rrweb timestamps use."""
    return int(time.time() * 1000)


def _number(value: Any) -> int | float | None:
    if value is None:
        return None
    return int(value) if value == int(value) else float(value)


def compaction_shard(recording_id: str) -> str:
    """The index shard a recording waits for compaction in (stable per recording)."""
    return str(zlib.crc32(recording_id.encode()) % settings.COMPACTION_SHARDS)


def _is_conditional_failure(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


class RecordingStore:
    """Reads and writes recording items of one DynamoDB table."""

    def __init__(self, *, table: Any) -> None:
        self._table = table

    def put_new(self, item: dict[str, Any]) -> bool:
        """Insert ``item`` unless the id exists; True when it was inserted."""
        try:
            self._table.put_item(
                Item=item,
                ConditionExpression="attribute_not_exists(#id)",
                ExpressionAttributeNames={"#id": "recordingId"},
            )
        except ClientError as exc:
            if _is_conditional_failure(exc):
                return False
            raise
        return True

    def get(self, owner: str, recording_id: str) -> dict[str, Any] | None:
        """The item, or None when missing or being deleted."""
        item = self._table.get_item(Key={"owner": owner, "recordingId": recording_id}, ConsistentRead=True).get("Item")
        if item is None or item.get("deleting"):
            return None
        return item

    def get_any(self, owner: str, recording_id: str) -> dict[str, Any] | None:
        """The item including a deletion tombstone."""
        return self._table.get_item(Key={"owner": owner, "recordingId": recording_id}, ConsistentRead=True).get("Item")

    def page(
        self, owner: str, *, limit: int, after: dict[str, str] | None
    ) -> tuple[list[dict[str, Any]], dict[str, str] | None]:
        """One page of an owner's recordings, newest first, and where the next starts."""
        query: dict[str, Any] = {
            "IndexName": INDEX_BY_CREATED,
            "KeyConditionExpression": "#owner = :owner",
            "ExpressionAttributeNames": {"#owner": "owner"} | {f"#f{i}": name for i, name in enumerate(_PUBLIC_FIELDS)},
            "ExpressionAttributeValues": {":owner": owner},
            "ProjectionExpression": ", ".join(f"#f{i}" for i in range(len(_PUBLIC_FIELDS))),
            "ScanIndexForward": False,
            "Limit": limit,
        }
        if after is not None:
            query["ExclusiveStartKey"] = {"owner": owner, **after}
        result = self._table.query(**query)
        last = result.get("LastEvaluatedKey")
        following = {"recordingId": last["recordingId"], "createdKey": last["createdKey"]} if last else None
        return result.get("Items", []), following

    def record_batch(self, owner: str, recording_id: str, batch: validation.Batch, *, stored: int) -> bool:
        """Count a written batch once per seq; False when the seq was already counted."""
        key = {"owner": owner, "recordingId": recording_id}
        first = Decimal(str(batch.first_timestamp))
        last = Decimal(str(batch.last_timestamp))
        try:
            updated = self._table.update_item(
                Key=key,
                UpdateExpression=(
                    "ADD eventCount :n, rawBytes :raw, storedBytes :stored, batchCount :one, seqs :seqs "
                    "SET updatedAt = :now, pendingCompaction = :shard, "
                    "firstEventAt = if_not_exists(firstEventAt, :first), "
                    "lastEventAt = if_not_exists(lastEventAt, :last)"
                ),
                ConditionExpression=(
                    "attribute_exists(#id) AND attribute_not_exists(deleting) AND NOT contains(seqs, :seq)"
                ),
                ExpressionAttributeNames={"#id": "recordingId"},
                ExpressionAttributeValues={
                    ":n": batch.event_count,
                    ":raw": batch.raw_bytes,
                    ":stored": stored,
                    ":one": 1,
                    ":seqs": {batch.seq},
                    ":seq": batch.seq,
                    ":now": now_ms(),
                    ":shard": compaction_shard(recording_id),
                    ":first": first,
                    ":last": last,
                },
                ReturnValues="ALL_NEW",
            )["Attributes"]
        except ClientError as exc:
            if _is_conditional_failure(exc):
                return False
            raise
        self.widen_span(owner, recording_id, batch, item=updated)
        return True

    def widen_span(self, owner: str, recording_id: str, batch: validation.Batch, *, item: dict[str, Any]) -> None:
        """Widen the recording's time span to cover ``batch``, where ``item`` shows it does not yet.

        Batches may arrive out of order (client retries): each end moves only outward,
        with a condition so racing writers agree. It is its own idempotent step, so a
        retry of a batch already counted repairs a span whose first widening failed.
        """
        key = {"owner": owner, "recordingId": recording_id}
        first = Decimal(str(batch.first_timestamp))
        last = Decimal(str(batch.last_timestamp))
        if "firstEventAt" not in item or item["firstEventAt"] > first:
            self._extend(key, "firstEventAt", first, "(attribute_not_exists(firstEventAt) OR firstEventAt > :v)")
        if "lastEventAt" not in item or item["lastEventAt"] < last:
            self._extend(key, "lastEventAt", last, "(attribute_not_exists(lastEventAt) OR lastEventAt < :v)")

    def _extend(self, key: dict[str, str], field: str, value: Decimal, condition: str) -> None:
        try:
            self._table.update_item(
                Key=key,
                UpdateExpression=f"SET {field} = :v",
                # Never on a deleted or deleting recording: that would resurrect its item.
                ConditionExpression=f"attribute_exists(recordingId) AND attribute_not_exists(deleting) AND {condition}",
                ExpressionAttributeValues={":v": value},
            )
        except ClientError as exc:
            if not _is_conditional_failure(exc):
                raise

    def mark_watched(self, owner: str, recording_id: str, *, item: dict[str, Any]) -> None:
        """Note that someone follows the recording live (at most one write per refresh period)."""
        now = now_ms()
        if int(item.get("watchedUntil", 0)) - now > (settings.WATCH_SECONDS - settings.WATCH_REFRESH_SECONDS) * 1000:
            return
        try:
            self._table.update_item(
                Key={"owner": owner, "recordingId": recording_id},
                UpdateExpression="SET watchedUntil = :until",
                ConditionExpression="attribute_exists(#id) AND attribute_not_exists(deleting)",
                ExpressionAttributeNames={"#id": "recordingId"},
                ExpressionAttributeValues={":until": now + settings.WATCH_SECONDS * 1000},
            )
        except ClientError as exc:
            if not _is_conditional_failure(exc):
                raise

    def pending_compaction(self, shard: str, *, idle_before: int, page: int = 100) -> Iterator[dict[str, Any]]:
        """Keys and ``updatedAt`` of the recordings in ``shard`` idle since before ``idle_before`` ms, oldest first.

        Page by page, as far as the caller reads: recordings that stay pending (waiting
        for parts, or failing) never hide the ones behind them.
        """
        start: dict[str, Any] | None = None
        while True:
            query: dict[str, Any] = {
                "IndexName": INDEX_PENDING_COMPACTION,
                "KeyConditionExpression": "#p = :shard AND updatedAt < :cutoff",
                "ExpressionAttributeNames": {"#p": PENDING_ATTRIBUTE},
                "ExpressionAttributeValues": {":shard": shard, ":cutoff": idle_before},
                "Limit": page,
            }
            if start is not None:
                query["ExclusiveStartKey"] = start
            result = self._table.query(**query)
            yield from result.get("Items", [])
            start = result.get("LastEvaluatedKey")
            if start is None:
                return

    def finish_compaction(self, owner: str, recording_id: str, *, updated_at: Any, generation: int) -> bool:
        """Leave the pending index, unless a batch arrived since ``updated_at``; True when it left."""
        try:
            self._table.update_item(
                Key={"owner": owner, "recordingId": recording_id},
                UpdateExpression=f"REMOVE {PENDING_ATTRIBUTE} SET compactedGeneration = :g",
                ConditionExpression="attribute_exists(#id) AND attribute_not_exists(deleting) AND updatedAt = :seen",
                ExpressionAttributeNames={"#id": "recordingId"},
                ExpressionAttributeValues={":seen": updated_at, ":g": generation},
            )
        except ClientError as exc:
            if _is_conditional_failure(exc):
                return False
            raise
        return True

    def reschedule_compaction(self, owner: str, recording_id: str) -> None:
        """Put a recording back in the pending index: events arrived after its compaction."""
        try:
            self._table.update_item(
                Key={"owner": owner, "recordingId": recording_id},
                UpdateExpression=f"SET {PENDING_ATTRIBUTE} = :shard, updatedAt = :now",
                ConditionExpression="attribute_exists(#id) AND attribute_not_exists(deleting)",
                ExpressionAttributeNames={"#id": "recordingId"},
                ExpressionAttributeValues={":shard": compaction_shard(recording_id), ":now": now_ms()},
            )
        except ClientError as exc:
            if not _is_conditional_failure(exc):
                raise

    def mark_deleting(self, owner: str, recording_id: str) -> None:
        """Leave a tombstone: hidden from reads and the list, writes refused."""
        self._table.update_item(
            Key={"owner": owner, "recordingId": recording_id},
            UpdateExpression="SET deleting = :now REMOVE createdKey",
            ConditionExpression="attribute_exists(#id)",
            ExpressionAttributeNames={"#id": "recordingId"},
            ExpressionAttributeValues={":now": now_ms()},
        )

    def remove(self, owner: str, recording_id: str) -> None:
        """Delete the item for good."""
        self._table.delete_item(Key={"owner": owner, "recordingId": recording_id})


class Recordings:
    """The recording lifecycle over metadata and the bucket's objects."""

    def __init__(self, *, store: RecordingStore, s3: Any, bucket: str, retention_days: int | None = None) -> None:
        self._store = store
        self._s3 = s3
        self._bucket = bucket
        self._retention_days = retention_days

    def create(
        self, owner: str, *, recording_id: str | None = None, url: str | None = None, title: str | None = None
    ) -> tuple[dict[str, Any], bool]:
        """Create a recording (or return the existing one for a retried client id).

        ``url`` and ``title`` arrive validated (``validation.create_body``). Returns the
        response body and whether a new recording was made.
        """
        recording_id = validation.recording_id(recording_id) if recording_id is not None else new_id()
        created = now_ms()
        item: dict[str, Any] = {
            "owner": owner,
            "recordingId": recording_id,
            "createdAt": created,
            "createdKey": f"{created:013d}#{recording_id}",
            "updatedAt": created,
            "eventCount": 0,
            "rawBytes": 0,
            "storedBytes": 0,
            "batchCount": 0,
        }
        if self._retention_days is not None:
            # DynamoDB TTL (epoch seconds): the item goes when lifecycle expires its events.
            item[TTL_ATTRIBUTE] = created // 1000 + self._retention_days * 86400
        if url is not None:
            item["url"] = url
        if title is not None:
            item["title"] = title
        inserted = self._store.put_new(item)
        if not inserted:
            existing = self._store.get(owner, recording_id)
            if existing is None:
                raise ApiError("this id belongs to a recording being deleted", code="id_in_use", status=409)
            item = existing
        return {
            "recording": self.public(owner, item),
            "screenshotUpload": self._screenshot_upload(owner, recording_id),
        }, inserted

    def require(self, owner: str, recording_id: str) -> dict[str, Any]:
        """The recording's item, or 404 (unknown, deleted, or not this owner's)."""
        item = self._store.get(owner, validation.recording_id(recording_id))
        if item is None:
            raise NotFoundError("recording not found")
        return item

    def describe(self, owner: str, recording_id: str) -> dict[str, Any]:
        """The public view of one recording."""
        return self.public(owner, self.require(owner, recording_id))

    def list_page(self, owner: str, *, limit: int, cursor: str | None) -> dict[str, Any]:
        """An owner's recordings, newest first, with an opaque cursor for the next page."""
        after = validation.decode_cursor(cursor, {"recordingId": str, "createdKey": str})
        if after is not None:
            validation.recording_id(after["recordingId"])
            # The index key this API wrote: DynamoDB refuses a malformed start key (a 500).
            if not re.fullmatch(r"[0-9]{13}#" + re.escape(after["recordingId"]), after["createdKey"]):
                raise BadRequestError("cursor is not one this API returned", code="invalid_cursor")
        items, following = self._store.page(owner, limit=limit, after=after)
        return {
            "recordings": [self.public(owner, item) for item in items],
            "cursor": validation.encode_cursor(following) if following else None,
        }

    def delete(self, owner: str, recording_id: str) -> None:
        """Remove metadata, event objects and screenshot; 404 if there is nothing to delete."""
        validation.recording_id(recording_id)
        item = self._store.get_any(owner, recording_id)
        if item is None:
            raise NotFoundError("recording not found")
        # Tombstone first: the recording disappears and stops taking events at once,
        # and if deleting objects fails, a retried DELETE finds the tombstone and resumes.
        self._store.mark_deleting(owner, recording_id)
        self.delete_objects(layout.recording_prefix(owner, recording_id))
        self._store.remove(owner, recording_id)

    def delete_objects(self, prefix: str) -> int:
        """Delete every object under ``prefix``; returns how many went."""
        deleted = 0
        paginator = self._s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self._bucket, Prefix=prefix):
            keys = [{"Key": entry["Key"]} for entry in page.get("Contents", [])]
            if not keys:
                continue
            result = self._s3.delete_objects(Bucket=self._bucket, Delete={"Objects": keys, "Quiet": True})
            if result.get("Errors"):
                raise RuntimeError(f"S3 refused to delete {len(result['Errors'])} objects")
            deleted += len(keys)
        return deleted

    def reap_if_orphan(self, key: str) -> bool:
        """Delete an object that arrived for a recording that no longer exists.

        Delivery is asynchronous (Firehose buffers for a minute or more), so chunks of
        a just-deleted recording can land after the DELETE; they are removed on arrival.
        """
        parsed = layout.parse_recording_key(key)
        if parsed is None:
            return False
        owner, recording_id = parsed
        if self._store.get(owner, recording_id) is not None:
            return False
        self._s3.delete_object(Bucket=self._bucket, Key=key)
        return True

    def reap_notification(self, event: dict[str, Any]) -> int:
        """Handle an S3 object-created notification; returns how many orphans went."""
        reaped = 0
        for record in event.get("Records", []):
            # Notification keys are URL-encoded, with '+' for spaces.
            key = urllib.parse.unquote_plus(record["s3"]["object"]["key"])
            reaped += self.reap_if_orphan(key)
        return reaped

    def public(self, owner: str, item: dict[str, Any]) -> dict[str, Any]:
        """The friendly JSON view of an item (never DynamoDB's shapes)."""
        first = _number(item.get("firstEventAt"))
        last = _number(item.get("lastEventAt"))
        return {
            "id": item["recordingId"],
            "createdAt": _number(item.get("createdAt")),
            "updatedAt": _number(item.get("updatedAt")),
            "url": item.get("url"),
            "title": item.get("title"),
            "eventCount": _number(item.get("eventCount", 0)),
            "bytes": _number(item.get("rawBytes", 0)),
            "storedBytes": _number(item.get("storedBytes", 0)),
            "batches": _number(item.get("batchCount", 0)),
            "firstEventAt": first,
            "lastEventAt": last,
            "durationMs": (last - first) if first is not None and last is not None else 0,
            # Still taking events: the replay page follows it live until this turns false.
            "live": now_ms() - int(item.get("updatedAt", 0)) < settings.LIVE_IDLE_MS and bool(item.get("batchCount")),
            # Its events are one object (plus any that arrived since, until the next run).
            "compacted": PENDING_ATTRIBUTE not in item and int(item.get("compactedGeneration", 0)) > 0,
            "screenshotUrl": self._s3.generate_presigned_url(
                "get_object",
                # Whatever was uploaded, the link serves it as an image, never as a page.
                Params={
                    "Bucket": self._bucket,
                    "Key": layout.screenshot_key(owner, item["recordingId"]),
                    "ResponseContentType": "image/jpeg",
                    "ResponseContentDisposition": "inline",
                },
                ExpiresIn=settings.PRESIGN_SECONDS,
            ),
        }

    def _screenshot_upload(self, owner: str, recording_id: str) -> dict[str, Any]:
        # A presigned POST (not PUT) so S3 itself enforces the type and size bounds.
        post = self._s3.generate_presigned_post(
            Bucket=self._bucket,
            Key=layout.screenshot_key(owner, recording_id),
            Fields={"Content-Type": "image/jpeg"},
            Conditions=[
                {"Content-Type": "image/jpeg"},
                ["content-length-range", 1, settings.SCREENSHOT_MAX_BYTES],
            ],
            ExpiresIn=settings.PRESIGN_SECONDS,
        )
        return {
            "method": "POST",
            "url": post["url"],
            "fields": post["fields"],
            "maxBytes": settings.SCREENSHOT_MAX_BYTES,
            "expiresIn": settings.PRESIGN_SECONDS,
        }


def new_id() -> str:
    """A fresh, unguessable recording id that matches the id pattern."""
    return secrets.token_urlsafe(16)
