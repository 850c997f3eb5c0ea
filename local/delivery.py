"""Local delivery: what the Firehose delivery stream does on AWS, done on one machine.

moto stores the delivery stream's definition but does not run it, so this reads that
definition (source stream, S3 prefix with dynamic partitioning, JQ metadata query,
error prefix, GZIP) and carries it out: records from every shard are partitioned by
the stream's own JQ query and written as GZIP objects of newline-delimited records,
under the prefix AWS would use. The only deviation is the buffer interval: seconds
instead of Firehose's minimum of sixty, so a developer sees events at once.
"""

from __future__ import annotations

import datetime as dt
import gzip
import logging
import re
import threading
import uuid
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import jq

logger = logging.getLogger("rrweb.delivery")

_PARTITION_KEY = re.compile(r"!\{partitionKeyFromQuery:([A-Za-z0-9_]+)\}")
_TIMESTAMP = re.compile(r"!\{timestamp:([^}]+)\}")
_JAVA_DATE = {"yyyy": "%Y", "MM": "%m", "dd": "%d", "HH": "%H", "mm": "%M", "ss": "%S"}


def expand_prefix(template: str, keys: dict[str, str], *, error_type: str = "", now: dt.datetime) -> str:
    """Expand a Firehose S3 prefix expression the way the delivery stream does."""

    def stamp(match: re.Match[str]) -> str:
        pattern = match.group(1)
        for java, python in _JAVA_DATE.items():
            pattern = pattern.replace(java, python)
        return now.strftime(pattern)

    out = _PARTITION_KEY.sub(lambda m: keys[m.group(1)], template)
    out = out.replace("!{firehose:error-output-type}", error_type)
    return _TIMESTAMP.sub(stamp, out)


class DeliveryStream:
    """One delivery stream's definition, read from the (local) Firehose API."""

    def __init__(self, description: dict[str, Any]) -> None:
        destination = description["Destinations"][0]["ExtendedS3DestinationDescription"]
        self.name: str = description["DeliveryStreamName"]
        self.version: str = description.get("VersionId", "1")
        self.source_arn: str = description["Source"]["KinesisStreamSourceDescription"]["KinesisStreamARN"]
        self.bucket: str = destination["BucketARN"].split(":::", 1)[1]
        self.prefix: str = destination.get("Prefix", "")
        self.error_prefix: str = destination.get("ErrorOutputPrefix", "")
        self.gzip: bool = destination.get("CompressionFormat") == "GZIP"
        processors = destination["ProcessingConfiguration"]["Processors"]
        self.delimit: bool = any(processor["Type"] == "AppendDelimiterToRecord" for processor in processors)
        query = next(
            parameter["ParameterValue"]
            for processor in processors
            if processor["Type"] == "MetadataExtraction"
            for parameter in processor["Parameters"]
            if parameter["ParameterName"] == "MetadataExtractionQuery"
        )
        self.query = jq.compile(query)

    def partition(self, data: bytes) -> dict[str, str] | None:
        """The partition keys of one record, or None when the query cannot place it."""
        try:
            keys = self.query.input_text(data.decode("utf-8")).first()
        except (ValueError, UnicodeDecodeError):
            return None
        if not isinstance(keys, dict) or not all(isinstance(v, str) and v for v in keys.values()):
            return None
        return keys

    def object_name(self, now: dt.datetime) -> str:
        """Firehose's object naming: stream, version, time, random suffix."""
        suffix = ".gz" if self.gzip else ""
        return f"{self.name}-{self.version}-{now:%Y-%m-%d-%H-%M-%S}-{uuid.uuid4()}{suffix}"


class LocalDelivery:
    """Moves records from the source stream into S3, as the delivery stream would."""

    def __init__(
        self,
        *,
        session: Any,
        delivery_stream: str,
        on_object: Callable[[str], Any] | None = None,
    ) -> None:
        self._kinesis = session.client("kinesis")
        self._s3 = session.client("s3")
        firehose = session.client("firehose")
        self.stream = DeliveryStream(
            firehose.describe_delivery_stream(DeliveryStreamName=delivery_stream)["DeliveryStreamDescription"]
        )
        self._on_object = on_object
        self._iterators: dict[str, str] = {}
        self._lock = threading.Lock()

    def _shards(self) -> list[str]:
        shards = self._kinesis.list_shards(StreamARN=self.stream.source_arn)["Shards"]
        return [shard["ShardId"] for shard in shards]

    def _read(self) -> tuple[list[bytes], dict[str, str]]:
        out: list[bytes] = []
        positions: dict[str, str] = {}
        for shard in self._shards():
            iterator = (
                self._iterators.get(shard)
                or self._kinesis.get_shard_iterator(
                    StreamARN=self.stream.source_arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
                )["ShardIterator"]
            )
            while True:
                result = self._kinesis.get_records(
                    StreamARN=self.stream.source_arn, ShardIterator=iterator, Limit=10000
                )
                out.extend(record["Data"] for record in result["Records"])
                iterator = result.get("NextShardIterator") or iterator
                if not result["Records"]:
                    break
            positions[shard] = iterator
        return out, positions

    def deliver(self) -> int:
        """Deliver everything the stream holds now; returns the number of records."""
        with self._lock:
            # Positions advance only after the objects are written, so a failed write
            # re-reads the same records next time (at least once, like Firehose).
            data, positions = self._read()
            if not data:
                self._iterators.update(positions)
                return 0
            now = dt.datetime.now(dt.UTC)
            groups: dict[str, list[bytes]] = defaultdict(list)
            for record in data:
                keys = self.stream.partition(record)
                if keys is None:
                    prefix = expand_prefix(self.stream.error_prefix, {}, error_type="processing-failed", now=now)
                else:
                    prefix = expand_prefix(self.stream.prefix, keys, now=now)
                groups[prefix].append(record)
            for prefix, batch in groups.items():
                self._write(prefix + self.stream.object_name(now), batch)
            self._iterators.update(positions)
            return len(data)

    def _write(self, key: str, batch: list[bytes]) -> None:
        body = b"".join(record + b"\n" for record in batch) if self.stream.delimit else b"".join(batch)
        if self.stream.gzip:
            body = gzip.compress(body, compresslevel=6)
        self._s3.put_object(Bucket=self.stream.bucket, Key=key, Body=body)
        if self._on_object is not None:
            self._on_object(key)

    def run(self, stop: threading.Event, *, interval: float = 1.0) -> None:
        """Deliver every ``interval`` seconds until ``stop`` is set, then drain."""
        while not stop.wait(interval):
            try:
                self.deliver()
            except Exception:
                # Keep delivering after a transient failure; records stay in the stream.
                logger.exception("local delivery failed; retrying")
        self.deliver()
