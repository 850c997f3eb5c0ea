"""Local event source mapping: what Lambda does between a Kinesis stream and the consumer.

moto stores streams but runs no event source mapping, so this does, with the semantics
the stack configures on AWS (``infra/api.py``): poll every shard about once a second
from TRIM_HORIZON; gather records until the batch is full or the batching window has
passed since the first one; invoke the handler with a Lambda Kinesis event; on a partial
batch response, retry from the earliest failed record; on an error, bisect the batch;
after ``max_retries`` retries of a batch, send its coordinates to the on-failure
destination and go on. A shard's position advances only past records that were handled,
so nothing is skipped silently.

One difference from AWS it papers over: moto numbers a stream's records from 1, and the
local stack's stream is created afresh at every start, so the numbers repeat across
restarts, where Kinesis never repeats one within a shard. The consumer names its
objects by shard and sequence number, so a repeat would overwrite an object written
before the restart. The mapping therefore puts the stream's epoch (when this mapping
started reading it) in front of moto's number: ``<epoch ms><moto number, 20 digits>``,
increasing within a shard like Kinesis's, and never the same in two incarnations.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from infra.settings import StackSettings

logger = logging.getLogger("rrweb.event_source")

# Lambda polls each shard about once a second.
POLL_SECONDS = 1.0
# What a stack gets without a Pulumi.<stack>.yaml entry: the local stack runs the same.
_DEFAULTS = StackSettings(stack="local")


# Lambda invokes with at most 6 MB of event (synchronous invocation's payload limit):
# a batch stops short of it, whatever its window or size.
MAX_PAYLOAD_BYTES = 6 * 1024 * 1024
# What one record adds to the event beside its data in base64 (its keys, ids and ARN).
_RECORD_ENVELOPE_BYTES = 600


@dataclass(frozen=True, kw_only=True)
class MappingConfig:
    """The event source mapping's settings (the stack config's consumer* keys, same defaults).

    ``filter`` is the mapping's event filter pattern (``records.LIVE_FILTER`` or
    ``UNWATCHED_FILTER``): records it does not match are skipped, as Lambda discards them.
    """

    batch_size: int = _DEFAULTS.consumer_batch_size
    batching_window: float = _DEFAULTS.consumer_batching_window_seconds
    max_retries: int = _DEFAULTS.consumer_max_retries
    filter: dict[str, Any] | None = None

    @classmethod
    def of(cls, settings: StackSettings, *, watched: bool = False) -> MappingConfig:
        """The mapping a stack with these settings gets on AWS for one of its two consumers (``infra/api.py``)."""
        from chalicelib.records import LIVE_FILTER, UNWATCHED_FILTER

        return cls(
            batch_size=settings.consumer_batch_size,
            batching_window=(
                settings.consumer_batching_window_seconds if watched else settings.consumer_unwatched_window_seconds
            ),
            max_retries=settings.consumer_max_retries,
            filter=LIVE_FILTER if watched else UNWATCHED_FILTER,
        )


def matches(pattern: dict[str, Any], data: bytes) -> bool:
    """Whether a record's data matches a Lambda event filter pattern on ``data``.

    The subset the stack uses: nested keys, lists of literal values, and ``{"exists": ...}``.
    Data that is not a JSON object matches no pattern on ``data``, as on Lambda.
    """
    try:
        value = json.loads(data)
    except ValueError:
        return False
    return _matches(pattern.get("data", {}), value)


def _matches(pattern: dict[str, Any], value: Any) -> bool:
    if not isinstance(value, dict):
        return False
    for key, wanted in pattern.items():
        if isinstance(wanted, dict):
            if not _matches(wanted, value.get(key)):
                return False
            continue
        if not any(_accepts(option, key, value) for option in wanted):
            return False
    return True


def _accepts(option: Any, key: str, value: dict[str, Any]) -> bool:
    if isinstance(option, dict):
        if set(option) != {"exists"}:
            raise ValueError(f"filter operator {option} is not modelled locally")
        return (key in value) is option["exists"]
    # JSON's true is not 1: compared with their types.
    return key in value and type(value[key]) is type(option) and value[key] == option


def _event_bytes(record: dict[str, Any]) -> int:
    return (len(record["Data"]) + 2) // 3 * 4 + _RECORD_ENVELOPE_BYTES


def _batch_end(buffer: list[dict[str, Any]], batch_size: int) -> int:
    """How many of the buffered records one invocation takes: batch_size, or fewer to stay under 6 MB."""
    size = 0
    for index, record in enumerate(buffer[:batch_size]):
        size += _event_bytes(record)
        if size > MAX_PAYLOAD_BYTES:
            return max(1, index)
    return min(len(buffer), batch_size)


@dataclass(kw_only=True)
class _Shard:
    iterator: str | None = None
    buffer: list[dict[str, Any]] = field(default_factory=list)
    # When the oldest buffered record was read: the batching window runs from there.
    first_seen: float = 0.0
    # The last sequence number read, the filter's discards included.
    last_read: str | None = None


def lambda_event(records: list[dict[str, Any]], *, shard: str, stream_arn: str) -> dict[str, Any]:
    """A Lambda Kinesis event of GetRecords records, as Lambda builds it."""
    return {
        "Records": [
            {
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": record["PartitionKey"],
                    "sequenceNumber": record["SequenceNumber"],
                    "data": base64.b64encode(record["Data"]).decode("ascii"),
                    "approximateArrivalTimestamp": record["ApproximateArrivalTimestamp"].timestamp(),
                },
                "eventSource": "aws:kinesis",
                "eventVersion": "1.0",
                "eventID": f"{shard}:{record['SequenceNumber']}",
                "eventName": "aws:kinesis:record",
                "awsRegion": stream_arn.split(":")[3],
                "eventSourceARN": stream_arn,
            }
            for record in records
        ]
    }


class KinesisEventSource:
    """Feeds one stream's records to a handler the way Lambda's event source mapping does."""

    def __init__(
        self,
        *,
        kinesis: Any,
        stream_arn: str,
        handler: Callable[[dict[str, Any]], dict[str, Any] | None],
        on_failure: Callable[[dict[str, Any]], None],
        config: MappingConfig = MappingConfig(),
        clock: Callable[[], float] = time.monotonic,
        epoch: int | None = None,
    ) -> None:
        self._kinesis = kinesis
        self._stream_arn = stream_arn
        self._handler = handler
        self._on_failure = on_failure
        self.config = config
        self._clock = clock
        self._epoch = time.time_ns() // 1_000_000 if epoch is None else epoch
        self._shards: dict[str, _Shard] = {}
        self._last_read = float("-inf")
        self._lock = threading.Lock()

    def poll(self, *, flush: bool = False) -> int:
        """Read the shards if a poll is due, invoke for each batch that is due; returns records handled.

        A batch is due when it is full or its oldest record has waited the batching
        window. ``flush`` reads now and ignores the window (a drain before a checkpoint
        or a stop): everything on the stream when it was called is handled on return.
        """
        with self._lock:
            if flush or self._clock() - self._last_read >= POLL_SECONDS:
                for shard_id in self._shard_ids():
                    self._read(shard_id, self._shards.setdefault(shard_id, _Shard()))
                self._last_read = self._clock()
            handled = 0
            for shard_id, shard in self._shards.items():
                while shard.buffer and (
                    flush
                    or _batch_end(shard.buffer, self.config.batch_size) < len(shard.buffer)
                    or len(shard.buffer) >= self.config.batch_size
                    or self._clock() - shard.first_seen >= self.config.batching_window
                ):
                    batch = shard.buffer[: _batch_end(shard.buffer, self.config.batch_size)]
                    self._invoke(shard_id, batch)
                    handled += len(batch)
                    # Only now: a batch whose handling raised stays first in line.
                    del shard.buffer[: len(batch)]
                    # The rest was read with it and keeps its first_seen: a record waits
                    # at most one window, however many batches are ahead of it.
            return handled

    def read_now(self) -> dict[str, str]:
        """Read every shard now (invoking nothing); per shard, the last sequence number on it.

        Every record put on the stream before the call is at or before it: what a
        checkpoint keeps its journal segments for until ``handled`` says so.
        """
        with self._lock:
            for shard_id in self._shard_ids():
                self._read(shard_id, self._shards.setdefault(shard_id, _Shard()))
            return {shard_id: shard.last_read for shard_id, shard in self._shards.items() if shard.last_read}

    def handled(self, marks: dict[str, str]) -> bool:
        """Whether every record up to ``marks`` (from ``read_now``) was handed to the handler and handled."""
        with self._lock:
            for shard_id, mark in marks.items():
                buffer = self._shards[shard_id].buffer
                if buffer and int(buffer[0]["SequenceNumber"]) <= int(mark):
                    return False
            return True

    def _shard_ids(self) -> list[str]:
        shards = self._kinesis.list_shards(StreamARN=self._stream_arn)["Shards"]
        return [shard["ShardId"] for shard in shards]

    def _read(self, shard_id: str, shard: _Shard) -> None:
        if shard.iterator is None:
            shard.iterator = self._kinesis.get_shard_iterator(
                StreamARN=self._stream_arn, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON"
            )["ShardIterator"]
        while True:
            result = self._kinesis.get_records(StreamARN=self._stream_arn, ShardIterator=shard.iterator, Limit=10000)
            for record in result["Records"]:
                record["SequenceNumber"] = f"{self._epoch}{int(record['SequenceNumber']):020d}"
                shard.last_read = record["SequenceNumber"]
            taken = [record for record in result["Records"] if self._wanted(record)]
            if taken and not shard.buffer:
                shard.first_seen = self._clock()
            shard.buffer.extend(taken)
            shard.iterator = result.get("NextShardIterator") or shard.iterator
            if not result["Records"]:
                return

    def _wanted(self, record: dict[str, Any]) -> bool:
        """Whether the mapping's filter lets the record through (no filter: every record)."""
        return self.config.filter is None or matches(self.config.filter, record["Data"])

    def _invoke(self, shard_id: str, batch: list[dict[str, Any]]) -> None:
        """Handle one batch completely: retried, bisected or reported, never dropped unseen."""
        pending = [batch]
        attempts = 0
        while pending:
            current = pending.pop(0)
            try:
                response = self._handler(lambda_event(current, shard=shard_id, stream_arn=self._stream_arn)) or {}
            except Exception:
                logger.exception("consumer raised; bisecting the batch")
                attempts += 1
                if attempts > self.config.max_retries:
                    self._give_up(shard_id, current, "function error")
                elif len(current) > 1:
                    half = len(current) // 2
                    pending[:0] = [current[:half], current[half:]]
                else:
                    pending.insert(0, current)
                continue
            rest = _to_retry(current, response)
            if not rest:
                continue
            attempts += 1
            if attempts > self.config.max_retries:
                self._give_up(shard_id, rest, "retries exhausted")
            else:
                pending.insert(0, rest)

    def _give_up(self, shard_id: str, records: list[dict[str, Any]], reason: str) -> None:
        """What Lambda sends the on-failure destination: where the skipped records are."""
        self._on_failure(
            {
                "requestContext": {"condition": reason},
                "KinesisBatchInfo": {
                    "shardId": shard_id,
                    "startSequenceNumber": records[0]["SequenceNumber"],
                    "endSequenceNumber": records[-1]["SequenceNumber"],
                    "batchSize": len(records),
                    "streamArn": self._stream_arn,
                },
            }
        )

    def run(self, stop: threading.Event) -> None:
        """Poll until ``stop`` is set, then drain what was read."""
        while not stop.wait(0.1):
            try:
                self.poll()
            except Exception:
                # Records stay in the stream (positions only move past handled ones).
                logger.exception("local event source mapping failed; retrying")
        self.poll(flush=True)


