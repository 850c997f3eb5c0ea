"""The recording lifecycle over its table item and the bucket's objects.

Create (a later page view of a session adds to its recording), describe, list with
filters, delete (tombstone first, then the objects, then the item), the public view of
an item with its presigned screenshot link and upload form, and the reaper of objects
that arrive for a recording that no longer exists. The item's reads and writes are
``recording_table.RecordingTable``'s.
"""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

import orjson

from . import layout, settings, useragent, validation
from .errors import ApiError, BadRequestError, NotFoundError
from .ids import new_id, now_ms
from .recording_objects import RecordingObjects
from .recording_table import CreatedRange, RecordingTable, first_page, owner_user
from .schema import OWNER_USER_ATTRIBUTE, PENDING_ATTRIBUTE, TTL_ATTRIBUTE


def _number(value: Any) -> int | float | None:
    if value is None:
        return None
    return int(value) if value == int(value) else float(value)


@dataclass(frozen=True, kw_only=True)
class Visit:
    """What a create says about the session besides its page: when the view began, where from, who."""

    view: int | None = None
    referrer: str | None = None
    viewport: validation.Viewport | None = None
    user: validation.User | None = None
    agent: useragent.Agent = field(default_factory=useragent.Agent)

    @classmethod
    def of(cls, body: validation.CreateBody, *, user_agent: str | None) -> Visit:
        """The visit a validated create body and its request's User-Agent describe."""
        return cls(
            view=body.view,
            referrer=body.referrer,
            viewport=body.viewport,
            user=body.user,
            agent=useragent.parse(user_agent),
        )


# A consumer's poll, invocation and write after its window closes, and the reader's poll.
SETTLE_MARGIN_MS = 5_000


