"""The stream consumer: each invocation's Kinesis records become one gzip object per recording.

Lambda's event source mapping hands ``consume_events`` the records of one shard; this
module groups them by recording and writes one object per recording per invocation under
the recording's prefix (``layout``), a key a retry rewrites with the same bytes. Records of
a deleted recording are dropped; a record that can never be stored goes to the failure
queue and is skipped; any other failure is reported per record for Lambda to retry.
Where this sits in a batch's journey from the 202 to replay, and why each step is as it
is: docs/architecture.md, "The data path".
"""

from __future__ import annotations

import base64
import gzip
import json
import logging
import re
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from . import layout, records
from .ids import sequence_order
from .recording_table import COUNTED_MARKS, RecordingTable, chunk_counts

logger = logging.getLogger("rrweb.consumer")

# Chunk objects are read by the API and then by compaction: level 6 is zlib's balance.
_GZIP_LEVEL = 6
# Owner ids are Cognito subs (or the local default owner); recording ids match the
# API's pattern. Anything else in a record must never become part of an S3 key: not a
# "/" and not "..", which tools that map keys to paths would follow out of the prefix.
_OWNER = re.compile(r"(?!.*\.\.)[A-Za-z0-9_.:-]{1,128}")
_RECORDING = re.compile(r"[A-Za-z0-9_-]{1,64}")
# Counting races only with another invocation on the same recording (a retry while a
# slow first attempt still runs): a few attempts settle it.
_COUNT_ATTEMPTS = 3


@dataclass(frozen=True, slots=True)
class StreamRecord:
    """One Kinesis record as Lambda delivers it: its shard, sequence number and data."""

    shard: str
    sequence: str
    data: bytes

    @classmethod
    def from_lambda(cls, record: dict[str, Any]) -> StreamRecord:
        """From one entry of a Lambda Kinesis event (``eventID`` is ``<shard>:<sequence>``)."""
        kinesis = record["kinesis"]
        return cls(
            shard=record["eventID"].split(":", 1)[0],
            sequence=kinesis["sequenceNumber"],
            data=base64.b64decode(kinesis["data"]),
        )


@dataclass(kw_only=True)
class Outcome:
    """What one invocation did: the partial batch response and counts for the log."""

    failed: list[str] = field(default_factory=list)
    # keys of the objects written
    keys: list[str] = field(default_factory=list)
    objects: int = 0
    records: int = 0
    dropped: int = 0
    poison: int = 0

    def response(self) -> dict[str, list[dict[str, str]]]:
        """Lambda's partial batch response: retry from the earliest failed record."""
        ordered = sorted(set(self.failed), key=int)
        return {"batchItemFailures": [{"itemIdentifier": sequence} for sequence in ordered]}


class FailureQueue:
    """Where records that can never be stored are reported (an SQS queue), for a person to look at."""

    def __init__(self, *, sqs: Any, queue_url: str | None) -> None:
        self._sqs = sqs
        self._queue_url = queue_url

    @property
    def sqs(self) -> Any:
        """The SQS client reports are sent with."""
        return self._sqs

    def report(self, record: StreamRecord, reason: str) -> None:
        """Send the record's coordinates (never its data: it may hold page content) and why."""
        message = {
            "reason": reason,
            "shard": record.shard,
            "sequenceNumber": record.sequence,
            "bytes": len(record.data),
        }
        logger.error("unstorable stream record", extra={"failure": message})
        if self._queue_url:
            self._sqs.send_message(QueueUrl=self._queue_url, MessageBody=json.dumps(message))


def storable(part: records.RecordPart) -> bool:
    """Whether a record's owner and recording id are safe to put in an S3 key."""
    return bool(_OWNER.fullmatch(part.owner) and _RECORDING.fullmatch(part.recording))


def _parse(record: StreamRecord) -> records.RecordPart | None:
    part = records.parse_record(record.data)
    return part if part is not None and storable(part) else None


def _check(record: StreamRecord) -> records.RecordPart | str:
    """The record's part, or why it can never be stored.

    That includes a part count above what any batch can have (``records.MAX_PARTS``,
    from the body limits): such a record could never be joined into a batch, and would
    keep its recording waiting for parts that cannot exist.
    """
    try:
        part = records.decode_record(record.data)
    except records.TooManyPartsError as exc:
        return str(exc)
    except records.MalformedRecordError:
        return "not an ingest record"
    return part if storable(part) else "not an ingest record"


