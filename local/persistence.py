"""Keeps the local stack's data across restarts.

moto holds everything in memory, so the stack's bucket and table are mirrored into a
data folder: incrementally at every checkpoint (only changed objects are copied; see
``LocalStack.checkpoint``) and at shutdown, after the consumer and the archive drained
the stream. On start the mirror is loaded back before the API takes requests, and the
embedded AWS's journal replays what was acknowledged after it.

Every file is replaced atomically (written, fsynced, renamed), items before the
manifest, so a save cut short by a crash leaves a mix of this save and the last one
that restores cleanly; the journal segments it was to cover are still on disk then.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any
from urllib.parse import quote

from .resources import Names


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
        self._manifest_path = directory / "s3-manifest.json"
        self._items_path = directory / "dynamodb-items.json"
        self._tables = (names.table, names.access_table)
        self._objects.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()

    def _manifest(self) -> dict[str, dict[str, str]]:
        if self._manifest_path.exists():
            return json.loads(self._manifest_path.read_text())
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
                    self._s3.put_object(
                        Bucket=self._names.bucket, Key=key, Body=path.read_bytes(), ContentType=meta["type"]
                    )
            if not self._items_path.exists():
                return 0
            tables = json.loads(self._items_path.read_text())
            for table, items in tables.items():
                for at in range(0, len(items), 25):
                    request = {table: [{"PutRequest": {"Item": item}} for item in items[at : at + 25]]}
                    while request:
                        request = self._dynamodb.batch_write_item(RequestItems=request).get("UnprocessedItems")
            return len(tables.get(self._names.table, []))
