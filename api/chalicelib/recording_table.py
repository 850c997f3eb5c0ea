"""Recording metadata in DynamoDB, and the recording lifecycle (create, list, delete).

Table layout (``schema.RECORDINGS``): one item per recording under the partition key
``pk = rec#<owner>#<recordingId>``, so every recording is its own partition key: no
owner's recordings share a partition or an item collection, however busy the site. The
global index ``byOwner`` (partition key ``owner``, sort key ``createdKey`` =
``<createdAt ms, 13 digits>#<id>``) lists an owner's recordings newest first; it projects
keys only and the page's items are read with one BatchGetItem, so the index is written
when a recording is created or deleted and never when its counts change. A recording
being deleted keeps a tombstone (``deleting``) without ``createdKey``, so it drops out of
the list at once, and late deliveries can be recognised as orphans.

What a POST writes: nothing. It reads the recording's item (one consistent GetItem);
the recording's counts and time span are added by the stream consumer, once per
recording per invocation (``count_chunk``), after the events are in S3, and never twice
for the same stream records (``countedThrough`` holds the last sequence number
counted). A seq sent twice (a retry after a lost answer) reaches the stream twice: the
reader serves it once and compaction counts it once.

The sparse global index ``byPendingCompaction`` holds recordings with events not yet
compacted: partition key ``pendingCompaction`` (one of ``COMPACTION_SHARDS`` shards,
set with every counted chunk), sort key ``activeAt`` (the last count, refreshed at most
every ``ACTIVE_REFRESH_SECONDS``, so most counts leave the index alone). The compactor
queries each shard for items inactive past a cutoff and checks the item's exact
``updatedAt``: no Scan, and O(1) requests per recording.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from botocore.exceptions import ClientError

from . import settings, validation
from .errors import ServiceUnavailableError
from .ids import compaction_shard, now_ms, recording_key
from .schema import (
    ACTIVE_ATTRIBUTE,
    INDEX_PENDING_COMPACTION,
    INDEX_RECORDINGS_BY_OWNER,
    INDEX_RECORDINGS_BY_USER,
    OWNER_USER_ATTRIBUTE,
    PENDING_ATTRIBUTE,
    RECORDINGS_KEY,
    SET_ASIDE_ATTRIBUTE,
    TTL_ATTRIBUTE,
)

_ACTIVE_REFRESH_MS = settings.ACTIVE_REFRESH_SECONDS * 1000
# BatchGetItem reads at most 100 keys per call.
_BATCH_GET_MAX = 100
# Stream sequence numbers are decimal strings of up to 128 digits; padded, they compare
# Page views of one session race only with each other (two tabs): a few attempts settle it.
_VISIT_ATTEMPTS = 3
# What a finished compaction clears: its runs' count, and why one failed or set it aside.
_COMPACTION_TRIES = f"compactionTries, compactionTriedAt, compactionError, {SET_ASIDE_ATTRIBUTE}, compactionSetAsideAt"


def _is_conditional_failure(exc: ClientError) -> bool:
    code: str | None = exc.response.get("Error", {}).get("Code")
    return code == "ConditionalCheckFailedException"


def _pages_bytes(pages: list[dict[str, Any]]) -> int:
    """The bytes page views take in the item: their url and title (what can be long)."""
    return sum(len((page.get("url") or "").encode()) + len((page.get("title") or "").encode()) for page in pages)


def first_page(item: dict[str, Any]) -> dict[str, Any]:
    """A recording's first page view as stored, or as its own fields say (items made before page views)."""
    pages: list[dict[str, Any]] | None = item.get("pages")
    if pages:
        return pages[0]
    return {"url": item.get("url"), "title": item.get("title"), "at": item.get("createdAt")}


# The stream's two consumers (docs/architecture.md, "Two consumers") each keep the last
# sequence number they counted of a recording: records of one consumer arrive in stream
# order, the two consumers' records not.
COUNTED_MARKS = ("countedThrough", "countedThroughLive")


