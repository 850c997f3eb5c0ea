"""Keeps the local stack's data across restarts.

moto holds everything in memory, so the stack's bucket and table are mirrored into a
data folder: incrementally at every checkpoint (only changed objects are copied; see
``LocalStack.checkpoint``) and at shutdown, after the consumer and the archive drained
the stream. On start the mirror is loaded back before the API takes requests, and the
embedded AWS's journal replays what was acknowledged after it.

Every file is replaced atomically (written, fsynced, renamed), items before the
manifest, so a save cut short by a crash leaves a mix of this save and the last one
that restores cleanly; the journal segments it was to cover are still on disk then.

A file that does not read back (not JSON, not the snapshot's shape, an object whose
bytes do not match the MD5 its manifest recorded) is corruption, not a crash: the start
stops with ``CorruptSnapshotError``, naming the file and what to do, and the file is
left where it is (``check_data_dir`` checks the journal and the snapshot before anything
starts).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import threading
from pathlib import Path
from typing import Any
from urllib.parse import quote

from .journal import CorruptDataError, Journal
from .resources import Names

MANIFEST = "s3-manifest.json"
ITEMS = "dynamodb-items.json"


class CorruptSnapshotError(CorruptDataError):
    """A snapshot file that does not read back: which, why, and what to do."""

    def __init__(self, path: Path, why: str) -> None:
        self.path = path
        super().__init__(
            f"the snapshot file {path} is corrupt ({why}). The local stack does not start on a partial state "
            "and keeps the file as it is. Restore the data folder from a backup, or, to accept losing what the "
            "file held, move it out of the data folder and start again."
        )


def _load(path: Path, shape: type, value_shape: type) -> Any:
    try:
        loaded = json.loads(path.read_bytes())
    except (ValueError, UnicodeDecodeError) as exc:
        raise CorruptSnapshotError(path, f"not JSON: {exc}") from None
    if not isinstance(loaded, shape) or not all(isinstance(value, value_shape) for value in loaded.values()):
        raise CorruptSnapshotError(path, "not the shape the snapshot writes")
    return loaded


def _md5_of(etag: str) -> str | None:
    # A single-part upload's ETag is its MD5; a multipart one's ("<hex>-<parts>") is not.
    value = etag.strip('"')
    return value if len(value) == 32 and "-" not in value else None


def check_data_dir(data_dir: Path) -> None:
    """Raise CorruptDataError if the journal, Cognito's log or the snapshot's indexes do not read back whole.

    Run before anything starts, so that a refusal leaves every file as it was. Objects
    are checked against their MD5s as they are restored (``Snapshot.restore``).
    """
    journal = data_dir / "journal"
    if journal.is_dir():
        Journal(journal).check()
    # Cognito's log is the moto child's to load; its damage is found here, before it starts.
    from .aws_server import COGNITO_FILE, CognitoLog

    CognitoLog(data_dir / COGNITO_FILE).check()
    state = data_dir / "state"
    if (state / MANIFEST).exists():
        _load(state / MANIFEST, dict, dict)
    if (state / ITEMS).exists():
        _load(state / ITEMS, dict, list)


def _write_atomically(path: Path, data: bytes) -> None:
    temporary = path.with_name(path.name + ".tmp")
    with temporary.open("wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())  # the rename must never name a file whose bytes are not on disk
    os.replace(temporary, path)


class Snapshot:
    """Mirror of one stack's bucket and tables under ``directory`` (Cognito: ``aws_server``)."""

    def __init__(self, *, session: Any, names: Names, directory: Path) -> None:
        self._s3 = session.client("s3")
        self._dynamodb = session.client("dynamodb")
        self._names = names
        self._objects = directory / "s3"
        self._manifest_path = directory / MANIFEST
        self._items_path = directory / ITEMS
        self._tables = (names.table, names.access_table)
        self._objects.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()

    def _manifest(self) -> dict[str, dict[str, str]]:
        if self._manifest_path.exists():
            return _load(self._manifest_path, dict, dict)
        return {}

    def _file(self, key: str) -> Path:
        # One flat file per key, with the key fully escaped: no key can leave the folder.
        return self._objects / quote(key, safe="")

    def save(self) -> None:
        """Copy what changed since the last save."""
        with self._lock:
            manifest = self._manifest()
            current: dict[str, dict[str, str]] = {}
            pages = self._s3.get_paginator("list_objects_v2").paginate(Bucket=self._names.bucket)
            for entry in (entry for page in pages for entry in page.get("Contents", [])):
                key, etag = entry["Key"], entry["ETag"]
                if manifest.get(key, {}).get("etag") == etag:
                    current[key] = manifest[key]
                    continue
                obj = self._s3.get_object(Bucket=self._names.bucket, Key=key)
                _write_atomically(self._file(key), obj["Body"].read())
                current[key] = {"etag": etag, "type": obj.get("ContentType", "binary/octet-stream")}
            for key in manifest.keys() - current.keys():
                self._file(key).unlink(missing_ok=True)
            items: dict[str, list[dict[str, Any]]] = {}
            for table in self._tables:
                items[table] = []
                for page in self._dynamodb.get_paginator("scan").paginate(TableName=table):
                    items[table].extend(page["Items"])
            # Items first, manifest last: a crash in between leaves objects the next
            # save re-copies, never a manifest naming files that are not there.
            _write_atomically(self._items_path, json.dumps(items).encode())
            _write_atomically(self._manifest_path, json.dumps(current).encode())

    def restore(self) -> int:
        """Load the mirror into the (empty) stack; returns the number of items restored."""
        with self._lock:
            for key, meta in self._manifest().items():
                path = self._file(key)
                if path.exists():
                    body = path.read_bytes()
                    md5 = _md5_of(str(meta.get("etag", "")))
                    if md5 is not None and not hmac.compare_digest(hashlib.md5(body).hexdigest(), md5):  # noqa: S324 (S3's ETag)
                        raise CorruptSnapshotError(path, f"its bytes do not match the MD5 recorded for {key!r}")
                    self._s3.put_object(Bucket=self._names.bucket, Key=key, Body=body, ContentType=meta["type"])
            if not self._items_path.exists():
                return 0
            tables = _load(self._items_path, dict, list)
            for table, items in tables.items():
                for at in range(0, len(items), 25):
                    request = {table: [{"PutRequest": {"Item": item}} for item in items[at : at + 25]]}
                    while request:
                        request = self._dynamodb.batch_write_item(RequestItems=request).get("UnprocessedItems")
            return len(tables.get(self._names.table, []))
