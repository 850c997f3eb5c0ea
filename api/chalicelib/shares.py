"""Share links: a read-only replay of one recording, opened without an account.

A member of a workspace creates a link to one of its recordings (optionally at a moment,
``at``: ms from its start). The link holds a token, ``rrs_<id>_<secret>``, shown once
(the table keeps the secret's SHA-256), good for ``days`` days (7 by default, at most
the stack's ``share_max_days``), revocable by any member, and listed on the recording.
Whoever holds it reads that recording's metadata, its events (a page at a time) and its
compacted blocks through ``/shared/<token>/...``, and nothing else: no list, no other
recording, no keys. The presigned reads it hands out are short-lived (the events' and
blocks' own) and scoped to the recording: the asset reads an events page carries are
those its own events name, and the blocks' those the compacted object's index lists.
An unknown, revoked or expired token, a wrong secret, and a recording deleted since all
answer the same 404. The public routes are limited per client address, in memory.

Items in the access table:

    share#<id>    workspace, recording, at, secretHash, createdBy, createdAt, expiresAt (TTL);
                  parent shares#<workspace>#<recording> (a recording's links)
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from .assets import Assets
from .errors import BadRequestError, ConflictError, NotFoundError
from .limits import VisitorLimits
from .reader import Reader
from .recordings import Recordings
from .schema import ACCESS_KEY, INDEX_BY_PARENT, PARENT_ATTRIBUTE, TTL_ATTRIBUTE

PREFIX = "rrs_"
DEFAULT_DAYS = 7
MAX_SHARES_PER_RECORDING = 20
_TOKEN = re.compile(r"\Arrs_([0-9a-f]{16})_([A-Za-z0-9_-]{43})\Z")
_ID = re.compile(r"\A[0-9a-f]{16}\Z")
_REFERENCE = re.compile(rb"rrweb-asset:sha256=([0-9a-f]{64})")
_ASSET_EVENT = 7


@dataclass(frozen=True)
class Opened:
    """What a valid token opens."""

    workspace: str
    recording: str
    at: int | None
    expires_at: int


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class Shares:
    """Share links of recordings (see the module's docstring)."""

    def __init__(
        self,
        *,
        table: Any,
        recordings: Recordings,
        reader: Reader,
        assets: Assets,
        max_days: int,
        requests_per_address: int,
        clock: Any = time.time,
    ) -> None:
        self._table = table
        self._recordings = recordings
        self._reader = reader
        self._assets = assets
        self._max_days = max_days
        self._clock = clock
        self._clients = VisitorLimits(recording_per_minute=requests_per_address, client_per_minute=requests_per_address)

    def create(self, workspace: str, recording_id: str, body: dict[str, Any], *, by: str) -> dict[str, Any]:
        """A new link (its token in this answer only); 404 for a recording not in the workspace."""
        self._recordings.require(workspace, recording_id)
        days = body.get("days", DEFAULT_DAYS)
        if type(days) is not int or not 1 <= days <= self._max_days:
            raise BadRequestError(f"days must be a whole number from 1 to {self._max_days}", code="invalid_days")
        at = body.get("at")
        if at is not None and (type(at) is not int or not 0 <= at <= 366 * 24 * 3600 * 1000):
            raise BadRequestError("at must be a whole number of ms from the recording's start", code="invalid_at")
        if len(self.list(workspace, recording_id)) >= MAX_SHARES_PER_RECORDING:
            raise ConflictError(f"a recording has at most {MAX_SHARES_PER_RECORDING} links", code="too_many_shares")
        share_id, secret = secrets.token_hex(8), secrets.token_urlsafe(32)
        now = self._clock()
        expires = int(now) + days * 86400
        item: dict[str, Any] = {
            ACCESS_KEY: f"share#{share_id}",
            "workspace": workspace,
            "recording": recording_id,
            "secretHash": _digest(secret),
            "createdBy": by,
            PARENT_ATTRIBUTE: f"shares#{workspace}#{recording_id}",
            "createdAt": int(now * 1000),
            TTL_ATTRIBUTE: expires,
        }
        if at is not None:
            item["at"] = at
        self._table.put_item(
            Item=item, ConditionExpression="attribute_not_exists(#pk)", ExpressionAttributeNames={"#pk": ACCESS_KEY}
        )
        return {"id": share_id, "at": at, "expiresAt": expires * 1000, "token": f"{PREFIX}{share_id}_{secret}"}

    def list(self, workspace: str, recording_id: str) -> list[dict[str, Any]]:
        """The recording's links that have not expired (never their tokens), oldest first."""
        self._recordings.require(workspace, recording_id)
        now = self._clock()
        page = self._table.query(
            IndexName=INDEX_BY_PARENT,
            KeyConditionExpression=f"{PARENT_ATTRIBUTE} = :parent",
            ExpressionAttributeValues={":parent": f"shares#{workspace}#{recording_id}"},
            Limit=MAX_SHARES_PER_RECORDING * 4,
        )
        return [
            {
                "id": item[ACCESS_KEY].split("#", 1)[1],
                "at": int(item["at"]) if "at" in item else None,
                "expiresAt": int(item[TTL_ATTRIBUTE]) * 1000,
                "createdBy": item["createdBy"],
            }
            for item in page.get("Items", [])
            if int(item[TTL_ATTRIBUTE]) > now
        ]

    def revoke(self, workspace: str, recording_id: str, share_id: str) -> None:
        """Delete one of the recording's links: it then answers as one that never existed."""
        if not _ID.match(share_id):
            raise NotFoundError("no such link")
        try:
            self._table.delete_item(
                Key={ACCESS_KEY: f"share#{share_id}"},
                ConditionExpression="workspace = :workspace AND recording = :recording",
                ExpressionAttributeValues={":workspace": workspace, ":recording": recording_id},
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            raise NotFoundError("no such link") from None

    def open(self, token: str, client: str | None) -> Opened:
        """What the token opens, after the caller's address is charged; the same 404 for any bad token."""
        self._clients.charge(recording=None, client=client or "unknown")
        found = _TOKEN.match(token)
        item = None
        if found:
            item = self._table.get_item(Key={ACCESS_KEY: f"share#{found.group(1)}"}, ConsistentRead=True).get("Item")
        if (
            found is None
            or item is None
            or not hmac.compare_digest(str(item["secretHash"]), _digest(found.group(2)))
            or int(item[TTL_ATTRIBUTE]) <= self._clock()
        ):
            raise NotFoundError("no such link, or it has expired or been revoked", code="no_such_link")
        opened = Opened(
            workspace=str(item["workspace"]),
            recording=str(item["recording"]),
            at=int(item["at"]) if "at" in item else None,
            expires_at=int(item[TTL_ATTRIBUTE]) * 1000,
        )
        try:
            self._recordings.require(opened.workspace, opened.recording)
        except NotFoundError:
            raise NotFoundError("no such link, or it has expired or been revoked", code="no_such_link") from None
        return opened

    def view(self, opened: Opened) -> dict[str, Any]:
        """The recording as a link shows it: what the replay needs, nothing of who recorded it."""
        described = self._recordings.describe(opened.workspace, opened.recording)
        shown = {
            name: described.get(name)
            for name in (
                "id",
                "title",
                "url",
                "createdAt",
                "firstEventAt",
                "lastEventAt",
                "durationMs",
                "eventCount",
                "pageCount",
                "pages",
                "viewport",
                "compacted",
                "live",
            )
            if name in described
        }
        return {"recording": shown, "at": opened.at, "expiresAt": opened.expires_at}

    def events(self, opened: Opened, cursor: str | None) -> dict[str, Any]:
        """One page of the recording's events, with reads of the assets they name."""
        page = self._reader.page(opened.workspace, opened.recording, cursor=cursor, accept_gzip=False, watch=False)
        events = [json.loads(line) for line in page.body.splitlines() if line.strip()]
        named = {match.decode() for match in _REFERENCE.findall(page.body)}
        for event in events:
            # Any event JSON may come from a public key: data need not be an object.
            data = event.get("data") if event.get("type") == _ASSET_EVENT else None
            payload = data.get("payload") if isinstance(data, dict) else None
            digest = payload.get("sha256") if isinstance(payload, dict) else None
            if isinstance(digest, str) and re.fullmatch(r"[0-9a-f]{64}", digest):
                named.add(digest)
        return {
            "events": events,
            "next": page.next_cursor,
            "assets": self._assets.presigned_reads(opened.workspace, sorted(named)),
        }

    def blocks(self, opened: Opened, cursor: str | None) -> dict[str, Any]:
        """The compacted object's blocks, with reads of the assets its index lists (read once, with the blocks)."""
        answer = self._reader.blocks(opened.workspace, opened.recording, cursor=cursor, with_assets=True)
        listed = answer.pop("assetHashes", [])
        return {**answer, "assets": self._assets.presigned_reads(opened.workspace, listed)}