def _nothing_counted_since(item: dict[str, Any], values: dict[str, Any]) -> str:
    """A condition: neither consumer counted a chunk since ``item`` was read (adds its values to ``values``).

    Both marks, not only the writer's own: the counts' first and last event times are
    set from ``item`` as read, so two consumers counting at once must not both win.
    """
    conditions = []
    for index, mark in enumerate(COUNTED_MARKS):
        if mark not in item:
            conditions.append(f"attribute_not_exists({mark})")
        else:
            values[f":counted{index}"] = item[mark]
            conditions.append(f"{mark} = :counted{index}")
    return " AND ".join(conditions)


@dataclass(frozen=True, kw_only=True)
class ChunkCounts:
    """What one chunk adds to its recording: counted batches and their time span."""

    batches: int = 0
    events: int = 0
    raw_bytes: int = 0
    stored_bytes: int = 0
    first_event_at: int | float | None = None
    last_event_at: int | float | None = None
    # Console errors the counted batches carried.
    errors: int = 0


@dataclass(frozen=True, kw_only=True)
class CreatedRange:
    """A range of creation times (ms, both ends included; None: open)."""

    since: int | None = None
    until: int | None = None

    def keys(self) -> tuple[str | None, str | None]:
        """The range as ``createdKey`` bounds: ids sort between "#" and "~" after the time."""
        low = f"{self.since:013d}#" if self.since is not None else None
        high = f"{self.until:013d}#~" if self.until is not None else None
        return low, high

    def holds(self, created_key: str) -> bool:
        """Whether an index key lies in the range (a cursor outside it cannot start a query in it)."""
        low, high = self.keys()
        return (low is None or created_key >= low) and (high is None or created_key <= high)


def _user_differs(item: dict[str, Any], user: validation.User) -> bool:
    return item.get("userId") != user.id or item.get("traits") != user.traits_json


def owner_user(owner: str, user_id: str) -> str:
    """The ``byUser`` index's key of a workspace's identified visitor."""
    return f"{owner}#{user_id}"


def _user_update(owner: str, user: validation.User, values: dict[str, Any]) -> tuple[list[str], list[str]]:
    """SET and REMOVE clauses that make the item's visitor ``user`` (adds its values), indexed by user."""
    values[":userId"] = user.id
    values[":ownerUser"] = owner_user(owner, user.id)
    sets = ["userId = :userId", f"{OWNER_USER_ATTRIBUTE} = :ownerUser"]
    if user.traits_json is None:
        return sets, ["traits"]
    values[":traits"] = user.traits_json
    return [*sets, "traits = :traits"], []


