"""A recording's objects in the bucket: the one place that lists, reads and deletes them.

The reader (``reader.py``), the compactor (``compaction.py``) and the service's DELETE
(``recordings.py``) all go through ``RecordingObjects``: it lists a recording's
``events/`` prefix once and sorts the keys out (``Listing``: chunk objects, compacted
indexes and data by generation, each object's size), reads an object whole (kept by key
in a ``ChunkCache``), line by line, as a stream of pieces or by byte range, reads a
generation's index as stored now, and deletes objects (the keys a caller names, or
everything under a prefix). What a key means is ``layout``'s; what a listing allows is
the caller's: the reader reads the newest committed generation and the chunks it did
not fold, the compactor deletes only what a committed index makes useless.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from . import layout, records
from .compacted import CompactedIndex

# Objects up to this size are fetched whole (and cached); larger ones are streamed in
# pieces of _STREAM_PIECE_BYTES (docs/architecture.md, "Reading events back").
WHOLE_OBJECT_BYTES = 8 * 1024 * 1024
_STREAM_PIECE_BYTES = 1024 * 1024
# Compaction deletes what it folded with one DeleteObject per key, this many at once:
# S3 bills no DELETE, while DeleteObjects is a POST, billed like a PUT (docs/cost.md).
_DELETE_WORKERS = 16


class ChunkCache:
    """Object bodies by key, least recently used out first, bounded in bytes.

    A chunk key is never rewritten with other content (a consumer retry of the same
    records writes the same bytes; an archive rebuild writes the same lines again) and
    compacted data is named by its digest, so a body fetched once is valid for as long
    as its key is listed. Indexes are not cached: ``compacted-<g>.json`` is written
    again with other content when a deleted recording's id is used again.
    """

    def __init__(self, *, max_bytes: int) -> None:
        self._max_bytes = max_bytes
        self._bodies: OrderedDict[str, bytes] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get(self, key: str) -> bytes | None:
        """The cached body, or None."""
        with self._lock:
            body = self._bodies.get(key)
            if body is not None:
                self._bodies.move_to_end(key)
            return body

    def put(self, key: str, body: bytes) -> None:
        """Keep a body, evicting the least recently used beyond the bound."""
        if len(body) > self._max_bytes:
            return
        with self._lock:
            if key in self._bodies:
                return
            self._bodies[key] = body
            self._size += len(body)
            while self._size > self._max_bytes:
                _, evicted = self._bodies.popitem(last=False)
                self._size -= len(evicted)

    def clear(self) -> None:
        """Forget everything."""
        with self._lock:
            self._bodies.clear()
            self._size = 0


@dataclass(frozen=True, kw_only=True)
class Listing:
    """A recording's event objects, sorted out."""

    index_key: str | None
    chunks: tuple[str, ...]
    # (generation, key) of every compacted data object listed
    data: tuple[tuple[int, str], ...] = ()
    # (generation, key) of every index listed
    indexes: tuple[tuple[int, str], ...] = ()
    # Each listed object's size, as the listing gave it.
    sizes: Mapping[str, int] = field(default_factory=dict)

    @classmethod
    def of_generation(cls, owner: str, recording_id: str, generation: int) -> Listing:
        """What a listing would hold for a recording whose item says ``generation`` holds it all: its index alone."""
        key = layout.compacted_index_key(owner, recording_id, generation)
        return cls(index_key=key, chunks=(), indexes=((generation, key),))

    @property
    def data_key(self) -> str | None:
        """The newest committed generation's data object, if exactly one of that generation is
        listed: a guess, fetched beside the index, which says which object it committed."""
        if not self.indexes:
            return None
        latest = self.indexes[-1][0]
        keys = [key for number, key in self.data if number == latest]
        return keys[0] if len(keys) == 1 else None