class StreamConsumer:
    """Writes each invocation's records to S3, one object per recording."""

    def __init__(
        self,
        *,
        s3: Any,
        bucket: str,
        table: RecordingTable,
        failures: FailureQueue,
        workers: int = 16,
        mark: str = COUNTED_MARKS[0],
    ) -> None:
        # Which consumer this is: each counts the records of its own event source mapping
        # past its own mark (``RecordingTable.count_chunk``).
        self._mark = mark
        self._s3 = s3
        self._bucket = bucket
        self._table = table
        self._failures = failures
        # One worker writes in the calling thread (deterministic, for tests that inject faults).
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="consume") if workers > 1 else None

    @property
    def failures(self) -> FailureQueue:
        """Where records that can never be stored are reported."""
        return self._failures

    def consume(self, batch: Iterable[StreamRecord]) -> Outcome:
        """Store one invocation's records; the outcome names the records to retry."""
        batch = list(batch)
        outcome = Outcome(records=len(batch))
        if not batch:
            return outcome
        # Same records, same name: a retried invocation overwrites its own objects with
        # the same bytes. A batch with more or fewer records gets a name of its own.
        name = f"{batch[0].shard}-{batch[0].sequence}-{batch[-1].sequence}"
        groups: dict[tuple[str, str], list[StreamRecord]] = {}
        for record in batch:
            part = _check(record)
            if isinstance(part, str):
                try:
                    self._failures.report(record, part)
                    outcome.poison += 1
                except Exception:
                    logger.exception("could not report an unstorable record; it will be retried")
                    outcome.failed.append(record.sequence)
                continue
            groups.setdefault((part.owner, part.recording), []).append(record)
        write = lambda item: self._write(name, *item)  # noqa: E731 (one expression, two uses)
        results = self._pool.map(write, groups.items()) if self._pool else map(write, groups.items())
        for (key, group), result in zip(groups.items(), results, strict=True):
            if result is None:
                outcome.failed.append(group[0].sequence)
            elif result:
                outcome.objects += 1
                outcome.keys.append(result)
            else:
                outcome.dropped += len(group)
                logger.info("dropped records of a deleted recording", extra={"recording": key[1]})
        return outcome

    def _write(self, name: str, owner_recording: tuple[str, str], group: list[StreamRecord]) -> str | None:
        """The key written, "" when the recording is gone (dropped), None on failure."""
        owner, recording = owner_recording
        key = layout.chunk_key(owner, recording, name)
        try:
            item = self._table.get_any(owner, recording)
            if item is None or item.get("deleting"):
                # Gone: nothing is written, and what an earlier attempt of this invocation
                # wrote before it failed (same records, same key) goes too.
                self._s3.delete_object(Bucket=self._bucket, Key=key)
                return ""
            key = write_chunk(
                s3=self._s3, bucket=self._bucket, item=item, name=name, lines=[record.data for record in group]
            )
            for _ in range(_COUNT_ATTEMPTS):
                outcome = self._count(item, group)
                if outcome == "counted":
                    return key
                item = self._table.get_any(owner, recording) if outcome == "raced" else None
                if item is None or item.get("deleting"):
                    # Deleted while the chunk was written: the DELETE may have listed the
                    # prefix before it landed, so the chunk goes here, not by a reaper
                    # invoked for every object (docs/architecture.md, "Deleting").
                    self._s3.delete_object(Bucket=self._bucket, Key=key)
                    return ""
            raise RuntimeError(f"the recording's counts kept changing over {_COUNT_ATTEMPTS} attempts")
        except Exception:
            logger.exception("could not store a recording's records; they will be retried")
            return None

    def _count(self, item: dict[str, Any], group: list[StreamRecord]) -> str:
        """Count the records past this consumer's mark in the item: "counted", "raced" or "gone"."""
        seen = item.get(self._mark)
        fresh = [record for record in group if seen is None or sequence_order(record.sequence) > seen]
        parts = [part for part in map(_parse, fresh) if part is not None]
        try:
            # A redelivery of records counted already must not move the mark back.
            through = max(sequence_order(group[-1].sequence), seen or "")
            counted = self._table.count_chunk(item, chunk_counts(parts), through=through, mark=self._mark)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return "raced"
            raise
        return "counted" if counted else "gone"


def write_chunk(*, s3: Any, bucket: str, item: dict[str, Any], name: str, lines: list[bytes]) -> str:
    """Write ingest record lines as one chunk object of the recording ``item`` describes; its key."""
    owner, recording = RecordingTable.owner_and_id(item)
    body = b"".join(line if line.endswith(b"\n") else line + b"\n" for line in lines)
    key = layout.chunk_key(owner, recording, name)
    s3.put_object(
        Bucket=bucket,
        Key=key,
        Body=gzip.compress(body, compresslevel=_GZIP_LEVEL, mtime=0),
        ContentType="application/gzip",
    )
    return key