class RecordingTable:
    """Reads and writes recording items of one DynamoDB table."""

    def __init__(self, *, table: Any, tombstone_seconds: int = settings.TOMBSTONE_SECONDS) -> None:
        self._table = table
        self._tombstone_seconds = tombstone_seconds

    @property
    def table(self) -> Any:
        """The DynamoDB Table resource it reads and writes."""
        return self._table

    @staticmethod
    def owner_and_id(item: dict[str, Any]) -> tuple[str, str]:
        """(owner, recording id) of a recording's item or index entry (which may hold only ``pk``)."""
        if "owner" in item and "recordingId" in item:
            return item["owner"], item["recordingId"]
        _, owner, recording_id = str(item[RECORDINGS_KEY]).split("#", 2)
        return owner, recording_id

    def put_new(self, item: dict[str, Any]) -> bool:
        """Insert a recording ``item`` (with ``owner`` and ``recordingId``) unless the id exists; True when inserted."""
        return self._put_if_absent({**item, **recording_key(item["owner"], item["recordingId"])})

    def _put_if_absent(self, item: dict[str, Any]) -> bool:
        try:
            self._table.put_item(
                Item=item,
                ConditionExpression="attribute_not_exists(#pk)",
                ExpressionAttributeNames={"#pk": RECORDINGS_KEY},
            )
        except ClientError as exc:
            if _is_conditional_failure(exc):
                return False
            raise
        return True

    def get(self, owner: str, recording_id: str) -> dict[str, Any] | None:
        """The item, or None when missing or being deleted."""
        item = self.get_any(owner, recording_id)
        if item is None or item.get("deleting"):
            return None
        return item

    def get_any(self, owner: str, recording_id: str) -> dict[str, Any] | None:
        """The item including a deletion tombstone."""
        item: dict[str, Any] | None = self._table.get_item(
            Key=recording_key(owner, recording_id), ConsistentRead=True
        ).get("Item")
        return item

    def _batch_get(self, keys: list[dict[str, str]], *, consistent: bool) -> Iterator[dict[str, Any]]:
        client = self._table.meta.client
        pending = keys
        for attempt in range(8):
            if not pending:
                return
            if attempt:
                time.sleep(min(1.0, 0.02 * 2**attempt))  # DynamoDB asks to back off for unprocessed keys
            request = {self._table.name: {"Keys": pending[:_BATCH_GET_MAX], "ConsistentRead": consistent}}
            result = client.batch_get_item(RequestItems=request)
            yield from result.get("Responses", {}).get(self._table.name, [])
            unprocessed = result.get("UnprocessedKeys", {}).get(self._table.name, {}).get("Keys", [])
            pending = unprocessed + pending[_BATCH_GET_MAX:]
        if pending:
            raise RuntimeError(f"DynamoDB left {len(pending)} keys unread; retry the request")

    def _index(
        self, owner: str, *, limit: int, after: dict[str, str] | None, created: CreatedRange
    ) -> tuple[list[dict[str, Any]], bool]:
        """Up to ``limit`` of the owner's index entries after ``after``, newest first, and whether more follow."""
        names = {"#owner": "owner"}
        values: dict[str, Any] = {":owner": owner}
        condition = "#owner = :owner"
        low, high = created.keys()
        if low is not None or high is not None:
            # createdKey is "<13-digit ms>#<id>": a creation time range is a key range.
            names["#created"] = "createdKey"
            if low is not None and high is not None:
                condition += " AND #created BETWEEN :low AND :high"
                values |= {":low": low, ":high": high}
            elif low is not None:
                condition += " AND #created >= :low"
                values[":low"] = low
            else:
                condition += " AND #created <= :high"
                values[":high"] = high
        query: dict[str, Any] = {
            "IndexName": INDEX_RECORDINGS_BY_OWNER,
            "KeyConditionExpression": condition,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
            "ScanIndexForward": False,
            "Limit": limit,
        }
        if after is not None:
            query["ExclusiveStartKey"] = {
                "owner": owner,
                "createdKey": after["createdKey"],
                **recording_key(owner, after["recordingId"]),
            }
        result = self._table.query(**query)
        return result.get("Items", []), bool(result.get("LastEvaluatedKey"))

    def _live_items(self, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The items of index entries, in the entries' order, without recordings deleted meanwhile."""
        keys = [{RECORDINGS_KEY: entry[RECORDINGS_KEY]} for entry in entries]
        found = {item[RECORDINGS_KEY]: item for item in self._batch_get(keys, consistent=False)}
        return [
            found[key[RECORDINGS_KEY]]
            for key in keys
            if key[RECORDINGS_KEY] in found and not found[key[RECORDINGS_KEY]].get("deleting")
        ]

    def _position(self, entry: dict[str, Any]) -> dict[str, str]:
        return {"recordingId": self.owner_and_id(entry)[1], "createdKey": entry["createdKey"]}

    def page(
        self,
        owner: str,
        *,
        limit: int,
        after: dict[str, str] | None,
        created: CreatedRange | None = None,
    ) -> tuple[list[dict[str, Any]], dict[str, str] | None]:
        """One page of an owner's recordings, newest first, and where the next starts.

        The index gives the page's keys (within the ``created`` range, its key condition);
        one BatchGetItem reads their items. A recording deleted meanwhile (its
        tombstone, or no item) is left out.
        """
        entries, more = self._index(owner, limit=limit, after=after, created=created or CreatedRange())
        following = self._position(entries[-1]) if more and entries else None
        return self._live_items(entries), following

    def index_users(self) -> int:
        """Put every identified recording made before the ``byUser`` index existed into it; how many were.

        A one-off migration (``python -m ops.index_users``), never a request's work: it
        reads the whole table (a Scan of the items with a user and no index key).
        """
        indexed = 0
        scan: dict[str, Any] = {
            "FilterExpression": f"attribute_exists(userId) AND attribute_not_exists({OWNER_USER_ATTRIBUTE})"
            " AND attribute_exists(createdKey)",
            "ProjectionExpression": "#pk, #owner, userId",
            "ExpressionAttributeNames": {"#pk": RECORDINGS_KEY, "#owner": "owner"},
        }
        while True:
            page = self._table.scan(**scan)
            for item in page.get("Items", []):
                try:
                    self._table.update_item(
                        Key={RECORDINGS_KEY: item[RECORDINGS_KEY]},
                        UpdateExpression=f"SET {OWNER_USER_ATTRIBUTE} = :user",
                        ConditionExpression="attribute_exists(createdKey) AND userId = :id",
                        ExpressionAttributeValues={
                            ":user": owner_user(item["owner"], item["userId"]),
                            ":id": item["userId"],
                        },
                    )
                    indexed += 1
                except ClientError as exc:
                    if not _is_conditional_failure(exc):
                        raise
            if "LastEvaluatedKey" not in page:
                return indexed
            scan["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def of_user(self, owner: str, user_id: str, *, limit: int) -> list[str]:
        """Ids of up to ``limit`` of a workspace's recordings of one identified visitor (the ``byUser`` index)."""
        page = self._table.query(
            IndexName=INDEX_RECORDINGS_BY_USER,
            KeyConditionExpression=f"{OWNER_USER_ATTRIBUTE} = :user",
            ExpressionAttributeValues={":user": owner_user(owner, user_id)},
            Limit=limit,
        )
        return [self.owner_and_id(entry)[1] for entry in page.get("Items", [])]

    def matching(
        self,
        owner: str,
        *,
        limit: int,
        after: dict[str, str] | None,
        keep: Callable[[dict[str, Any]], bool],
        created: CreatedRange | None = None,
        examine: int | None = None,
    ) -> tuple[list[dict[str, Any]], dict[str, str] | None]:
        """Up to ``limit`` of the owner's recordings that ``keep`` accepts, newest first, and the next cursor.

        One Query reads at most ``examine`` index entries (keys only; ``LIST_SCAN_ENTRIES``
        unless said); their items are read 100 at a time with BatchGetItem, stopping once
        ``limit`` matched. When the entries run out first, the page holds what matched
        (maybe nothing) and the cursor is the last entry examined: a rare match costs more
        calls, never a longer one.
        """
        examine = examine or settings.LIST_SCAN_ENTRIES
        entries, more = self._index(owner, limit=examine, after=after, created=created or CreatedRange())
        matches: list[dict[str, Any]] = []
        for start in range(0, len(entries), _BATCH_GET_MAX):
            chunk = entries[start : start + _BATCH_GET_MAX]
            items = {item[RECORDINGS_KEY]: item for item in self._live_items(chunk)}
            for at, entry in enumerate(chunk, start=start):
                item = items.get(entry[RECORDINGS_KEY])
                if item is None or not keep(item):
                    continue
                matches.append(item)
                if len(matches) == limit:
                    last_examined = at == len(entries) - 1
                    return matches, None if last_examined and not more else self._position(entry)
        return matches, self._position(entries[-1]) if more and entries else None

    def count_chunk(
        self, item: dict[str, Any], counts: ChunkCounts, *, through: str, mark: str = COUNTED_MARKS[0]
    ) -> bool:
        """Add a stored chunk's counts to its recording and put it in line for compaction.

        ``item`` is the recording as read before the chunk was written; ``through`` is the
        last stream sequence number counted (``sequence_order``) by the consumer whose
        ``mark`` it is (``COUNTED_MARKS``). The write is conditional on nothing having
        been counted since ``item`` was read, so a redelivered record is never counted
        twice and racing writers never lose a count. False when the recording is gone or
        being deleted; raises ``ConditionalCheckFailedException`` on a lost race (retry).
        """
        owner, recording_id = self.owner_and_id(item)
        names = {"#pk": RECORDINGS_KEY}
        values: dict[str, Any] = {
            ":now": now_ms(),
            ":shard": compaction_shard(recording_id),
            ":through": through,
            ":b": counts.batches,
            ":n": counts.events,
            ":raw": counts.raw_bytes,
            ":stored": counts.stored_bytes,
        }
        if mark not in COUNTED_MARKS:
            raise ValueError(f"{mark!r} is not a consumer's mark")
        sets = ["updatedAt = :now", f"{PENDING_ATTRIBUTE} = :shard", f"{mark} = :through"]
        active = item.get(ACTIVE_ATTRIBUTE)
        if PENDING_ATTRIBUTE not in item or active is None or values[":now"] - int(active) >= _ACTIVE_REFRESH_MS:
            sets.append(f"{ACTIVE_ATTRIBUTE} = :now")
        if counts.first_event_at is not None:
            first = Decimal(str(counts.first_event_at))
            if "firstEventAt" not in item or item["firstEventAt"] > first:
                sets.append("firstEventAt = :first")
                values[":first"] = first
        if counts.last_event_at is not None:
            last = Decimal(str(counts.last_event_at))
            if "lastEventAt" not in item or item["lastEventAt"] < last:
                sets.append("lastEventAt = :last")
                values[":last"] = last
        adds = ["batchCount :b", "eventCount :n", "rawBytes :raw", "storedBytes :stored"]
        if counts.errors:
            # In the same write as the counts: console errors cost no request of their own.
            adds.append("errorCount :errors")
            values[":errors"] = counts.errors
        condition = "attribute_exists(#pk) AND attribute_not_exists(deleting) AND " + _nothing_counted_since(
            item, values
        )
        try:
            self._table.update_item(
                Key=recording_key(owner, recording_id),
                UpdateExpression=f"SET {', '.join(sets)} ADD {', '.join(adds)}",
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except ClientError as exc:
            if not _is_conditional_failure(exc):
                raise
            current = self.get_any(owner, recording_id)
            if current is None or current.get("deleting"):
                return False
            raise
        return True

    def record_visit(
        self, item: dict[str, Any], *, page: dict[str, Any], view: int | None, user: validation.User | None
    ) -> dict[str, Any] | None:
        """A later page view of the session (and its visitor), in one conditional UpdateItem; the item after it.

        The page is appended when ``view`` is newer than the last view recorded, so a
        retried create adds nothing; ``pages`` keeps the first ``MAX_PAGES`` (within
        ``MAX_PAGES_BYTES``), ``pageCount`` counts every one. ``user`` is written only
        when it differs. No write at all when nothing changes. None when the recording
        is gone or being deleted.
        """
        owner, recording_id = self.owner_and_id(item)
        for _ in range(_VISIT_ATTEMPTS):
            values: dict[str, Any] = {}
            sets: list[str] = []
            removes: list[str] = []
            conditions = ["attribute_exists(#pk)", "attribute_not_exists(deleting)"]
            last = item.get("lastViewAt")
            if view is not None and (last is None or view > last):
                sets += ["lastViewAt = :view", "pageCount = if_not_exists(pageCount, :one) + :one"]
                conditions.append("(attribute_not_exists(lastViewAt) OR lastViewAt < :view)")
                values |= {":view": view, ":one": 1}
                kept = item.get("pages") or [first_page(item)]
                # Once a page view did not fit, the list is closed: it holds the first ones only.
                closed = len(kept) < int(item.get("pageCount", 1))
                if (
                    not closed
                    and len(kept) < settings.MAX_PAGES
                    and _pages_bytes([*kept, page]) <= settings.MAX_PAGES_BYTES
                ):
                    # A recording made before page views were kept starts its list with its first page.
                    sets.append("pages = list_append(if_not_exists(pages, :first), :page)")
                    conditions.append("(attribute_not_exists(pages) OR size(pages) < :max)")
                    values |= {":first": [first_page(item)], ":page": [page], ":max": settings.MAX_PAGES}
            if user is not None and _user_differs(item, user):
                user_sets, user_removes = _user_update(owner, user, values)
                sets += user_sets
                removes += user_removes
            if not sets:
                return item
            update = f"SET {', '.join(sets)}" + (f" REMOVE {', '.join(removes)}" if removes else "")
            try:
                updated: dict[str, Any] = self._table.update_item(
                    Key=recording_key(owner, recording_id),
                    UpdateExpression=update,
                    ConditionExpression=" AND ".join(conditions),
                    ExpressionAttributeNames={"#pk": RECORDINGS_KEY},
                    ExpressionAttributeValues=values,
                    ReturnValues="ALL_NEW",
                )["Attributes"]
                return updated
            except ClientError as exc:
                if not _is_conditional_failure(exc):
                    raise
            # Another view of the session was recorded meanwhile: decide again on what is stored now.
            stored = self.get(owner, recording_id)
            if stored is None:
                return None
            item = stored
        raise ServiceUnavailableError("the recording kept changing; retry the same request", retry_after=1)

    def set_user(self, item: dict[str, Any], user: validation.User) -> None:
        """Make ``user`` the recording's visitor, unless it already is (then nothing is written)."""
        if not _user_differs(item, user):
            return
        owner, recording_id = self.owner_and_id(item)
        values: dict[str, Any] = {}
        sets, removes = _user_update(owner, user, values)
        try:
            self._table.update_item(
                Key=recording_key(owner, recording_id),
                UpdateExpression=f"SET {', '.join(sets)}" + (f" REMOVE {', '.join(removes)}" if removes else ""),
                ConditionExpression="attribute_exists(#pk) AND attribute_not_exists(deleting)",
                ExpressionAttributeNames={"#pk": RECORDINGS_KEY},
                ExpressionAttributeValues=values,
            )
        except ClientError as exc:
            if not _is_conditional_failure(exc):
                raise

    def mark_screenshot(self, owner: str, recording_id: str) -> bool:
        """Note that the recording's screenshot is stored; False when the recording is gone or being deleted."""
        try:
            self._table.update_item(
                Key=recording_key(owner, recording_id),
                UpdateExpression="SET screenshotAt = :now",
                ConditionExpression="attribute_exists(#pk) AND attribute_not_exists(deleting)",
                ExpressionAttributeNames={"#pk": RECORDINGS_KEY},
                ExpressionAttributeValues={":now": now_ms()},
            )
        except ClientError as exc:
            if _is_conditional_failure(exc):
                return False
            raise
        return True

    def mark_ended(self, owner: str, recording_id: str) -> None:
        """Note that the recorder ended the recording (its stop()): never shown as live again."""
        try:
            self._table.update_item(
                Key=recording_key(owner, recording_id),
                UpdateExpression="SET endedAt = :now",
                ConditionExpression="attribute_exists(#pk) AND attribute_not_exists(deleting) "
                "AND attribute_not_exists(endedAt)",
                ExpressionAttributeNames={"#pk": RECORDINGS_KEY},
                ExpressionAttributeValues={":now": now_ms()},
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
                Key=recording_key(owner, recording_id),
                UpdateExpression="SET watchedUntil = :until",
                ConditionExpression="attribute_exists(#pk) AND attribute_not_exists(deleting)",
                ExpressionAttributeNames={"#pk": RECORDINGS_KEY},
                ExpressionAttributeValues={":until": now + settings.WATCH_SECONDS * 1000},
            )
        except ClientError as exc:
            if not _is_conditional_failure(exc):
                raise

    def pending_compaction(self, shard: str, *, idle_before: int, page: int = 100) -> Iterator[dict[str, Any]]:
        """Keys of the recordings in ``shard`` inactive since before ``idle_before`` ms, oldest first.

        ``activeAt`` trails the last count by up to ``ACTIVE_REFRESH_SECONDS``: the
        caller checks the item's ``updatedAt``.

        Page by page, as far as the caller reads: recordings that stay pending (waiting
        for parts, or failing) never hide the ones behind them. ``owner_and_id`` reads
        a returned entry's recording.
        """
        start: dict[str, Any] | None = None
        while True:
            query: dict[str, Any] = {
                "IndexName": INDEX_PENDING_COMPACTION,
                "KeyConditionExpression": "#p = :shard AND #active < :cutoff",
                "ExpressionAttributeNames": {"#p": PENDING_ATTRIBUTE, "#active": ACTIVE_ATTRIBUTE},
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

    def finish_compaction(
        self, item: dict[str, Any], *, generation: int, events: int | None = None, batches: int | None = None
    ) -> bool:
        """Leave the pending index, unless a chunk was counted since ``item`` was read; True when it left.

        ``events`` and ``batches`` are the compacted generation's exact counts (each seq
        once): they replace the running counts, which a batch sent twice can inflate.
        """
        owner, recording_id = self.owner_and_id(item)
        values: dict[str, Any] = {":seen": item["updatedAt"], ":g": generation}
        update = f"REMOVE {PENDING_ATTRIBUTE}, {_COMPACTION_TRIES} SET compactedGeneration = :g"
        if events is not None and batches is not None:
            update += ", eventCount = :events, batchCount = :batches"
            values |= {":events": events, ":batches": batches}
        condition = "attribute_exists(#pk) AND attribute_not_exists(deleting) AND updatedAt = :seen AND "
        condition += _nothing_counted_since(item, values)
        try:
            self._table.update_item(
                Key=recording_key(owner, recording_id),
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeNames={"#pk": RECORDINGS_KEY},
                ExpressionAttributeValues=values,
            )
        except ClientError as exc:
            if _is_conditional_failure(exc):
                return False
            raise
        return True

    def begin_compaction(self, item: dict[str, Any]) -> int:
        """Count a compaction run starting to write the recording's new generation; how many have since its last count.

        Written before the work, so a run that never ends it (whatever stopped it) still counts.
        """
        owner, recording_id = self.owner_and_id(item)
        seen = item.get("updatedAt")
        tries = int(item.get("compactionTries", 0)) + 1 if item.get("compactionTriedAt") == seen else 1
        try:
            self._table.update_item(
                Key=recording_key(owner, recording_id),
                UpdateExpression="SET compactionTries = :tries, compactionTriedAt = :seen",
                ConditionExpression="attribute_exists(#pk) AND attribute_not_exists(deleting)",
                ExpressionAttributeNames={"#pk": RECORDINGS_KEY},
                ExpressionAttributeValues={":tries": tries, ":seen": seen if seen is not None else 0},
            )
        except ClientError as exc:
            if not _is_conditional_failure(exc):
                raise
        return tries

    def note_compaction_error(self, owner: str, recording_id: str, *, reason: str) -> None:
        """Keep why the last compaction run of the recording failed (the reason it is set aside with, if it is)."""
        try:
            self._table.update_item(
                Key=recording_key(owner, recording_id),
                UpdateExpression="SET compactionError = :reason",
                ConditionExpression="attribute_exists(#pk)",
                ExpressionAttributeNames={"#pk": RECORDINGS_KEY},
                ExpressionAttributeValues={":reason": reason},
            )
        except ClientError as exc:
            if not _is_conditional_failure(exc):
                raise

    def set_aside_compaction(self, item: dict[str, Any], *, reason: str) -> None:
        """Take a recording that cannot be compacted out of the pending index, keeping why and when on its item.

        Unless a chunk was counted since ``item`` was read: then it stays pending, and its
        runs are counted afresh. It stays readable (its chunks are kept), and a chunk
        counted later puts it back in line.
        """
        owner, recording_id = self.owner_and_id(item)
        try:
            self._table.update_item(
                Key=recording_key(owner, recording_id),
                UpdateExpression=(
                    f"REMOVE {PENDING_ATTRIBUTE} SET {SET_ASIDE_ATTRIBUTE} = :reason, compactionSetAsideAt = :now"
                ),
                ConditionExpression="attribute_exists(#pk) AND attribute_not_exists(deleting) AND updatedAt = :seen",
                ExpressionAttributeNames={"#pk": RECORDINGS_KEY},
                ExpressionAttributeValues={":reason": reason, ":now": now_ms(), ":seen": item.get("updatedAt", 0)},
            )
        except ClientError as exc:
            if not _is_conditional_failure(exc):
                raise

    def reschedule_compaction(self, owner: str, recording_id: str) -> None:
        """Put a recording back in the pending index: chunks were written outside the stream (a rebuild)."""
        try:
            self._table.update_item(
                Key=recording_key(owner, recording_id),
                UpdateExpression=f"SET {PENDING_ATTRIBUTE} = :shard, updatedAt = :now, {ACTIVE_ATTRIBUTE} = :now",
                ConditionExpression="attribute_exists(#pk) AND attribute_not_exists(deleting)",
                ExpressionAttributeNames={"#pk": RECORDINGS_KEY},
                ExpressionAttributeValues={":shard": compaction_shard(recording_id), ":now": now_ms()},
            )
        except ClientError as exc:
            if not _is_conditional_failure(exc):
                raise

    def mark_deleting(self, owner: str, recording_id: str) -> None:
        """Leave a tombstone: hidden from reads and the list, writes refused, out of line for compaction."""
        self._table.update_item(
            Key=recording_key(owner, recording_id),
            UpdateExpression=f"SET deleting = :now REMOVE createdKey, {PENDING_ATTRIBUTE}",
            ConditionExpression="attribute_exists(#pk)",
            ExpressionAttributeNames={"#pk": RECORDINGS_KEY},
            ExpressionAttributeValues={":now": now_ms()},
        )

    def remove(self, owner: str, recording_id: str) -> None:
        """Forget the recording: only a bare tombstone stays, for ``settings.TOMBSTONE_SECONDS``.

        Until then the id cannot be created again, so a batch of the deleted recording
        still on its way can never be taken for one of a new recording with the same id;
        its url, title and counts are gone at once.
        """
        now = now_ms()
        self._table.put_item(
            Item={
                **recording_key(owner, recording_id),
                "owner": owner,
                "recordingId": recording_id,
                "deleting": now,
                TTL_ATTRIBUTE: now // 1000 + self._tombstone_seconds,
            }
        )


def chunk_counts(parts: Iterable[Any]) -> ChunkCounts:
    """The counts of the batches whose parts are all among ``parts`` (``records.RecordPart``).

    A batch counts once every part of one attempt is here (parts of an attempt share
    its checksum), so the first parts of a write the stream refused half of (the client
    got a 503) count for nothing; a batch whose parts arrive in two invocations is
    counted by compaction, which replaces the running counts with exact ones. A seq sent
    twice is counted once when both copies arrive in one invocation; copies in separate
    invocations are counted again until compaction.
    """
    attempts: dict[tuple[int, str, int], dict[int, Any]] = {}
    stored = 0
    for part in parts:
        stored += len(part.data)
        attempts.setdefault((part.seq, part.crc, part.parts), {}).setdefault(part.part, part)
    batches = events = raw = errors = 0
    first: int | float | None = None
    last: int | float | None = None
    seen: set[int] = set()
    for (seq, _, total), found in attempts.items():
        if seq in seen or len(found) != total:
            continue
        seen.add(seq)
        head = found[0]
        batches += 1
        events += head.events
        raw += head.raw
        errors += head.errors
        if head.first is not None:
            first = head.first if first is None else min(first, head.first)
        if head.last is not None:
            last = head.last if last is None else max(last, head.last)
    return ChunkCounts(
        batches=batches,
        events=events,
        raw_bytes=raw,
        stored_bytes=stored,
        first_event_at=first,
        last_event_at=last,
        errors=errors,
    )
