"""Comments on a recording's timeline: members note a moment, everyone in the workspace reads them.

Each comment is one small object under the recording's own prefix
(``recordings/owner=<w>/recording=<r>/comments/<created ms>-<id>.json``), so it goes
with the recording: deleting the recording deletes its prefix, retention expires it,
and one written for a recording deleted meanwhile is deleted by the request that wrote it. A recording has
at most ``MAX_COMMENTS``. Any member may comment; a comment is deleted by its author or
a workspace admin.
"""

from __future__ import annotations

import json
import re
import secrets
import time
import unicodedata
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from botocore.exceptions import ClientError

from . import layout
from .errors import BadRequestError, ConflictError, ForbiddenError, NotFoundError
from .recordings import Recordings

MAX_COMMENTS = 500
MAX_TEXT = 2000
_ID = re.compile(r"\A[0-9a-f]{16}\Z")


def comment_body(body: dict[str, Any]) -> tuple[int, str]:
    """``at`` (ms from the recording's start) and ``text`` (1 to MAX_TEXT characters, no control characters)."""
    at = body.get("at")
    if type(at) is not int or not 0 <= at <= 366 * 24 * 3600 * 1000:
        raise BadRequestError("at must be a whole number of ms from the recording's start", code="invalid_at")
    text = body.get("text")
    if not isinstance(text, str) or not text.strip() or len(text) > MAX_TEXT:
        raise BadRequestError(f"text must be 1 to {MAX_TEXT} characters", code="invalid_text")
    if any(unicodedata.category(char) in ("Cc", "Cs") and char not in "\n\t" for char in text):
        raise BadRequestError("text must not hold control characters", code="invalid_text")
    # Format characters (bidi overrides, zero-width ones) could reverse or hide what a
    # teammate reads: a comment is plain text in one direction.
    if any(unicodedata.category(char) == "Cf" for char in text):
        raise BadRequestError("text must not hold invisible formatting characters", code="invalid_text")
    return at, text.strip()


class Comments:
    """A recording's comments in the bucket (see the module's docstring)."""

    def __init__(self, *, s3: Any, bucket: str, recordings: Recordings, clock: Any = time.time) -> None:
        self._s3 = s3
        self._bucket = bucket
        self._recordings = recordings
        self._clock = clock

    def add(self, workspace: str, recording_id: str, *, at: int, text: str, author: str, email: str) -> dict[str, Any]:
        """A new comment at ``at``; 404 for a recording not in the workspace, 409 past MAX_COMMENTS."""
        self._recordings.require(workspace, recording_id)
        if len(self._keys(workspace, recording_id)) >= MAX_COMMENTS:
            raise ConflictError(f"a recording has at most {MAX_COMMENTS} comments", code="too_many_comments")
        created = int(self._clock() * 1000)
        comment = {
            "id": secrets.token_hex(8),
            "at": at,
            "text": text,
            "author": author,
            "authorEmail": email,
            "createdAt": created,
        }
        key = f"{layout.comments_prefix(workspace, recording_id)}{created:013d}-{comment['id']}.json"
        self._s3.put_object(
            Bucket=self._bucket,
            Key=key,
            Body=json.dumps(comment).encode(),
            ContentType="application/json",
        )
        try:
            # Deleted while the comment was written: its DELETE may have listed the prefix
            # first, so the comment goes here (no reaper is told of comments).
            self._recordings.require(workspace, recording_id)
        except NotFoundError:
            self._s3.delete_object(Bucket=self._bucket, Key=key)
            raise
        return comment

    def of(self, workspace: str, recording_id: str) -> list[dict[str, Any]]:
        """The recording's comments by moment, then by when they were written."""
        self._recordings.require(workspace, recording_id)
        keys = self._keys(workspace, recording_id)
        with ThreadPoolExecutor(max_workers=8) as pool:
            read = [found for found in pool.map(self._read, keys) if found is not None]
        return sorted(read, key=lambda comment: (comment["at"], comment["createdAt"]))

    def delete(self, workspace: str, recording_id: str, comment_id: str, *, user: str, admin: bool) -> None:
        """Delete a comment: its author's, or any for an admin (403 otherwise, 404 when there is none)."""
        self._recordings.require(workspace, recording_id)
        if not _ID.match(comment_id):
            raise NotFoundError("no such comment")
        key = next((key for key in self._keys(workspace, recording_id) if key.endswith(f"-{comment_id}.json")), None)
        comment = self._read(key) if key else None
        if key is None or comment is None:
            raise NotFoundError("no such comment")
        if comment["author"] != user and not admin:
            raise ForbiddenError("only its author or a workspace admin may delete a comment", code="not_yours")
        self._s3.delete_object(Bucket=self._bucket, Key=key)

    def _keys(self, workspace: str, recording_id: str) -> list[str]:
        keys = []
        paginator = self._s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self._bucket, Prefix=layout.comments_prefix(workspace, recording_id)):
            keys += [entry["Key"] for entry in page.get("Contents", [])]
        return keys

    def _read(self, key: str) -> dict[str, Any] | None:
        try:
            found: dict[str, Any] = json.loads(self._s3.get_object(Bucket=self._bucket, Key=key)["Body"].read())
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None  # deleted since it was listed
            raise
        return found
