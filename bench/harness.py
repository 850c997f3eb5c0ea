"""Shared set-up for in-process benchmarks: moto's AWS with the stack's resources.

The data path is the real one: the API's ingest puts records on the stream, and the
stack's consumer function (``app.consume_events``) reads them through the same local
event source mapping the local stack runs; the archive's Firehose is carried out too.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import boto3
from moto import mock_aws

import local  # noqa: F401  (puts api/ on the import path)
from chalicelib.aws import Services, get_services
from chalicelib.observability import SERVICE
from chalicelib.settings import get_settings
from local.delivery import LocalDelivery
from local.event_source import KinesisEventSource, MappingConfig, consumer_source
from local.resources import Names, provision

NAMES = Names.for_stack("bench")
OWNER = "bench-owner"


@dataclass(frozen=True, kw_only=True)
class InProcessStack:
    """The API's services, the stream consumer behind its event source mapping, and the archive."""

    services: Services
    consumer: KinesisEventSource
    archive: LocalDelivery

    def consume(self) -> int:
        """One invocation's worth: every record on the stream goes to the consumer now."""
        return self.consumer.poll(flush=True)


def post(stack: InProcessStack, recording_id: str, batch: Any) -> None:
    """One batch (a ``workload.Posted``) through the API's ingest, as the recorder posts it (gzip)."""
    stack.services.ingest.append(OWNER, recording_id, batch.gzip, "gzip")


@contextmanager
def in_process_stack() -> Iterator[InProcessStack]:
    """moto in process, resources provisioned, the API's services, the consumer and the archive."""
    saved = dict(os.environ)
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_REGION": "us-east-1",
            **NAMES.environment(),
        }
    )
    os.environ.pop("AWS_ENDPOINT_URL", None)
    service_logger = logging.getLogger(SERVICE)
    level = service_logger.level
    try:
        with mock_aws():
            get_settings.cache_clear()
            get_services.cache_clear()
            session = boto3.session.Session(region_name="us-east-1")
            variables = provision(session, NAMES)
            os.environ.update(variables)
            consumer = consumer_source(
                session,
                stream=NAMES.stream,
                failure_queue_url=variables["RRWEB_FAILURE_QUEUE_URL"],
                config=MappingConfig(),
            )
            # The consumer logs a line per invocation (importing the app above set the
            # level): thousands of them would bury the figures.
            level = service_logger.level
            service_logger.setLevel(logging.WARNING)
            yield InProcessStack(
                services=get_services(),
                consumer=consumer,
                archive=LocalDelivery(session=session, delivery_stream=NAMES.delivery),
            )
    finally:
        service_logger.setLevel(level)
        get_settings.cache_clear()
        get_services.cache_clear()
        os.environ.clear()
        os.environ.update(saved)


@dataclass
class S3Meter:
    """Counts S3 requests by operation and adds a fixed first-byte latency to each.

    moto answers in microseconds; real S3 takes tens of milliseconds to a first byte,
    which is what concurrency and fewer objects save. The latency is a sleep in
    botocore's ``before-call`` event, so every request pays it, whoever sends it.
    """

    s3: Any
    latency_s: float = 0.0
    counts: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.s3.meta.events.register("before-call.s3", self._before)

    def _before(self, model: Any, **_: Any) -> None:
        with self._lock:
            self.counts[model.name] = self.counts.get(model.name, 0) + 1
        if self.latency_s:
            time.sleep(self.latency_s)

    @property
    def requests(self) -> int:
        """Requests since the last reset."""
        return sum(self.counts.values())

    def reset(self) -> dict[str, int]:
        """The counts so far, then start again from zero."""
        with self._lock:
            counts, self.counts = self.counts, {}
        return counts

    def close(self) -> None:
        """Stop counting and delaying."""
        self.s3.meta.events.unregister("before-call.s3", self._before)
