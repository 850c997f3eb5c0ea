"""Keeps the local stack's data across restarts.

moto holds everything in memory, so the stack's bucket and tables are mirrored into a
data folder: at every checkpoint (only changed objects are copied; see
``LocalStack.checkpoint``) and at shutdown, after the consumer and the archive drained
the stream. On start the mirror is loaded back before the API takes requests, and the
embedded AWS's journal replays what was acknowledged after it.

The snapshot (``state/``, format 2):

- ``s3/sha256=<hex>``: one file per distinct object body, named by its SHA-256, so a
  name, once written, always holds the same bytes;
- ``dynamodb-items-<hex>.json``: every table's items, named by its SHA-256 too;
- ``s3-manifest.json``: the snapshot itself, one JSON line (each object's key, ETag,
  content type and SHA-256; the items file's SHA-256) followed by ``sha256 <hex>``, the
  checksum of that line.

A save writes what changed under new names beside the last snapshot's files (fsynced,
renamed, folders fsynced), then replaces the manifest the same way: that rename is the
commit. Only after it is durable are the files no manifest names any more deleted. A
crash at any step therefore leaves the last snapshot whole or the new one whole, never a
mix; and the checkpoint deletes the journal segments the new snapshot covers only after
``save`` returned, so the next start replays them over whichever it finds.

Everything is checked as it is read: the manifest against its own checksum, every file
it names against the SHA-256 it records (``check_data_dir`` before anything starts,
``Snapshot.restore`` again as it loads them). A file that does not match, or is missing,
is corruption, not a crash: the start stops with ``CorruptSnapshotError``, naming the
file and what to do, and the file is left where it is.

Format 1 (no checksums: ``dynamodb-items.json``, object files named after their key, a
manifest of plain JSON) is still read, with its own rules (JSON of the right shape, an
object's MD5 where its ETag is one), and rewritten as format 2 by the next checkpoint.

Every file is 0600 and every folder 0700: the snapshot holds every recording and the
keys' secrets.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import re
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from .journal import CorruptDataError, Journal, fsync_directory
from .resources import Names

logger = logging.getLogger("rrweb.snapshot")

MANIFEST = "s3-manifest.json"
OBJECTS = "s3"
FORMAT = 2
# Format 1's items file; format 2 names it by its checksum (``_items_name``).
ITEMS = "dynamodb-items.json"
_ITEMS_PREFIX = "dynamodb-items-"
_OBJECT_PREFIX = "sha256="  # never the start of a format-1 name: quote() escapes "="
_SHA256 = re.compile(r"[0-9a-f]{64}")
_CHECKSUM_LINE = re.compile(rb"\nsha256 ([0-9a-f]{64})\n\Z")
_CHUNK = 1 << 20
PRIVATE_FILE = 0o600
PRIVATE_FOLDER = 0o700


class CorruptSnapshotError(CorruptDataError):
    """A snapshot file that does not read back: which, why, and what to do."""

    def __init__(self, path: Path, why: str, *, snapshot: Path | None = None) -> None:
        self.path = path
        folder = snapshot if snapshot is not None else path.parent
        super().__init__(
            f"the snapshot file {path} is corrupt ({why}). The local stack does not start on a partial state "
            "and keeps the file as it is. Restore the data folder from a backup; or, to accept losing the "
            f"snapshot (what was saved up to the last checkpoint; the journal's later writes are still "
            f"replayed), move the folder {folder} out of the data folder and start again."
        )


class MissingSnapshotFileError(CorruptSnapshotError):
    """A file the snapshot's manifest names is not there."""

    def __init__(self, path: Path, what: str, *, snapshot: Path) -> None:
        super().__init__(
            path,
            f"it is missing, and the manifest {snapshot / MANIFEST} lists it for {what}; put it back if it was moved",
            snapshot=snapshot,
        )


@dataclass(frozen=True)
class _Manifest:
    """What one snapshot holds, as its manifest says."""

    # key -> {"etag", "type", and in format 2 "sha256"}
    objects: dict[str, dict[str, str]]
    # The items file's SHA-256; None in format 1 (an unchecked dynamodb-items.json, if any).
    items: str | None
    legacy: bool


