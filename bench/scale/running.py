"""Running it: moto in process with the stack's resources, counted and in simulated time."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
from moto import mock_aws

import local  # noqa: F401  (puts api/ on the import path)
from bench.scale.analysis import analyse
from bench.scale.clock import VirtualClock
from bench.scale.meter import Meter
from bench.scale.settings import DEFAULT_RECORDINGS, DEFAULT_SECONDS, NAMES, REGION, STACK_DEFAULTS
from bench.scale.simulation import Config, Simulation
from local.resources import provision


@contextmanager
def _stack(meter: Meter, clock: VirtualClock) -> Iterator[tuple[Any, dict[str, str]]]:
    """moto in process with the stack's resources (the default shard count), counted and in simulated time."""
    from chalicelib.aws import get_cors, get_services
    from chalicelib.settings import get_settings

    saved = dict(os.environ)
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "scale",
            "AWS_SECRET_ACCESS_KEY": "scale",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            **NAMES.environment(),
        }
    )
    os.environ.pop("AWS_ENDPOINT_URL", None)
    # Thousands of requests log a line each: the figures would drown.
    logging_level = logging.root.manager.disable
    logging.disable(logging.INFO)

    def clear() -> None:
        get_settings.cache_clear()
        get_services.cache_clear()
        get_cors.cache_clear()

    try:
        with meter.installed(), mock_aws():
            clear()
            session = boto3.session.Session(region_name=REGION)
            with meter.acting("setup"):
                variables = provision(session, NAMES, shards=STACK_DEFAULTS.kinesis_shards)
            os.environ.update(variables)
            with clock.installed():
                yield session, variables
    finally:
        clear()
        logging.disable(logging_level)
        os.environ.clear()
        os.environ.update(saved)


def _delivery(session: Any, meter: Meter) -> dict[str, Any]:
    """Whether the archive's delivery stream partitions dynamically (then it has a partition ceiling)."""
    with meter.quiet():
        description = session.client("firehose").describe_delivery_stream(DeliveryStreamName=NAMES.delivery)
    destinations = description["DeliveryStreamDescription"].get("Destinations", [])
    dynamic = any(
        d.get("ExtendedS3DestinationDescription", {}).get("DynamicPartitioningConfiguration", {}).get("Enabled")
        for d in destinations
    )
    return {"delivery_stream": NAMES.delivery, "dynamic_partitioning": bool(dynamic), "active_partitions": 0}


def run(
    recordings: int = DEFAULT_RECORDINGS, seconds: int = DEFAULT_SECONDS, *, compact: bool = False, seed: int = 1
) -> dict[str, Any]:
    """Simulate ``recordings`` concurrent recordings for ``seconds`` simulated seconds; the figures (JSON-able)."""
    from chalice.test import Client

    from app import app
    from chalicelib.settings import get_settings

    config = Config(recordings=recordings, seconds=seconds, compact=compact, seed=seed)
    wall: dict[str, float] = {}
    started = mark = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal mark
        now = time.perf_counter()
        wall[name] = round(now - mark, 1)
        mark = now

    clock = VirtualClock()
    meter = Meter(clock)
    with _stack(meter, clock) as (session, variables), Client(app) as client:
        meter.describe(session, stream=NAMES.stream)
        delivery = _delivery(session, meter)
        sim = Simulation(config, clock=clock, meter=meter, client=client, names=NAMES)
        sim.sign_in()
        sim.start_consumer(session, variables)
        lap("setup")
        sim.ingest()
        lap("ingest")
        if compact:
            sim.compact(get_settings().compact_idle_seconds)
            lap("compaction")
        if delivery["dynamic_partitioning"]:
            # Partitioned by recording (the only key a replay would use): one per active recording.
            delivery["active_partitions"] = recordings
        read = sim.read_back()
        lap("read_back")
        figures = analyse(sim, meter, delivery=delivery, read=read)
    wall["total"] = round(time.perf_counter() - started, 1)
    figures["wall_seconds"] = wall
    return figures
