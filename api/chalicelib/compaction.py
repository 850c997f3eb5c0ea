"""Compaction: a recording idle for a while becomes one object of plain rrweb events.

Finding the work costs no Scan: every counted chunk puts its recording in one shard of
the sparse index ``byPendingCompaction`` (sort key ``activeAt``), and each run queries
every shard for recordings inactive since before the cutoff, then checks each item's
exact ``updatedAt``. A recording costs O(1) index
requests: it is returned once and leaves the index when compacted.

Compacting one recording, in steps that each leave the recording fully readable:

1. read it all (the newest compacted generation plus every chunk not folded into it);
2. write generation g+1 (``compacted.py``) under a key named by its digest;
3. read it back and check the digest and the event count;
4. commit: create the index of g+1, only if none exists (a concurrent run that loses
   this race stops here and deletes nothing);
5. delete the chunks it folded and the older generation;
6. leave the pending index, unless a chunk was counted meanwhile (the consumer counts a
   chunk only after writing it, so one counted after step 1 may be missing from the
   listing: the recording then stays pending for the next run). The generation's exact
   counts (each seq once) replace the running ones.

Chunks that hold nothing new (a late redelivery or a rebuild repeating batches the
current generation holds) are deleted without writing a generation. Compacted data is
deleted only once a committed index makes it useless: never while no generation is
committed, never of a later generation, so a concurrent run cannot commit an index
that names a deleted object.

A crash after any step loses nothing (chunks are deleted only after a verified commit)
and a rerun finishes the job: before step 4 it writes the same generation again (the
bytes are deterministic), after it there is nothing new to fold, so it cleans up and
leaves the index. Events that arrive after compaction land in new chunks, which the
reader serves beside the compacted object and the next compaction folds in.
"""

from __future__ import annotations

import hashlib
import logging
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from . import compacted, layout, settings
from .compacted import CompactedIndex
from .reader import EventReader, Listing
from .recordings import RecordingStore, now_ms

logger = logging.getLogger("rrweb.compaction")


class CompactionError(RuntimeError):
    """The written object did not read back as written; nothing was removed."""


@dataclass(frozen=True, kw_only=True)
class Result:
    """What compacting one recording did."""

    outcome: str  # "compacted", "unchanged", "waiting", "gone" or "raced"
    generation: int = 0
    events: int = 0
    folded: int = 0
    stored_bytes: int = 0