_NO_SNAPSHOT = _Manifest(objects={}, items=None, legacy=True)


def _items_name(sha256: str) -> str:
    return f"{_ITEMS_PREFIX}{sha256}.json"


def _object_path(state: Path, key: str, entry: dict[str, str]) -> Path:
    if "sha256" in entry:
        return state / OBJECTS / f"{_OBJECT_PREFIX}{entry['sha256']}"
    # Format 1: one flat file per key, the key fully escaped, so no key can leave the folder.
    return state / OBJECTS / quote(key, safe="")


def _is_entry(value: object, *, legacy: bool) -> bool:
    if not isinstance(value, dict) or not all(isinstance(value.get(field), str) for field in ("etag", "type")):
        return False
    return legacy or bool(_SHA256.fullmatch(str(value.get("sha256"))))


def _read_manifest(path: Path) -> _Manifest | None:
    """The manifest at ``path`` (None if there is none); raises CorruptSnapshotError unless it checks out."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    line = _CHECKSUM_LINE.search(data)
    if line is None:
        return _read_legacy_manifest(path, data)
    body = data[: line.start() + 1]
    if not hmac.compare_digest(hashlib.sha256(body).hexdigest().encode(), line.group(1)):
        raise CorruptSnapshotError(path, "its content does not match the SHA-256 on its last line")
    try:
        content = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:  # only if it was written so: the checksum holds
        raise CorruptSnapshotError(path, f"not JSON: {exc}") from None
    if (
        not isinstance(content, dict)
        or content.get("format") != FORMAT
        or not _SHA256.fullmatch(str(content.get("items")))
        or not isinstance(content.get("objects"), dict)
        or not all(_is_entry(entry, legacy=False) for entry in content["objects"].values())
    ):
        raise CorruptSnapshotError(path, "not the shape the snapshot writes")
    return _Manifest(objects=content["objects"], items=content["items"], legacy=False)


def _read_legacy_manifest(path: Path, data: bytes) -> _Manifest:
    try:
        content = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        # A format-2 manifest whose checksum line was damaged or cut short reads here too.
        raise CorruptSnapshotError(path, "no intact checksum line, and not JSON of the earlier format") from None
    if not isinstance(content, dict) or not all(_is_entry(entry, legacy=True) for entry in content.values()):
        raise CorruptSnapshotError(path, "not the shape the snapshot writes")
    return _Manifest(objects=content, items=None, legacy=True)


def _read_checked(path: Path, sha256: str, what: str, *, snapshot: Path) -> bytes:
    """The bytes of ``path``, which must match ``sha256`` (the manifest's record of ``what``)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise MissingSnapshotFileError(path, what, snapshot=snapshot) from None
    if not hmac.compare_digest(hashlib.sha256(data).hexdigest(), sha256):
        raise CorruptSnapshotError(path, f"its bytes do not match the SHA-256 the manifest records for {what}")
    return data


def _check_file(path: Path, sha256: str, what: str, *, snapshot: Path) -> None:
    """``_read_checked`` without holding the file in memory."""
    digest = hashlib.sha256()
    try:
        with path.open("rb") as source:
            while chunk := source.read(_CHUNK):
                digest.update(chunk)
    except FileNotFoundError:
        raise MissingSnapshotFileError(path, what, snapshot=snapshot) from None
    if not hmac.compare_digest(digest.hexdigest(), sha256):
        raise CorruptSnapshotError(path, f"its bytes do not match the SHA-256 the manifest records for {what}")


def _parse_items(path: Path, data: bytes) -> dict[str, list[dict[str, Any]]]:
    try:
        loaded = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise CorruptSnapshotError(path, f"not JSON: {exc}") from None
    if not isinstance(loaded, dict) or not all(isinstance(items, list) for items in loaded.values()):
        raise CorruptSnapshotError(path, "not the shape the snapshot writes")
    return loaded


def _load_items(state: Path, manifest: _Manifest) -> dict[str, list[dict[str, Any]]]:
    if manifest.items is None:
        legacy = state / ITEMS
        return _parse_items(legacy, legacy.read_bytes()) if legacy.exists() else {}
    path = state / _items_name(manifest.items)
    return _parse_items(path, _read_checked(path, manifest.items, "the tables' items", snapshot=state))


def _md5_of(etag: str) -> str | None:
    # A single-part upload's ETag is its MD5; a multipart one's ("<hex>-<parts>") is not.
    value = etag.strip('"')
    return value if len(value) == 32 and "-" not in value else None


def check_data_dir(data_dir: Path) -> None:
    """Raise CorruptDataError if the journal, Cognito's log or the snapshot do not read back whole.

    Run before anything starts, so that a refusal leaves every file as it was. Every
    file of a format-2 snapshot is checked against its SHA-256 here; a format-1 snapshot's
    objects only as they are restored (against their MD5s, where their ETags are).
    """
    journal = data_dir / "journal"
    if journal.is_dir():
        Journal(journal).check()
    # Cognito's log is the moto child's to load; its damage is found here, before it starts.
    from .aws_server import COGNITO_FILE, CognitoLog

    CognitoLog(data_dir / COGNITO_FILE).check()
    state = data_dir / "state"
    manifest = _read_manifest(state / MANIFEST) or _NO_SNAPSHOT
    _load_items(state, manifest)
    if manifest.legacy:
        return
    for key, entry in manifest.objects.items():
        _check_file(_object_path(state, key, entry), entry["sha256"], f"the object {key!r}", snapshot=state)


def _make_private(folder: Path) -> None:
    folder.mkdir(mode=PRIVATE_FOLDER, parents=True, exist_ok=True)
    os.chmod(folder, PRIVATE_FOLDER)  # mkdir's mode is cut by the umask, and an existing folder keeps its own


def prepare_data_dir(data_dir: Path) -> None:
    """Make the data folder (0700) and close up a snapshot an earlier version left readable.

    The snapshot holds every recording and the keys' secrets: its folders become 0700
    and its files 0600, as the journal, Cognito's log and the credentials are.
    """
    _make_private(data_dir)
    state = data_dir / "state"
    for folder in (state, state / OBJECTS):
        if not folder.is_dir():
            continue
        os.chmod(folder, PRIVATE_FOLDER)
        for path in folder.iterdir():
            if path.is_file() and not path.is_symlink():
                os.chmod(path, PRIVATE_FILE)


def _write_atomically(path: Path, data: bytes) -> None:
    temporary = path.with_name(path.name + ".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE)
    with os.fdopen(fd, "wb") as out:
        os.fchmod(out.fileno(), PRIVATE_FILE)  # a temporary left by an older version may be 0644
        out.write(data)
        out.flush()
        os.fsync(out.fileno())  # the rename must never name a file whose bytes are not on disk
    os.replace(temporary, path)
    fsync_directory(path.parent)


class Snapshot:
    """Mirror of one stack's bucket and tables under ``directory`` (Cognito: ``aws_server``)."""

    def __init__(self, *, session: Any, names: Names, directory: Path) -> None:
        self._s3 = session.client("s3")
        self._dynamodb = session.client("dynamodb")
        self._names = names
        self._directory = directory
        self._objects = directory / OBJECTS
        self._manifest_path = directory / MANIFEST
        self._tables = (names.table, names.access_table)
        _make_private(directory)
        _make_private(self._objects)
        self._lock = threading.Lock()

    def _store(self, body: Any) -> str:
        """Write a streamed object body under its SHA-256 (durable, not yet named by any manifest)."""
        digest = hashlib.sha256()
        fd, temporary = tempfile.mkstemp(dir=self._objects, prefix=".incoming-", suffix=".tmp")  # 0600
        with os.fdopen(fd, "wb") as out:
            for chunk in body.iter_chunks(_CHUNK):
                digest.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        sha256 = digest.hexdigest()
        os.replace(temporary, self._objects / f"{_OBJECT_PREFIX}{sha256}")
        return sha256

    def save(self) -> None:
        """Write a new snapshot of the bucket and tables, copying only the objects that changed.

        New files first, under names no snapshot uses yet; then the manifest, whose rename
        is the commit; then the files only the last snapshot named are deleted.
        """
        with self._lock:
            previous = _read_manifest(self._manifest_path) or _NO_SNAPSHOT
            objects: dict[str, dict[str, str]] = {}
            pages = self._s3.get_paginator("list_objects_v2").paginate(Bucket=self._names.bucket)
            for listed in (listed for page in pages for listed in page.get("Contents", [])):
                key, etag = listed["Key"], listed["ETag"]
                known = previous.objects.get(key)
                # A format-1 entry is copied again: that is what rewrites it with a checksum.
                if (
                    known is not None
                    and "sha256" in known
                    and known["etag"] == etag
                    and _object_path(self._directory, key, known).exists()
                ):
                    objects[key] = known
                    continue
                obj = self._s3.get_object(Bucket=self._names.bucket, Key=key)
                sha256 = self._store(obj["Body"])
                objects[key] = {"etag": etag, "type": obj.get("ContentType", "binary/octet-stream"), "sha256": sha256}
            tables: dict[str, list[dict[str, Any]]] = {}
            for table in self._tables:
                tables[table] = []
                for page in self._dynamodb.get_paginator("scan").paginate(TableName=table):
                    tables[table].extend(page["Items"])
            items = json.dumps(tables).encode()
            items_sha256 = hashlib.sha256(items).hexdigest()
            _write_atomically(self._directory / _items_name(items_sha256), items)
            fsync_directory(self._objects)  # every object file's name is durable before a manifest names it
            body = json.dumps({"format": FORMAT, "items": items_sha256, "objects": objects}).encode() + b"\n"
            checksum = b"sha256 " + hashlib.sha256(body).hexdigest().encode() + b"\n"
            _write_atomically(self._manifest_path, body + checksum)
            self._collect(objects, items_sha256)

    def _collect(self, objects: dict[str, dict[str, str]], items_sha256: str) -> None:
        # Only now that the new manifest is durable: until then the last one names these.
        keep = {f"{_OBJECT_PREFIX}{entry['sha256']}" for entry in objects.values()}
        for path in self._objects.iterdir():
            if path.name not in keep:
                os.unlink(path)
        for path in self._directory.iterdir():
            ours = path.name == ITEMS or path.name.startswith(_ITEMS_PREFIX) or path.name.endswith(".tmp")
            if ours and path.name != _items_name(items_sha256) and path.is_file():
                os.unlink(path)

    def restore(self) -> int:
        """Load the snapshot into the (empty) stack, checking every file; returns the number of items restored."""
        with self._lock:
            manifest = _read_manifest(self._manifest_path) or _NO_SNAPSHOT
            for key, entry in manifest.objects.items():
                path = _object_path(self._directory, key, entry)
                if manifest.legacy:
                    body = self._read_legacy_object(path, key, entry)
                    if body is None:
                        continue
                else:
                    body = _read_checked(path, entry["sha256"], f"the object {key!r}", snapshot=self._directory)
                self._s3.put_object(Bucket=self._names.bucket, Key=key, Body=body, ContentType=entry["type"])
            tables = _load_items(self._directory, manifest)
            for table, items in tables.items():
                for at in range(0, len(items), 25):
                    request = {table: [{"PutRequest": {"Item": item}} for item in items[at : at + 25]]}
                    while request:
                        request = self._dynamodb.batch_write_item(RequestItems=request).get("UnprocessedItems")
            return len(tables.get(self._names.table, []))

    def _read_legacy_object(self, path: Path, key: str, entry: dict[str, str]) -> bytes | None:
        if not path.exists():
            # Format 1's save deleted dropped objects before writing its manifest, so a crash
            # in between left entries without files: objects deleted since, which the
            # journal's segments (kept, as that save never finished) delete again.
            logger.warning("snapshot (earlier format): no file for %r at %s; skipped", key, path)
            return None
        body = path.read_bytes()
        md5 = _md5_of(entry["etag"])
        if md5 is not None and not hmac.compare_digest(hashlib.md5(body).hexdigest(), md5):  # noqa: S324 (S3's ETag)
            raise CorruptSnapshotError(path, f"its bytes do not match the MD5 recorded for {key!r}")
        return body