class RecordingObjects:
    """Lists, reads and deletes the objects of a bucket's recordings."""

    def __init__(self, *, s3: Any, bucket: str, cache_bytes: int = 64 * 1024 * 1024) -> None:
        self._s3 = s3
        self._bucket = bucket
        self.cache = ChunkCache(max_bytes=cache_bytes)

    @property
    def s3(self) -> Any:
        """The S3 client every request goes through."""
        return self._s3

    @property
    def bucket(self) -> str:
        """The recordings bucket."""
        return self._bucket

    def listing(self, owner: str, recording_id: str) -> Listing:
        """List the recording's event prefix once and sort its keys out."""
        paginator = self._s3.get_paginator("list_objects_v2")
        prefix = layout.events_prefix(owner, recording_id)
        indexes: dict[int, str] = {}
        data: list[tuple[int, str]] = []
        chunks: list[str] = []
        sizes: dict[str, int] = {}
        for page in paginator.paginate(Bucket=self._bucket, Prefix=prefix):
            for entry in page.get("Contents", []):
                key = entry["Key"]
                sizes[key] = int(entry.get("Size", 0))
                generation = layout.compacted_generation(key)
                if generation is None:
                    chunks.append(key)
                elif generation[1]:
                    indexes[generation[0]] = key
                else:
                    data.append((generation[0], key))
        latest = max(indexes) if indexes else None
        return Listing(
            index_key=indexes[latest] if latest is not None else None,
            chunks=tuple(chunks),
            data=tuple(data),
            indexes=tuple(sorted(indexes.items())),
            sizes=sizes,
        )

    def fetch(self, key: str, *, cache: bool = True) -> bytes:
        """One object's body, from the cache when it was read before (and ``cache`` allows)."""
        body = self.cache.get(key) if cache else None
        if body is None:
            body = self._s3.get_object(Bucket=self._bucket, Key=key)["Body"].read()
            if cache:
                self.cache.put(key, body)
        return body

    def index(self, key: str) -> CompactedIndex:
        """A compacted generation's index, always as stored now."""
        return CompactedIndex.from_json(self.fetch(key, cache=False))

    def lines(self, key: str, size: int) -> Iterator[bytes | None]:
        """The lines of a chunk object, held whole only when it is small (and then cached), else streamed."""
        body = self.cache.get(key)
        if body is None and size <= WHOLE_OBJECT_BYTES:
            body = self.fetch(key)
        if body is not None:
            return records.object_lines([body])
        return records.object_lines(self.pieces(key, _STREAM_PIECE_BYTES))

    def pieces(self, key: str, piece_bytes: int) -> Iterator[bytes]:
        """An object's body as a stream, ``piece_bytes`` at a time (never held whole)."""
        chunks: Iterator[bytes] = self._s3.get_object(Bucket=self._bucket, Key=key)["Body"].iter_chunks(piece_bytes)
        return chunks

    def byte_range(self, key: str, offset: int, length: int) -> bytes:
        """``length`` bytes of an object from ``offset`` (fewer at its end)."""
        body: bytes = self._s3.get_object(Bucket=self._bucket, Key=key, Range=f"bytes={offset}-{offset + length - 1}")[
            "Body"
        ].read()
        return body

    def presigned_get(self, key: str, *, expires_in: int) -> str:
        """A URL that reads one object for ``expires_in`` seconds."""
        url: str = self._s3.generate_presigned_url(
            "get_object", Params={"Bucket": self._bucket, "Key": key}, ExpiresIn=expires_in
        )
        return url

    def missing(self, key: str) -> Exception:
        """The error a GET of an object gone since its listing raises (a reader lists again on it)."""
        error = {"Error": {"Code": "NoSuchKey", "Message": f"{key} is gone"}}
        missing: Exception = self._s3.exceptions.NoSuchKey(error, "GetObject")
        return missing

    def delete(self, keys: list[str]) -> None:
        """Delete the objects, one DeleteObject each, up to ``_DELETE_WORKERS`` at once.

        Raises what S3 answered when it refuses any (the next run retries; the others may
        be gone by then, as after a crash between two deletes).
        """

        def delete_one(key: str) -> None:
            self._s3.delete_object(Bucket=self._bucket, Key=key)

        if len(keys) <= 1:
            for key in keys:
                delete_one(key)
            return
        with ThreadPoolExecutor(max_workers=min(_DELETE_WORKERS, len(keys))) as pool:
            for _ in pool.map(delete_one, keys):
                pass

    def delete_prefix(self, prefix: str) -> int:
        """Delete every object under ``prefix`` (a whole recording's, with its screenshot); how many went."""
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