class Recordings:
    """The recording lifecycle over metadata and the bucket's objects."""

    def __init__(
        self,
        *,
        table: RecordingTable,
        s3: Any,
        bucket: str,
        retention_days: int | None = None,
        unwatched_window_seconds: int = settings.CONSUMER_BATCHING_WINDOW_SECONDS,
    ) -> None:
        # A recording nobody watches is stored up to this late (the unwatched consumer's
        # window): it stays live that much longer, and an ended one settles that much later.
        self._window_ms = unwatched_window_seconds * 1000
        self._table = table
        self._s3 = s3
        self._bucket = bucket
        self._objects = RecordingObjects(s3=s3, bucket=bucket, cache_bytes=0)
        self._retention_days = retention_days

    def create(
        self,
        owner: str,
        *,
        recording_id: str | None = None,
        url: str | None = None,
        title: str | None = None,
        visit: Visit | None = None,
    ) -> tuple[dict[str, Any], bool]:
        """Create a recording (or, for an id that exists, record this later page view of its session).

        ``url``, ``title`` and ``visit`` arrive validated (``validation.create_body``). A new
        recording stores its first page view, referrer, window, visitor and browser; an
        existing one gets the page appended when its ``view`` is newer than the last one
        (``RecordingTable.record_visit``). Returns the response body and whether a new
        recording was made.
        """
        recording_id = validation.recording_id(recording_id) if recording_id is not None else new_id()
        visit = visit or Visit()
        created = now_ms()
        page = {"url": url, "title": title, "at": visit.view if visit.view is not None else created}
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
            "pages": [page],
            "pageCount": 1,
            "lastViewAt": page["at"],
        }
        if self._retention_days is not None:
            # DynamoDB TTL (epoch seconds): the item goes when lifecycle expires its events.
            item[TTL_ATTRIBUTE] = created // 1000 + self._retention_days * 86400
        optional = {
            "url": url,
            "title": title,
            "referrer": visit.referrer,
            "browser": visit.agent.browser,
            "os": visit.agent.os,
            "device": visit.agent.device,
            "viewport": {"width": visit.viewport.width, "height": visit.viewport.height} if visit.viewport else None,
            "userId": visit.user.id if visit.user else None,
            "traits": visit.user.traits_json if visit.user else None,
        }
        item |= {name: value for name, value in optional.items() if value is not None}
        if visit.user:
            item[OWNER_USER_ATTRIBUTE] = owner_user(owner, visit.user.id)  # the byUser index: deleting a person
        inserted = self._table.put_new(item)
        if not inserted:
            existing = self._table.get(owner, recording_id)
            if existing is not None:
                existing = self._table.record_visit(existing, page=page, view=visit.view, user=visit.user)
            if existing is None:
                raise ApiError(
                    "this id belonged to a deleted recording; create the recording with another id",
                    code="id_in_use",
                    status=409,
                )
            item = existing
        return {
            "recording": self.public(owner, item),
            "screenshotUpload": self._screenshot_upload(owner, recording_id),
            # For the caller (``ingest.create_recording``), never sent: the item as stored.
            "item": item,
        }, inserted

    def require(self, owner: str, recording_id: str) -> dict[str, Any]:
        """The recording's item, or 404 (unknown, deleted, or not this owner's)."""
        item = self._table.get(owner, validation.recording_id(recording_id))
        if item is None:
            raise NotFoundError("recording not found")
        return item

    def describe(self, owner: str, recording_id: str) -> dict[str, Any]:
        """The public view of one recording."""
        return self.public(owner, self.require(owner, recording_id))

    def list_page(
        self, owner: str, *, limit: int, cursor: str | None, filters: validation.ListFilters | None = None
    ) -> dict[str, Any]:
        """An owner's recordings, newest first, with an opaque cursor for the next page.

        A creation time range (``from``/``to``) narrows the index query itself. The other
        filters are applied to the items read (``RecordingTable.matching``): a page then
        may hold fewer than ``limit`` recordings, even none, and still a cursor.
        """
        filters = filters or validation.ListFilters()
        created = CreatedRange(since=filters.since, until=filters.until)
        after = validation.decode_cursor(cursor, {"recordingId": str, "createdKey": str})
        if after is not None:
            validation.recording_id(after["recordingId"])
            # The index key this API wrote: DynamoDB refuses a malformed start key (a 500),
            # and one outside the query's key range.
            if not re.fullmatch(
                r"[0-9]{13}#" + re.escape(after["recordingId"]), after["createdKey"]
            ) or not created.holds(after["createdKey"]):
                raise BadRequestError("cursor is not one this API returned", code="invalid_cursor")
        if filters.on_items:
            items, following = self._table.matching(
                owner, limit=limit, after=after, created=created, keep=lambda item: _matches(item, filters)
            )
        else:
            items, following = self._table.page(owner, limit=limit, after=after, created=created)
        return {
            "recordings": [self.public(owner, item) for item in items],
            "cursor": validation.encode_cursor(following) if following else None,
        }

    def delete_many(self, owner: str, ids: list[str]) -> dict[str, Any]:
        """Delete each of ``ids`` (at most ``settings.DELETE_BATCH``); what was deleted and what was not found."""
        deleted, missing = [], []
        for recording_id in ids:
            try:
                self.delete(owner, recording_id)
                deleted.append(recording_id)
            except NotFoundError:
                missing.append(recording_id)
        return {"deleted": deleted, "notFound": missing}

    def delete_person(self, owner: str, user_id: str) -> dict[str, Any]:
        """Delete up to ``settings.DELETE_BATCH`` recordings of one identified visitor; ``more`` when others remain.

        Bounded time per call (one index Query, then each recording's own delete): the
        caller repeats while ``more`` is true.
        """
        ids = self._table.of_user(owner, user_id, limit=settings.DELETE_BATCH)
        report = self.delete_many(owner, ids)
        more = bool(ids) and len(ids) == settings.DELETE_BATCH and bool(self._table.of_user(owner, user_id, limit=1))
        return {**report, "userId": user_id, "more": more}

    def delete(self, owner: str, recording_id: str) -> None:
        """Remove metadata, event objects and screenshot; 404 if there is nothing to delete."""
        validation.recording_id(recording_id)
        item = self._table.get_any(owner, recording_id)
        # A bare tombstone (no createdAt) is a recording deleted already.
        if item is None or "createdAt" not in item:
            raise NotFoundError("recording not found")
        # Tombstone first: the recording disappears and stops taking events at once,
        # and if deleting objects fails, a retried DELETE finds the tombstone and resumes.
        self._table.mark_deleting(owner, recording_id)
        self._objects.delete_prefix(layout.recording_prefix(owner, recording_id))
        self._table.remove(owner, recording_id)

    def object_created(self, key: str) -> str:
        """What a new object under a recording's prefix means: "reaped", "screenshot" or "kept".

        An object that arrived for a recording that no longer exists is deleted: delivery
        is asynchronous (chunks of a just-deleted recording can land after the DELETE, a
        browser may upload its screenshot late). A recording's screenshot, uploaded by
        the browser straight to S3 with the create's presigned form, is noted on its item
        (``screenshotAt``) the first time, so listing it costs no request to S3.
        """
        parsed = layout.parse_recording_key(key)
        if parsed is None:
            return "kept"
        owner, recording_id = parsed
        item = self._table.get(owner, recording_id)
        if item is not None and key == layout.screenshot_key(owner, recording_id):
            if "screenshotAt" in item or self._table.mark_screenshot(owner, recording_id):
                return "screenshot"
            item = None  # deleted since it was read: the screenshot is an orphan too
        if item is not None:
            return "kept"
        self._s3.delete_object(Bucket=self._bucket, Key=key)
        return "reaped"

    def reap_if_orphan(self, key: str) -> bool:
        """Handle one new object (``object_created``); True when it was an orphan and went."""
        return self.object_created(key) == "reaped"

    def reap_notification(self, event: dict[str, Any]) -> dict[str, int]:
        """Handle an S3 object-created notification; how many objects were reaped and screenshots noted."""
        outcomes = {"reaped": 0, "screenshots": 0}
        for record in event.get("Records", []):
            # Notification keys are URL-encoded, with '+' for spaces.
            outcome = self.object_created(urllib.parse.unquote_plus(record["s3"]["object"]["key"]))
            if outcome == "reaped":
                outcomes["reaped"] += 1
            elif outcome == "screenshot":
                outcomes["screenshots"] += 1
        return outcomes

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
            "durationMs": _duration(item),
            # Still being recorded (created, or its events counted, within the last
            # LIVE_IDLE_MS plus the unwatched consumer's window, and not ended by its
            # recorder's stop()): the replay page follows it live until this turns false.
            # Its first events may still be on their way to S3.
            "live": "endedAt" not in item
            and now_ms() - int(item.get("updatedAt", 0)) < settings.LIVE_IDLE_MS + self._window_ms,
            # When the recorder ended it (stop()), or null: its last batches may still be on
            # their way to S3, the last one holding the "end" custom event...
            "endedAt": _number(item["endedAt"]) if "endedAt" in item else None,
            # ...until this (ms; null unless ended): its end plus the unwatched consumer's
            # window and the invocation's seconds. A replay opened before reads on until then.
            "settlesAt": int(item["endedAt"]) + self._window_ms + SETTLE_MARGIN_MS if "endedAt" in item else None,
            # Its events are one object (plus any that arrived since, until the next run).
            "compacted": PENDING_ATTRIBUTE not in item and int(item.get("compactedGeneration", 0)) > 0,
            # Only once the bucket said it was stored (``object_created``): never a link that 404s.
            "screenshotUrl": self._screenshot_url(owner, item["recordingId"]) if "screenshotAt" in item else None,
            "pageCount": int(item.get("pageCount", 1)),
            "pages": [
                {"url": page.get("url"), "title": page.get("title"), "at": _number(page.get("at"))}
                for page in item.get("pages") or [first_page(item)]
            ],
            "browser": item.get("browser"),
            "os": item.get("os"),
            "device": item.get("device"),
            "viewport": (
                {"width": int(item["viewport"]["width"]), "height": int(item["viewport"]["height"])}
                if "viewport" in item
                else None
            ),
            "referrer": item.get("referrer"),
            "userId": item.get("userId"),
            "traits": orjson.loads(item["traits"]) if "traits" in item else None,
            "errorCount": int(item.get("errorCount", 0)),
        }

    def _screenshot_url(self, owner: str, recording_id: str) -> str:
        url: str = self._s3.generate_presigned_url(
            "get_object",
            # Whatever was uploaded, the link serves it as an image, never as a page.
            Params={
                "Bucket": self._bucket,
                "Key": layout.screenshot_key(owner, recording_id),
                "ResponseContentType": "image/jpeg",
                "ResponseContentDisposition": "inline",
            },
            ExpiresIn=settings.PRESIGN_SECONDS,
        )
        return url

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


def _duration(item: dict[str, Any]) -> int | float:
    first, last = _number(item.get("firstEventAt")), _number(item.get("lastEventAt"))
    return (last - first) if first is not None and last is not None else 0


def _matches(item: dict[str, Any], filters: validation.ListFilters) -> bool:
    """Whether a recording's item passes the filters applied to items (not the creation range)."""
    if filters.user is not None and item.get("userId") != filters.user:
        return False
    if filters.errors and int(item.get("errorCount", 0)) <= 0:
        return False
    duration = _duration(item)
    if filters.min_duration is not None and duration < filters.min_duration:
        return False
    if filters.max_duration is not None and duration > filters.max_duration:
        return False
    if filters.q is not None:
        needle = filters.q.casefold()
        texts = [item.get("url"), item.get("title"), item.get("userId")]
        for page in item.get("pages") or []:
            texts += [page.get("url"), page.get("title")]
        if not any(isinstance(text, str) and needle in text.casefold() for text in texts):
            return False
    return True
