"""Ingest keys: write-only credentials for pages and the bookmarklet.

A key reads ``rrk_<key id>_<secret>``. A named key is shown once, at creation; the access
table keeps only the SHA-256 of the secret (the secret is 256 random bits, so a fast
hash is safe). Items: ``pk = key#<id>`` with ``owner``, ``secretHash``, ``name``,
``createdAt``, the key's own budget when it was given one (``requestsPerMinute``,
``bytesPerMinute``), its recording ``controls`` and ``allowedOrigins`` when an admin set
some (``controls.py``), what was noted of its use (``lastUsedAt``; a revoked key still
sent: ``lastRefusedAt``, ``refusals``; another origin refused: ``lastOriginRefusedAt``,
``refusedOrigin``; a page's policy blocking the recorder: ``lastBlockedAt``,
``blockedDirective``, ``blockedUri``) and, once revoked, ``revokedAt``; the sparse index
``byOwner`` lists an owner's keys.

A purpose key (``bookmarklet``, ``demo``) is the one key the site uses for that purpose,
in whichever browser its owner signs in: asking for it returns the active one, with its
secret, or makes one. Its item also keeps ``purpose`` and the ``secret`` itself (it sits
in every page it records anyway). Which key serves a purpose is a pointer item,
``pk = purpose#<owner>#<purpose>`` holding ``keyId`` (no ``createdAt``, so never in the
index); a new purpose key and its pointer are written in one transaction, conditional
on the pointer being as it was read, so two browsers asking at once get one key.
Revoking a purpose key leaves the pointer on a revoked key: the next request makes a
new one.

An owner's key limits (``MAX_KEYS_PER_OWNER`` active, ``MAX_KEYS_CREATED_PER_WINDOW`` made
in the last ``KEY_CREATION_WINDOW_S``) are exact, however many creations run at once:
a counter item ``pk = keylimits#<owner>`` holds ``active``, ``created`` (the creation
times still inside the window, oldest first, at most the window's limit) and
``version``. A creation reads it (consistently), refuses when a limit is reached, and
otherwise writes the key and the counter's next state in one TransactWriteItems
conditional on ``version`` being as read: of creations racing on one reading, one
wins and the others read again. A revocation marks the key and takes one from
``active`` in one transaction, conditional on the key not being revoked yet, so a key
is taken off once. An owner whose keys predate the counter gets one, counted from the
index, at their first creation or revocation.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import random
import re
import secrets
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from . import controls as recording_controls
from . import settings, validation
from .errors import (
    BadRequestError,
    ConflictError,
    ForbiddenError,
    NotFoundError,
    ServiceUnavailableError,
    TooManyRequestsError,
    UnauthorizedError,
)
from .schema import INDEX_KEYS_BY_OWNER as INDEX_BY_OWNER

PREFIX = "rrk_"
_KEY = re.compile(r"\Arrk_([0-9a-f]{16})_([A-Za-z0-9_-]{43})\Z")
_KEY_ID = re.compile(r"\A[0-9a-f]{16}\Z")
_CACHE_ENTRIES = 1024
PURPOSES = ("bookmarklet", "demo")
# A creation's write fails only when another creation or revocation of the owner's
# changed the counter after it was read (or, on AWS, a transaction ran into it), and an
# owner's changes within a window are bounded by the key limits: racing creations all
# settle well within this many attempts.
_ATTEMPTS = 64
_BATCH_GET_MAX = 100


logger = logging.getLogger("rrweb")


def _now_ms() -> int:
    return int(time.time() * 1000)


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True, kw_only=True)
class VerifiedKey:
    """A valid, unrevoked key: whose it is, and its budget per minute (None: the stack's default)."""

    owner: str
    key_id: str
    requests_per_minute: int | None = None
    bytes_per_minute: int | None = None


def _budget(body: dict[str, Any], field: str, most: int) -> int | None:
    value = body.get(field)
    if value is None:
        return None
    if type(value) is not int or not 1 <= value <= most:
        raise BadRequestError(f"{field} must be a whole number from 1 to {most}", code="invalid_budget")
    return value


class Keys:
    """Create, list, revoke and verify ingest keys."""

    def __init__(
        self,
        *,
        table: Any,
        limits: settings.Limits | None = None,
        cache_seconds: float = settings.KEY_CACHE_SECONDS,
        cache_entries: int = _CACHE_ENTRIES,
    ) -> None:
        self._table = table
        self._limits = limits or settings.Limits()
        self._cache_seconds = cache_seconds
        self._cache_entries = cache_entries
        self._cache: dict[str, tuple[float, dict[str, Any] | None]] = {}
        # When this process last noted a key's use or refusal (monotonic seconds).
        self._noted: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()

    @property
    def table(self) -> Any:
        """The access table (a boto3 DynamoDB Table) the keys and their purposes are kept in."""
        return self._table

    def create(self, owner: str, body: dict[str, Any]) -> dict[str, Any]:
        """A new key; the only response that ever contains its secret.

        ``requestsPerMinute`` and ``bytesPerMinute`` give the key a budget of its own (a
        busy site's key more than the stack's default, a test page's less), up to the
        stack's ``key_requests_max`` and 10x the default bytes.
        """
        name = validation.optional_text(body, "name", max_length=100) or "ingest key"
        requests = _budget(body, "requestsPerMinute", self._limits.key_requests_max)
        size = _budget(body, "bytesPerMinute", 10 * self._limits.key_bytes)
        for attempt in range(_ATTEMPTS):
            counted = self._count_one_more(owner)
            item, secret = self._new_key(owner, name=name, requests=requests, size=size)
            if self._write(counted, {"Put": self._put(item)}, attempt=attempt):
                return {**self._public(item), "key": f"{PREFIX}{item['keyId']}_{secret}"}
        raise ServiceUnavailableError("the owner's keys kept changing; retry the same request", retry_after=1)

    def for_purpose(self, owner: str, body: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        """The owner's active key for ``body["purpose"]`` with its secret, or a new one; and whether it is new.

        Never another owner's key, never a revoked one. A new one counts toward the
        owner's key limits like any key.
        """
        purpose = body.get("purpose")
        if purpose not in PURPOSES or set(body) != {"purpose"}:
            raise BadRequestError(
                f"purpose must be one of {', '.join(PURPOSES)}, and comes alone (no name or budget)",
                code="invalid_purpose",
            )
        pointer_key = {"pk": f"purpose#{owner}#{purpose}"}
        for attempt in range(_ATTEMPTS):
            pointer = self._table.get_item(Key=pointer_key, ConsistentRead=True).get("Item")
            if pointer is not None:
                current = self._table.get_item(Key={"pk": f"key#{pointer['keyId']}"}, ConsistentRead=True).get("Item")
                if (
                    current is not None
                    and current.get("owner") == owner
                    and current.get("purpose") == purpose
                    and "revokedAt" not in current
                    and "secret" in current
                ):
                    return {**self._public(current), "key": f"{PREFIX}{current['keyId']}_{current['secret']}"}, False
            counted = self._count_one_more(owner)
            item, secret = self._new_key(owner, name=purpose, purpose=purpose)
            claim: dict[str, Any] = {
                "TableName": self._table.name,
                "Item": {**pointer_key, "keyId": item["keyId"]},
            }
            if pointer is None:
                claim["ConditionExpression"] = "attribute_not_exists(pk)"
            else:
                claim["ConditionExpression"] = "keyId = :previous"
                claim["ExpressionAttributeValues"] = {":previous": pointer["keyId"]}
            # Cancelled when another browser claimed the purpose first (its key is read on
            # the next turn) or another key of the owner's was made or revoked meanwhile.
            if self._write(counted, {"Put": self._put(item)}, {"Put": claim}, attempt=attempt):
                return {**self._public(item), "key": f"{PREFIX}{item['keyId']}_{secret}"}, True
        raise ServiceUnavailableError("the key kept changing; retry the same request", retry_after=1)

    def _put(self, item: dict[str, Any]) -> dict[str, Any]:
        return {"TableName": self._table.name, "Item": item, "ConditionExpression": "attribute_not_exists(pk)"}

    def _write(self, *operations: dict[str, Any], attempt: int) -> bool:
        """Run one transaction; False (after a short random pause) when a condition or a concurrent write cancels it."""
        try:
            self._table.meta.client.transact_write_items(TransactItems=list(operations))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                raise
            # Full jitter keeps the racing creations from colliding again.
            time.sleep(random.uniform(0, min(0.05, 0.002 * 2**attempt)))  # noqa: S311 (jitter, not secrecy)
            return False
        return True

    def _limits_item(self, owner: str) -> dict[str, Any]:
        """The owner's counter item (see the module's docstring), made from the index the first time."""
        key = {"pk": f"keylimits#{owner}"}
        for _ in range(_ATTEMPTS):
            item: dict[str, Any] | None = self._table.get_item(Key=key, ConsistentRead=True).get("Item")
            if item is not None:
                return item
            # Keys made before counting began: counted once, from the index.
            keys = self._indexed(owner)
            window_ms = settings.KEY_CREATION_WINDOW_S * 1000
            recent = sorted(key["createdAt"] for key in keys if key["createdAt"] > _now_ms() - window_ms)
            item = {
                **key,
                "active": sum(not key["revoked"] for key in keys),
                "created": recent[-settings.MAX_KEYS_CREATED_PER_WINDOW :],
                "version": 0,
            }
            try:
                self._table.put_item(Item=item, ConditionExpression="attribute_not_exists(pk)")
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                    raise
                continue  # another request made it first: read theirs
            return item
        raise ServiceUnavailableError("the owner's keys kept changing; retry the same request", retry_after=1)

    def _count_one_more(self, owner: str) -> dict[str, Any]:
        """The counter's update for one more key, conditional on it being as read; 429 or 409 at a limit.

        Revoked keys count toward the creations: creating and revoking in a loop must
        not mint a fresh rate budget every time.
        """
        counter = self._limits_item(owner)
        now_ms = _now_ms()
        window_ms = settings.KEY_CREATION_WINDOW_S * 1000
        recent = [int(at) for at in counter["created"] if int(at) > now_ms - window_ms]
        if len(recent) >= settings.MAX_KEYS_CREATED_PER_WINDOW:
            wait_s = (recent[-settings.MAX_KEYS_CREATED_PER_WINDOW] + window_ms - now_ms) // 1000 + 1
            raise TooManyRequestsError(
                f"at most {settings.MAX_KEYS_CREATED_PER_WINDOW} keys may be created per "
                f"{settings.KEY_CREATION_WINDOW_S // 3600} hours",
                retry_after=wait_s,
            )
        if int(counter["active"]) >= settings.MAX_KEYS_PER_OWNER:
            raise ConflictError(
                f"at most {settings.MAX_KEYS_PER_OWNER} active keys; revoke one first", code="too_many_keys"
            )
        return {
            "Update": {
                "TableName": self._table.name,
                "Key": {"pk": counter["pk"]},
                "UpdateExpression": "SET active = :active, created = :created, version = :next",
                "ConditionExpression": "version = :version",
                "ExpressionAttributeValues": {
                    ":active": int(counter["active"]) + 1,
                    ":created": [*recent, now_ms],
                    ":next": int(counter["version"]) + 1,
                    ":version": int(counter["version"]),
                },
            }
        }

    def _new_key(
        self,
        owner: str,
        *,
        name: str,
        requests: int | None = None,
        size: int | None = None,
        purpose: str | None = None,
    ) -> tuple[dict[str, Any], str]:
        """A new key's item (not yet written) and its secret; the limits are the counter's (``_count_one_more``)."""
        key_id = secrets.token_hex(8)
        secret = secrets.token_urlsafe(32)
        created = _now_ms()
        item: dict[str, Any] = {
            "pk": f"key#{key_id}",
            "keyId": key_id,
            "owner": owner,
            "secretHash": _hash(secret),
            "name": name,
            "createdAt": created,
        }
        if requests is not None:
            item["requestsPerMinute"] = requests
        if size is not None:
            item["bytesPerMinute"] = size
        if purpose is not None:
            # Its owner reads it again from any browser: it is in every page it records anyway.
            item |= {"purpose": purpose, "secret": secret}
        return item, secret

    def _public(self, item: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": item["keyId"],
            "name": item.get("name"),
            "purpose": item.get("purpose"),
            "createdAt": int(item["createdAt"]),
            "revoked": "revokedAt" in item,
            "requestsPerMinute": int(item.get("requestsPerMinute", self._limits.key_requests)),
            "bytesPerMinute": int(item.get("bytesPerMinute", self._limits.key_bytes)),
        }

    def _indexed(self, owner: str) -> list[dict[str, Any]]:
        """The owner's keys as the index has them, newest first (no ``purpose``: the index does not hold it)."""
        result = self._table.query(
            IndexName=INDEX_BY_OWNER,
            KeyConditionExpression="#owner = :owner",
            ExpressionAttributeNames={"#owner": "owner", "#name": "name"},
            ExpressionAttributeValues={":owner": owner},
            ProjectionExpression="keyId, #name, createdAt, revokedAt, requestsPerMinute, bytesPerMinute",
            ScanIndexForward=False,
        )
        return [self._public(item) for item in result.get("Items", [])]

    def list(self, owner: str) -> list[dict[str, Any]]:
        """The owner's keys, newest first, with their purpose, never with a secret or its hash.

        The index projects no ``purpose`` (an index's projection cannot change in place):
        one BatchGetItem per 100 keys reads it from the keys' items.
        """
        keys = self._indexed(owner)
        details = self._details([key["id"] for key in keys])
        listed = []
        for key in keys:
            detail = details.get(key["id"], {})
            listed.append(
                {
                    **key,
                    **_usage(detail),
                    "controls": recording_controls.stored(detail),
                    "allowedOrigins": list(detail.get("allowedOrigins", [])),
                }
            )
        return listed

    def configure(self, owner: str, key_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """Change one of the owner's active keys' ``controls`` (merged) and ``allowedOrigins`` (replaced).

        ``body`` is the request's (``controls.parse`` merges it into the key's controls,
        ``controls.parse_origins`` checks the origins; null clears either). Returns both as
        they now stand. Another owner's key id answers 404, a revoked key 409. Recorders
        read a change within the key cache's and ``GET /controls``'s lifetimes
        (``CONTROLS_MAX_AGE_SECONDS``). Two admins changing one key's controls at once:
        the later write wins whole.
        """
        if not _KEY_ID.match(key_id):
            raise BadRequestError("key id must be 16 hex digits", code="invalid_id")
        changes: dict[str, Any] = {}
        if "controls" in body:
            current = self._table.get_item(Key={"pk": f"key#{key_id}"}).get("Item") or {}
            mine = current if current.get("owner") == owner else {}
            changes["controls"] = recording_controls.parse(body["controls"], recording_controls.stored(mine))
        if "allowedOrigins" in body:
            changes["allowedOrigins"] = recording_controls.parse_origins(body["allowedOrigins"])
        sets, removes = [], []
        values: dict[str, Any] = {":owner": owner}
        for name, value in changes.items():
            if value is None:
                removes.append(name)
            else:
                sets.append(f"{name} = :{name}")
                values[f":{name}"] = recording_controls.for_dynamodb(value) if name == "controls" else value
        clauses = [f"SET {', '.join(sets)}"] if sets else []
        if removes:
            clauses.append(f"REMOVE {', '.join(removes)}")
        update = " ".join(clauses)
        try:
            item = self._table.update_item(
                Key={"pk": f"key#{key_id}"},
                UpdateExpression=update,
                ConditionExpression="#owner = :owner AND attribute_not_exists(revokedAt)",
                ExpressionAttributeNames={"#owner": "owner"},
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
            )["Attributes"]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            found = self._table.get_item(Key={"pk": f"key#{key_id}"}).get("Item")
            if found is None or found.get("owner") != owner:
                raise NotFoundError("key not found") from None
            raise ConflictError("the key is revoked: its settings no longer matter", code="key_revoked") from None
        with self._lock:
            self._cache.pop(key_id, None)  # this function answers with the new settings at once
        return {"controls": recording_controls.stored(item), "allowedOrigins": list(item.get("allowedOrigins", []))}

    def controls_of(self, key_id: str) -> dict[str, Any]:
        """A verified key's recording controls (from the key cache: at most KEY_CACHE_SECONDS old)."""
        item = self._lookup(key_id)
        return recording_controls.stored(item) if item is not None else {}

    def _details(self, key_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """Per key id: its purpose and what was noted of its use (``note_use``, ``note_refusal``)."""
        client = self._table.meta.client
        pending = [{"pk": f"key#{key_id}"} for key_id in key_ids]
        found: dict[str, dict[str, Any]] = {}
        for attempt in range(8):
            if not pending:
                break
            if attempt:
                time.sleep(min(1.0, 0.02 * 2**attempt))  # DynamoDB asks to back off for unprocessed keys
            request = {
                self._table.name: {
                    "Keys": pending[:_BATCH_GET_MAX],
                    "ProjectionExpression": (
                        "keyId, purpose, lastUsedAt, lastRefusedAt, refusals, controls, allowedOrigins, "
                        "lastOriginRefusedAt, refusedOrigin, lastBlockedAt, blockedDirective, blockedUri"
                    ),
                }
            }
            result = client.batch_get_item(RequestItems=request)
            for item in result.get("Responses", {}).get(self._table.name, []):
                found[item["keyId"]] = item
            unprocessed = result.get("UnprocessedKeys", {}).get(self._table.name, {}).get("Keys", [])
            pending = unprocessed + pending[_BATCH_GET_MAX:]
        if pending:
            raise ServiceUnavailableError("the keys could not all be read; retry", retry_after=1)
        return found

    def revoke(self, owner: str, key_id: str) -> None:
        """Revoke one of the owner's keys; another owner's key id answers 404."""
        if not _KEY_ID.match(key_id):
            raise BadRequestError("key id must be 16 hex digits", code="invalid_id")
        for attempt in range(_ATTEMPTS):
            revoked = self._write(
                {
                    "Update": {
                        "TableName": self._table.name,
                        "Key": {"pk": f"key#{key_id}"},
                        "UpdateExpression": "SET revokedAt = :now",
                        "ConditionExpression": "#owner = :owner AND attribute_not_exists(revokedAt)",
                        "ExpressionAttributeNames": {"#owner": "owner"},
                        "ExpressionAttributeValues": {":owner": owner, ":now": _now_ms()},
                    }
                },
                {
                    "Update": {
                        "TableName": self._table.name,
                        "Key": {"pk": f"keylimits#{owner}"},
                        "UpdateExpression": "ADD active :less, version :one",
                        "ConditionExpression": "attribute_exists(pk)",
                        "ExpressionAttributeValues": {":less": -1, ":one": 1},
                    }
                },
                attempt=attempt,
            )
            if revoked:
                break
            # Cancelled: not the owner's key, revoked already (a revocation is idempotent),
            # no counter yet, or a concurrent change of the owner's keys.
            item = self._table.get_item(Key={"pk": f"key#{key_id}"}, ConsistentRead=True).get("Item")
            if item is None or item.get("owner") != owner:
                raise NotFoundError("key not found")
            if "revokedAt" in item:
                break
            self._limits_item(owner)
        else:
            raise ServiceUnavailableError("the owner's keys kept changing; retry the same request", retry_after=1)
        with self._lock:
            self._cache.pop(key_id, None)

    def note_use(self, key_id: str, *, now_ms: int) -> None:
        """Note that the key was just used (``lastUsedAt``): at most once per KEY_USE_NOTE_SECONDS per key here."""
        if not self._due(("use", key_id), settings.KEY_USE_NOTE_SECONDS):
            return
        self._note(key_id, "SET lastUsedAt = :now", {":now": now_ms})

    def note_origin_refusal(self, key_id: str, origin: str, *, now_ms: int) -> None:
        """Note that a page of an origin the key does not allow sent it (at most one note a minute)."""
        if not self._due(("origin", key_id), settings.KEY_REFUSAL_NOTE_SECONDS):
            return
        # Anything not shaped as an origin (a tool may send what it likes) is not kept as sent.
        shown = origin if recording_controls.is_origin(origin) else "(not an origin)"
        self._note(
            key_id,
            "SET lastOriginRefusedAt = :now, refusedOrigin = :origin ADD originRefusals :one",
            {":now": now_ms, ":origin": shown, ":one": 1},
        )

    def note_blocked(self, key_id: str, directive: str, uri: str, *, now_ms: int) -> None:
        """Note a recorder's report that a page's Content-Security-Policy blocked it (at most one note a minute)."""
        if not self._due(("blocked", key_id), settings.KEY_REFUSAL_NOTE_SECONDS):
            return
        self._note(
            key_id,
            "SET lastBlockedAt = :now, blockedDirective = :directive, blockedUri = :uri",
            {":now": now_ms, ":directive": directive, ":uri": uri},
        )

    def note_refusal(self, key_id: str, *, now_ms: int) -> None:
        """Note that a revoked key is still in use (``lastRefusedAt``; ``refusals`` counts notes, a minute apart)."""
        if not self._due(("refused", key_id), settings.KEY_REFUSAL_NOTE_SECONDS):
            return
        self._note(key_id, "SET lastRefusedAt = :now ADD refusals :one", {":now": now_ms, ":one": 1})

    def _due(self, what: tuple[str, str], seconds: float) -> bool:
        now = time.monotonic()
        with self._lock:
            last = self._noted.get(what)
            if last is not None and now - last < seconds:
                return False
            if len(self._noted) >= self._cache_entries:
                self._noted.clear()  # bounded, as the key cache is
            self._noted[what] = now
            return True

    def _note(self, key_id: str, update: str, values: dict[str, Any]) -> None:
        try:
            self._table.update_item(
                Key={"pk": f"key#{key_id}"},
                UpdateExpression=update,
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeValues=values,
            )
        except ClientError as exc:
            # A note is worth a request, never a failed one: the key's own answer stands.
            logger.warning("key use not noted: %s", exc.response.get("Error", {}).get("Code"))

    def verify(self, presented: str, *, origin: str | None = None) -> VerifiedKey:
        """The owner, id and budget of a valid, unrevoked key, else 401; 403 from an origin it does not allow."""
        match = _KEY.match(presented)
        if match is None:
            raise UnauthorizedError("malformed ingest key")
        key_id, secret = match.groups()
        item = self._lookup(key_id)
        if item is None or not hmac.compare_digest(item["secretHash"], _hash(secret)):
            raise UnauthorizedError("unknown ingest key")
        if "revokedAt" in item:
            # Its owner's keys page says a revoked key is still in some page.
            self.note_refusal(key_id, now_ms=_now_ms())
            raise UnauthorizedError("ingest key has been revoked")
        allowed = item.get("allowedOrigins")
        if allowed and origin is not None and not recording_controls.origin_allowed(list(allowed), origin):
            # Its owner's keys page says which page tried.
            self.note_origin_refusal(key_id, origin, now_ms=_now_ms())
            raise ForbiddenError(f"this ingest key is not allowed on {origin[:200]}", code="origin_not_allowed")
        self.note_use(key_id, now_ms=_now_ms())
        return VerifiedKey(
            owner=item["owner"],
            key_id=key_id,
            requests_per_minute=int(item["requestsPerMinute"]) if "requestsPerMinute" in item else None,
            bytes_per_minute=int(item["bytesPerMinute"]) if "bytesPerMinute" in item else None,
        )

    def cached(self) -> int:
        """How many key ids this function keeps in memory (bounded by ``cache_entries``)."""
        with self._lock:
            return len(self._cache)

    def _lookup(self, key_id: str) -> dict[str, Any] | None:
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(key_id)
        if cached is not None and now - cached[0] < self._cache_seconds:
            return cached[1]
        item: dict[str, Any] | None = self._table.get_item(Key={"pk": f"key#{key_id}"}).get("Item")
        with self._lock:
            # Bounded: a flood of made-up key ids cannot grow a warm function's memory.
            if len(self._cache) >= self._cache_entries:
                for stale in [k for k, (at, _) in self._cache.items() if now - at >= self._cache_seconds]:
                    del self._cache[stale]
                while len(self._cache) >= self._cache_entries:
                    del self._cache[next(iter(self._cache))]
            self._cache[key_id] = (now, item)
        return item


def _usage(item: dict[str, Any]) -> dict[str, Any]:
    """A key's purpose and noted use, as the keys page shows them."""
    return {
        "purpose": item.get("purpose"),
        # Within KEY_USE_NOTE_SECONDS: noted at most that often.
        "lastUsedAt": int(item["lastUsedAt"]) if "lastUsedAt" in item else None,
        # A revoked key still sent by some page: when, and how many (minute-apart) notes.
        "lastRefusedAt": int(item["lastRefusedAt"]) if "lastRefusedAt" in item else None,
        "refusals": int(item.get("refusals", 0)),
        # Sent by a page of an origin the key does not allow: the latest, and when.
        "lastOriginRefusedAt": int(item["lastOriginRefusedAt"]) if "lastOriginRefusedAt" in item else None,
        "refusedOrigin": item.get("refusedOrigin"),
        # A page's Content-Security-Policy blocked the recorder, as the recorder reported it.
        "lastBlockedAt": int(item["lastBlockedAt"]) if "lastBlockedAt" in item else None,
        "blockedDirective": item.get("blockedDirective"),
        "blockedUri": item.get("blockedUri"),
    }
