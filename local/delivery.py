"""Local archive delivery: what the Firehose delivery stream does on AWS, on one machine.

moto stores the delivery stream's definition but does not run it, so this reads that
definition (source stream, time-stamped S3 prefix, GZIP, buffer interval) and carries
it out: the records of every shard, as they are (each ends with a newline), written as
one GZIP object per buffer interval under the prefix AWS would use. Nothing on the
replay path reads the archive (the stream consumer does that job within seconds).
One difference: the local stack also flushes the archive at every checkpoint, because
its Kinesis stream does not outlive a restart while AWS's keeps records for a day.
"""

from __future__ import annotations

import datetime as dt
import gzip
import logging
import re
import threading
import uuid
from typing import Any

logger = logging.getLogger("rrweb.delivery")

_TIMESTAMP = re.compile(r"!\{timestamp:([^}]+)\}")
_JAVA_DATE = {"yyyy": "%Y", "MM": "%m", "dd": "%d", "HH": "%H", "mm": "%M", "ss": "%S"}


def expand_prefix(template: str, *, error_type: str = "", now: dt.datetime) -> str:
    """Expand a Firehose S3 prefix expression the way the delivery stream does."""

    def stamp(match: re.Match[str]) -> str:
        pattern = match.group(1)
        for java, python in _JAVA_DATE.items():
            pattern = pattern.replace(java, python)
        return now.strftime(pattern)

    out = template.replace("!{firehose:error-output-type}", error_type)
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
        self.buffer_seconds: int = destination.get("BufferingHints", {}).get("IntervalInSeconds", 300)

    def object_name(self, now: dt.datetime) -> str:
        """Firehose's object naming: stream, version, time, random suffix."""
        suffix = ".gz" if self.gzip else ""
        return f"{self.name}-{self.version}-{now:%Y-%m-%d-%H-%M-%S}-{uuid.uuid4()}{suffix}"


class LocalDelivery:
    """Moves records from the source stream into the archive, as the delivery stream would."""

    def __init__(self, *, session: Any, delivery_stream: str) -> None:
        self._kinesis = session.client("kinesis")
        self._s3 = session.client("s3")
        firehose = session.client("firehose")
        self.stream = DeliveryStream(
            firehose.describe_delivery_stream(DeliveryStreamName=delivery_stream)["DeliveryStreamDescription"]
        )
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
        """Write everything the stream holds now as one archive object; returns the number of records."""
        with self._lock:
            # Positions advance only after the object is written, so a failed write
            # re-reads the same records next time (at least once, like Firehose).
            data, positions = self._read()
            if data:
                now = dt.datetime.now(dt.UTC)
                body = b"".join(data)
                if self.stream.gzip:
                    body = gzip.compress(body, compresslevel=6)
                key = expand_prefix(self.stream.prefix, now=now) + self.stream.object_name(now)
                self._s3.put_object(Bucket=self.stream.bucket, Key=key, Body=body)
            self._iterators.update(positions)
            return len(data)

    def run(self, stop: threading.Event, *, interval: float | None = None) -> None:
        """Deliver every buffer interval until ``stop`` is set, then drain."""
        while not stop.wait(self.stream.buffer_seconds if interval is None else interval):
            try:
                self.deliver()
            except Exception:
                # Keep delivering after a transient failure; records stay in the stream.
                logger.exception("local archive delivery failed; retrying")
        self.deliver()
