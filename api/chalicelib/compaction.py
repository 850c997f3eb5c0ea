"""Compaction: a recording idle for a while becomes one object of plain rrweb events.

Finding the work costs no Scan: every counted chunk puts its recording in one shard of
the sparse index ``byPendingCompaction`` (sort key ``activeAt``), and each run queries
every shard for recordings inactive since before the cutoff, then checks each item's
exact ``updatedAt``. A recording costs O(1) index
requests: it is returned once and leaves the index when compacted.

Compacting one recording, in steps that each leave the recording fully readable:

1. list it and read where its batches are (the newest compacted generation's index,
   and the record headers of every chunk not folded into it: no event is read yet);
2. count the run on the item (``begin_compaction``), then write generation g+1
   (``compacted.py``): batch after batch in seq order, each inflated alone and
   compressed into the object as it comes, which goes to S3 in one PUT or, past
   8 MiB, in multipart parts, so no run ever holds the recording;
3. read it back as a stream and check every block's bytes and lines, and the count;
4. commit: create the index of g+1, only if none exists (a concurrent run that loses
   this race stops here and deletes nothing);
5. delete the chunks it folded and the older generation (one DeleteObject each, which
   S3 does not bill, where DeleteObjects is billed as a POST);
6. leave the pending index, unless a chunk was counted meanwhile (the consumer counts a
   chunk only after writing it, so one counted after step 1 may be missing from the
   listing: the recording then stays pending for the next run). The generation's exact
   counts (each seq once) replace the running ones.

A record or batch that is not what the API writes is skipped where it is read (logged,
counted in the result) and folded away with its chunk: it never fails the run. A
recording whose runs keep failing, or never finish (whatever stops them), is set aside
after ``COMPACTION_TRIES`` runs: out of the pending index, with the reason on its item,
still readable from its chunks; a chunk counted later puts it back in line.

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
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from . import compacted, layout, settings
from .compacted import CompactedIndex
from .ids import now_ms
from .reader import EventReader
from .recording_objects import Listing, RecordingObjects
from .recording_table import RecordingTable

logger = logging.getLogger("rrweb.compaction")
# Runs that may start writing a recording's new generation without finishing it (an
# error, or anything that ends the run) before it is set aside: a recording that can
# never be compacted must not stand in front of the others of its shard forever.
COMPACTION_TRIES = 3
_REASON_CHARS = 300
# The new data object goes to S3 in one PUT up to this size, else as a multipart upload
# of parts this large (S3's smallest part is 5 MiB): never held whole.
_UPLOAD_PART_BYTES = 8 * 1024 * 1024
_READ_PIECE_BYTES = 1024 * 1024


class _Upload:
    """Writes an object from pieces as they come: one PUT when it stays small, else a multipart upload.

    An upload a crash leaves incomplete is removed by the bucket's lifecycle rule
    (incomplete multipart uploads are aborted after a day).
    """

    def __init__(self, *, s3: Any, bucket: str, key: str) -> None:
        self._s3 = s3
        self._bucket = bucket
        self._key = key
        self._buffer = bytearray()
        self._upload_id: str | None = None
        self._parts: list[dict[str, Any]] = []
        self._digest = hashlib.sha256()

    def write(self, data: bytes) -> None:
        """Append bytes; a full part goes out at once."""
        self._digest.update(data)
        self._buffer += data
        if len(self._buffer) >= _UPLOAD_PART_BYTES:
            self._send_part()

    def _send_part(self) -> None:
        if self._upload_id is None:
            self._upload_id = self._s3.create_multipart_upload(
                Bucket=self._bucket, Key=self._key, ContentType="application/gzip"
            )["UploadId"]
        number = len(self._parts) + 1
        body = bytes(self._buffer)
        self._buffer.clear()
        etag = self._s3.upload_part(
            Bucket=self._bucket, Key=self._key, UploadId=self._upload_id, PartNumber=number, Body=body
        )["ETag"]
        self._parts.append({"ETag": etag, "PartNumber": number})

    def close(self) -> str:
        """Finish the object; the digest of its bytes."""
        if self._upload_id is None:
            self._s3.put_object(
                Bucket=self._bucket, Key=self._key, Body=bytes(self._buffer), ContentType="application/gzip"
            )
        else:
            if self._buffer:
                self._send_part()
            self._s3.complete_multipart_upload(
                Bucket=self._bucket,
                Key=self._key,
                UploadId=self._upload_id,
                MultipartUpload={"Parts": self._parts},
            )
        self._buffer = bytearray()
        return self._digest.hexdigest()


class CompactionError(RuntimeError):
    """The written object did not read back as written; nothing was removed."""


@dataclass(frozen=True, kw_only=True)
class Result:
    """What compacting one recording did."""

    outcome: str  # "compacted", "unchanged", "waiting", "gone", "raced" or "set_aside"
    generation: int = 0
    events: int = 0
    folded: int = 0
    stored_bytes: int = 0
    # records (or batches) skipped because they are not what the API writes
    skipped: int = 0


class Compactor:
    """Compacts idle recordings of one stack."""

    def __init__(
        self,
        *,
        s3: Any,
        bucket: str,
        table: RecordingTable,
        reader: EventReader,
        idle_seconds: int = settings.COMPACT_IDLE_SECONDS,
        block_bytes: int = settings.COMPACTED_BLOCK_BYTES,
        clock: Callable[[], int] = now_ms,
    ) -> None:
        self._s3 = s3
        self._bucket = bucket
        # Its own reads and deletes go through its own client (``s3``); the listing and
        # the batches come from ``reader``, as a read of the recording would see them.
        self._objects = RecordingObjects(s3=s3, bucket=bucket, cache_bytes=0)
        self._table = table
        self._reader = reader
        self._idle_ms = idle_seconds * 1000
        self._abandoned_ms = settings.ABANDONED_PARTS_SECONDS * 1000
        # The size its data objects are cut into blocks at: public, so a running stack's compactor can be given another.
        self.block_bytes = block_bytes
        self._clock = clock

    @property
    def reader(self) -> EventReader:
        """What it lists and reads the recordings' batches with."""
        return self._reader

    def run(self, *, per_shard: int = 100) -> dict[str, int]:
        """Compact up to ``per_shard`` idle recordings of every shard; counts by outcome.

        Recordings that stay pending ("waiting", "failed") do not count against the
        bound, so they cannot starve the others; at most ``4 * per_shard`` are tried.
        """
        cutoff = self._clock() - self._idle_ms
        counts: dict[str, int] = {}
        for shard in range(settings.COMPACTION_SHARDS):
            done = 0
            pending = self._table.pending_compaction(str(shard), idle_before=cutoff, page=per_shard)
            for tried, key in enumerate(pending, start=1):
                owner, recording_id = RecordingTable.owner_and_id(key)
                try:
                    result = self.compact(owner, recording_id, idle_before=cutoff)
                    outcome = result.outcome
                    if result.skipped:
                        counts["skipped"] = counts.get("skipped", 0) + result.skipped
                except Exception as exc:
                    # One recording's failure must not stop the others: it stays pending,
                    # and is set aside after COMPACTION_TRIES runs (with this reason).
                    logger.exception("compaction failed; it is retried on the next run")
                    outcome = "failed"
                    self._note_error(owner, recording_id, f"{type(exc).__name__}: {exc}")
                counts[outcome] = counts.get(outcome, 0) + 1
                done += outcome not in ("waiting", "failed")
                if done >= per_shard or tried >= 4 * per_shard:
                    break
        return counts

    def _note_error(self, owner: str, recording_id: str, reason: str) -> None:
        try:
            self._table.note_compaction_error(owner, recording_id, reason=reason[:_REASON_CHARS])
        except Exception:
            logger.exception("could not record why compaction failed")

    def compact(self, owner: str, recording_id: str, *, idle_before: int | None = None) -> Result:
        """Fold the recording's chunks into a new compacted generation (see the module's steps).

        With ``idle_before`` (ms), a recording counted since then is left pending ("waiting").
        """
        item = self._table.get(owner, recording_id)
        if item is None:
            return Result(outcome="gone")
        if idle_before is not None and int(item.get("updatedAt", 0)) >= idle_before:
            # Counted since its index entry was last refreshed: not idle yet. It stays
            # pending, and its entry moves on by the time it could be.
            return Result(outcome="waiting")
        listing = self._reader.objects.listing(owner, recording_id)
        contents = self._reader.contents(owner, recording_id, listing)
        previous = contents.index
        if contents.incomplete and contents.incomplete_received > self._clock() - self._abandoned_ms:
            # A batch split across records, not all delivered yet: folding now would
            # delete the parts that did arrive. The next run sees it whole. Parts older
            # than any record the stream can still deliver were never acknowledged
            # (their write was refused in part): they are folded away, unread.
            return Result(outcome="waiting", skipped=contents.skipped)
        if not contents.batches:
            # Nothing new: every chunk is folded already or repeats batches the current
            # generation holds (a late redelivery, a rebuild). No generation is rewritten.
            generation = previous.generation if previous else 0
            chunks = list(listing.chunks) if previous is not None else []
            self._objects.delete(chunks + self._garbage(listing, previous))
            if previous is not None:
                self._table.finish_compaction(
                    item, generation=generation, events=previous.events, batches=len(previous.seqs)
                )
            else:
                self._table.finish_compaction(item, generation=generation)
            return Result(outcome="unchanged", generation=generation, skipped=contents.skipped)

        # The costly part (every batch inflated and compressed again): counted on the item
        # before it starts, so a recording that never gets through it (whatever stops the
        # run, even one that ends the process) is set aside after a few runs, not retried
        # forever in front of the others of its shard.
        tries = self._table.begin_compaction(item)
        if tries > COMPACTION_TRIES:
            reason = str(item.get("compactionError") or f"did not finish in {COMPACTION_TRIES} runs")
            return self._set_aside(item, reason)
        folded_before = previous.folded if previous else frozenset()
        new_chunks = [key for key in listing.chunks if key not in folded_before]
        generation = (previous.generation if previous else 0) + 1
        data_key = layout.compacted_data_key(
            owner, recording_id, generation, self._inputs_digest(previous, new_chunks)[:16]
        )
        upload = _Upload(s3=self._s3, bucket=self._bucket, key=data_key)
        writer = compacted.Writer(block_bytes=self.block_bytes, sink=upload.write)
        seqs: list[tuple[int, int]] = []
        assets: set[str] = set()
        # Batch after batch in seq order, each inflated alone and compressed into the object
        # as it comes: the object is never held whole, nor is any batch but the current one.
        for seq, events in self._reader.batches(contents):
            for line in events:
                writer.add(line + b"\n")
                assets |= compacted.assets_in(line)
            seqs.append((seq, len(events)))
        blocks, sha256, events_total, stored = writer.close()
        written = upload.close()
        self._verify(data_key, blocks=blocks, sha256=sha256, events=events_total, body_sha256=written)
        index = CompactedIndex(
            generation=generation,
            data_key=data_key,
            seqs=tuple(seqs),
            blocks=blocks,
            folded=folded_before | frozenset(new_chunks),
            sha256=sha256,
            events=events_total,
            stored_bytes=stored,
            assets=frozenset(assets),
        )
        index_key = layout.compacted_index_key(owner, recording_id, generation)
        if not self._commit(index_key, index):
            self._discard_loser(index_key, data_key)
            return Result(outcome="raced", generation=generation, skipped=contents.skipped)
        # Every listed chunk is in the new generation: the new ones, and folded ones a
        # crash left behind.
        self._objects.delete(list(listing.chunks) + self._garbage(listing, index))
        if not self._table.finish_compaction(item, generation=generation, events=events_total, batches=len(seqs)):
            self._clean_if_gone(owner, recording_id)
        return Result(
            outcome="compacted",
            generation=generation,
            events=events_total,
            folded=len(new_chunks),
            stored_bytes=stored,
            skipped=contents.skipped,
        )

    def _clean_if_gone(self, owner: str, recording_id: str) -> None:
        """Delete what this run wrote for a recording deleted meanwhile (its DELETE may have listed first)."""
        if self._table.get(owner, recording_id) is None:
            self._objects.delete_prefix(layout.recording_prefix(owner, recording_id))

    def _inputs_digest(self, previous: CompactedIndex | None, new_chunks: list[str]) -> str:
        """A digest of everything the new generation's bytes follow from, naming its data object.

        The object is streamed out before its contents' digest is known, so it is named by
        what it is made of instead: the previous generation's data (itself named so), the
        chunks folded in (a chunk key never gets other content), the block size and the
        format. The same inputs always give the same bytes, so a rerun writes the same
        key with the same bytes, and a body cached by key stays valid.
        """
        digest = hashlib.sha256(f"v{compacted.VERSION}\n{self.block_bytes}\n".encode())
        digest.update((previous.data_key if previous else "").encode() + b"\n")
        for key in sorted(new_chunks):
            digest.update(key.encode() + b"\n")
        return digest.hexdigest()

    def _set_aside(self, item: dict[str, Any], reason: str) -> Result:
        """Take a recording that cannot be compacted out of the pending index, saying why; it stays readable."""
        owner, recording_id = RecordingTable.owner_and_id(item)
        logger.error(
            "a recording that cannot be compacted is set aside",
            extra={"owner": owner, "recording": recording_id, "reason": reason},
        )
        self._table.set_aside_compaction(item, reason=reason)
        return Result(outcome="set_aside")

    def _verify(
        self, key: str, *, blocks: tuple[compacted.Block, ...], sha256: str, events: int, body_sha256: str
    ) -> None:
        """Read the object back as a stream, block by block: its bytes, every block's lines, the event count."""
        pieces = self._objects.pieces(key, _READ_PIECE_BYTES)
        body_digest, line_digest = hashlib.sha256(), hashlib.sha256()
        buffer = b""
        counted = 0
        for block in blocks:
            while len(buffer) < block.length:
                piece = next(pieces, b"")
                if not piece:
                    raise CompactionError(f"{key} is shorter than written; its chunks are kept")
                buffer += piece
            member, buffer = buffer[: block.length], buffer[block.length :]
            body_digest.update(member)
            try:
                data = compacted.inflate_block(member, limit=compacted.BLOCK_LIMIT_BYTES)
            except ValueError:
                raise CompactionError(f"{key} has a block that is not as written; its chunks are kept") from None
            line_digest.update(data)
            lines = data.count(b"\n")
            if lines != block.events:
                raise CompactionError(f"{key} has a block of {lines} events, written {block.events}")
            counted += lines
        if buffer or next(pieces, b""):
            raise CompactionError(f"{key} is longer than written; its chunks are kept")
        if body_digest.hexdigest() != body_sha256 or line_digest.hexdigest() != sha256 or counted != events:
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
            winner = self._reader.objects.index(index_key)
        except ClientError:
            return  # not readable yet: a later run's cleanup removes it
        if winner.data_key != data_key:
            self._objects.delete([data_key])

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