def _to_retry(batch: list[dict[str, Any]], response: Any) -> list[dict[str, Any]]:
    """The records a partial batch response asks to retry: from the earliest failed one on.

    As Lambda reads it: no failures is a success; an identifier that names no record
    of the batch (empty, missing, misspelt key) fails the whole batch, so a malformed
    answer can never skip a record.
    """
    failures = response.get("batchItemFailures") if isinstance(response, dict) else None
    if not failures:
        return []
    positions = {record["SequenceNumber"]: index for index, record in enumerate(batch)}
    try:
        earliest = min(positions[item["itemIdentifier"]] for item in failures)
    except (KeyError, TypeError):
        return batch
    return batch[earliest:]


def consumer_sources(
    session: Any, *, stream: str, failure_queue_url: str, settings: StackSettings
) -> list[KinesisEventSource]:
    """The stack's two consumers (``app.consume_events``, ``app.consume_watched_events``), each
    behind a local event source mapping with its filter and window (``MappingConfig.of``)."""
    return [
        consumer_source(
            session,
            stream=stream,
            failure_queue_url=failure_queue_url,
            config=MappingConfig.of(settings, watched=watched),
            watched=watched,
        )
        for watched in (False, True)
    ]


def consumer_source(
    session: Any, *, stream: str, failure_queue_url: str, config: MappingConfig, watched: bool = False
) -> KinesisEventSource:
    """One of the stack's consumer functions behind a local event source mapping.

    The chunks it writes reach the orphan reaper as on AWS: through the bucket's
    object-created notification (``local/notifications.py``).
    """
    from app import consume_events, consume_watched_events

    kinesis = session.client("kinesis")
    sqs = session.client("sqs")
    stream_arn = kinesis.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"]["StreamARN"]
    handler = consume_watched_events if watched else consume_events

    def on_failure(message: dict[str, Any]) -> None:
        sqs.send_message(QueueUrl=failure_queue_url, MessageBody=json.dumps(message))

    return KinesisEventSource(
        kinesis=kinesis,
        stream_arn=stream_arn,
        handler=lambda event: handler(event, None),
        on_failure=on_failure,
        config=config,
    )