class Compactor:
    """Compacts idle recordings of one stack."""

    def __init__(
        self,
        *,
        s3: Any,
        bucket: str,
        store: RecordingStore,
        reader: EventReader,
        idle_seconds: int = settings.COMPACT_IDLE_SECONDS,
        block_bytes: int = settings.COMPACTED_BLOCK_BYTES,
        clock: Callable[[], int] = now_ms,
    ) -> None:
        self._s3 = s3
        self._bucket = bucket
        self._store = store
        self._reader = reader
        self._idle_ms = idle_seconds * 1000
        self._abandoned_ms = settings.ABANDONED_PARTS_SECONDS * 1000
        self._block_bytes = block_bytes
        self._clock = clock

    def run(self, *, per_shard: int = 100) -> dict[str, int]:
        """Compact up to ``per_shard`` idle recordings of every shard; counts by outcome.

        Recordings that stay pending ("waiting", "failed") do not count against the
        bound, so they cannot starve the others; at most ``4 * per_shard`` are tried.
        """
        cutoff = self._clock() - self._idle_ms
        counts: dict[str, int] = {}
        for shard in range(settings.COMPACTION_SHARDS):
            done = 0
            pending = self._store.pending_compaction(str(shard), idle_before=cutoff, page=per_shard)
            for tried, key in enumerate(pending, start=1):
                try:
                    outcome = self.compact(*RecordingStore.owner_and_id(key), idle_before=cutoff).outcome
                except Exception:
                    # One recording's failure must not stop the others; it stays pending.
                    logger.exception("compaction failed; it is retried on the next run")
                    outcome = "failed"
                counts[outcome] = counts.get(outcome, 0) + 1
                done += outcome not in ("waiting", "failed")
                if done >= per_shard or tried >= 4 * per_shard:
                    break
        return counts

    def compact(self, owner: str, recording_id: str, *, idle_before: int | None = None) -> Result:
        """Fold the recording's chunks into a new compacted generation (see the module's steps).

        With ``idle_before`` (ms), a recording counted since then is left pending ("waiting").
        """
        item = self._store.get(owner, recording_id)
        if item is None:
            return Result(outcome="gone")
        if idle_before is not None and int(item.get("updatedAt", 0)) >= idle_before:
            # Counted since its index entry was last refreshed: not idle yet. It stays
            # pending, and its entry moves on by the time it could be.
            return Result(outcome="waiting")
        listing = self._reader.listing(owner, recording_id)
        contents = self._reader.contents(owner, recording_id, listing)
        previous = contents.index
        if contents.incomplete and contents.incomplete_received > self._clock() - self._abandoned_ms:
            # A batch split across records, not all delivered yet: folding now would
            # delete the parts that did arrive. The next run sees it whole. Parts older
            # than any record the stream can still deliver were never acknowledged
            # (their write was refused in part): they are folded away, unread.
            return Result(outcome="waiting")
        if not contents.chunk_payloads:
            # Nothing new: every chunk is folded already or repeats batches the current
            # generation holds (a late redelivery, a rebuild). No generation is rewritten.
            generation = previous.generation if previous else 0
            chunks = list(listing.chunks) if previous is not None else []
            self._delete(chunks + self._garbage(listing, previous))
            if previous is not None:
                self._store.finish_compaction(
                    item, generation=generation, events=previous.events, batches=len(previous.seqs)
                )
            else:
                self._store.finish_compaction(item, generation=generation)
            return Result(outcome="unchanged", generation=generation)

        folded_before = previous.folded if previous else frozenset()
        new_chunks = [key for key in listing.chunks if key not in folded_before]
        generation = (previous.generation if previous else 0) + 1
        seqs = sorted(contents.events)
        encoded = compacted.encode(
            [line + b"\n" for seq in seqs for line in contents.events[seq]], block_bytes=self._block_bytes
        )
        data_key = layout.compacted_data_key(owner, recording_id, generation, encoded.sha256[:16])
        self._s3.put_object(Bucket=self._bucket, Key=data_key, Body=encoded.body, ContentType="application/gzip")
        self._verify(data_key, encoded)
        index = CompactedIndex(
            generation=generation,
            data_key=data_key,
            seqs=tuple((seq, len(contents.events[seq])) for seq in seqs),
            blocks=encoded.blocks,
            folded=folded_before | frozenset(new_chunks),
            sha256=encoded.sha256,
            events=encoded.events,
            stored_bytes=len(encoded.body),
        )
        index_key = layout.compacted_index_key(owner, recording_id, generation)
        if not self._commit(index_key, index):
            self._discard_loser(index_key, data_key)
            return Result(outcome="raced", generation=generation)
        # Every listed chunk is in the new generation: the new ones, and folded ones a
        # crash left behind.
        self._delete(list(listing.chunks) + self._garbage(listing, index))
        self._store.finish_compaction(item, generation=generation, events=encoded.events, batches=len(seqs))
        return Result(
            outcome="compacted",
            generation=generation,
            events=encoded.events,
            folded=len(new_chunks),
            stored_bytes=len(encoded.body),
        )

    def _verify(self, key: str, encoded: compacted.Encoded) -> None:
        body = self._s3.get_object(Bucket=self._bucket, Key=key)["Body"].read()
        digest = hashlib.sha256()
        events = 0
        for block in encoded.blocks:
            data = zlib.decompress(body[block.offset : block.offset + block.length], wbits=31)
            digest.update(data)
            events += data.count(b"\n")
        if body != encoded.body or digest.hexdigest() != encoded.sha256 or events != encoded.events:
            raise CompactionError(f"{key} did not read back as written; its chunks are kept")

    def _commit(self, key: str, index: CompactedIndex) -> bool:
        try:
            self._s3.put_object(
                Bucket=self._bucket, Key=key, Body=index.to_json(), ContentType="application/json", IfNoneMatch="*"
            )
        except ClientError as exc:
            # 409: another conditional write of this key is in flight; it decides.
            if exc.response.get("Error", {}).get("Code") in ("PreconditionFailed", "412", "ConditionalRequestConflict"):
                logger.info("another run committed this generation first", extra={"key": key})
                return False
            raise
        return True

    def _discard_loser(self, index_key: str, data_key: str) -> None:
        """Remove the data a lost race wrote, unless the winner's index names the same object."""
        try:
            winner = self._reader.index(index_key)
        except ClientError:
            return  # not readable yet: a later run's cleanup removes it
        if winner.data_key != data_key:
            self._delete([data_key])

    @staticmethod
    def _garbage(listing: Listing, current: CompactedIndex | None) -> list[str]:
        """Compacted objects of ``listing`` that ``current`` (the committed generation) makes useless.

        Older generations, and data of the current generation its index does not name (a
        lost race's, or a run that died before committing). Never data of a later
        generation, nor any data while no generation is committed: a run may be about to
        commit it, and its index would then name a deleted object.
        """
        if current is None:
            return []
        keys = [key for number, key in listing.indexes if number < current.generation]
        keys += [
            key
            for number, key in listing.data
            if number < current.generation or (number == current.generation and key != current.data_key)
        ]
        return keys

    def _delete(self, keys: list[str]) -> None:
        for start in range(0, len(keys), 1000):
            batch = keys[start : start + 1000]
            if not batch:
                continue
            result = self._s3.delete_objects(
                Bucket=self._bucket, Delete={"Objects": [{"Key": key} for key in batch], "Quiet": True}
            )
            if result.get("Errors"):
                raise RuntimeError(f"S3 refused to delete {len(result['Errors'])} objects; the next run retries")
