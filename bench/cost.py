"""Monthly AWS cost of a stack for 1k, 100k and 10M recorded minutes, and of the storage shape.

``python -m bench.cost [stack]`` prints the Markdown table docs/cost.md shows, then the
comparison of the two ways to lay events out in S3 (docs/cost.md and docs/architecture.md
quote it). Volumes per recorded minute are measured on the benchmark workload (a
realistic rrweb stream) cut at the recorder's flush interval and turned into ingest
records and chunk objects by the API's own code; the stack's settings
(Pulumi.<stack>.yaml over the program's defaults) give memory, shards, the consumer's
window and parallelization, the archive's buffer, and retention. Every figure that is
an assumption rather than a measurement or a documented price says so where it is set.

The AWS requests each POST, chunk object and reaper call makes (DynamoDB write and read
units, index writes) are not modelled here: they are what ``python -m bench.scale``
counted through the real handlers, read from ``bench/results.json`` (its ``scale``
section, committed, so this stays fast and deterministic; ``python -m bench`` renews it).
"""

from __future__ import annotations

import dataclasses
import functools
import gzip
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import local  # noqa: F401  (puts api/ on the import path)
from bench import workload
from chalicelib import settings as api_settings
from chalicelib.ingest import prepare_batch
from infra.settings import StackSettings

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results.json"
# AWS list prices, us-east-1, as published in June 2025 (DynamoDB on-demand after its
# November 2024 cut); not re-checked since: verify at aws.amazon.com/pricing.
PRICES_AS_OF = "2025-06 (us-east-1 list prices; not re-checked since, verify at aws.amazon.com/pricing)"
PRICE = {
    # REST API, first 333 million requests (then APIGW_TIERS): the site's routes only. A
    # Lambda function URL (the recorder's door) bills no request, only the invocation.
    "apigw_per_million": 3.50,
    "lambda_per_million": 0.20,
    # Per GB-second of duration, first 6 billion a month: Graviton bills 20% less.
    "lambda_gb_second_x86_64": 0.0000166667,
    "lambda_gb_second_arm64": 0.0000133334,
    "kinesis_ondemand_stream_hour": 0.04,
    "kinesis_ondemand_gb_in": 0.08,
    "kinesis_ondemand_gb_out": 0.04,  # per reader: the consumer and the archive each read everything
    "kinesis_shard_hour": 0.015,
    "kinesis_put_units_per_million": 0.014,  # 25 KB units
    "firehose_gb": 0.029,  # ingestion, each record rounded up to 5 KB; no dynamic partitioning charges
    "s3_gb_month": 0.023,
    # S3 Glacier Instant Retrieval (aws.amazon.com/s3/pricing): storage, the lifecycle
    # transition request, the retrieval per GB read and its GET; 128 KB and 90 days
    # billed at least per object (chalicelib/lifecycle.py keeps below both).
    "s3_gir_gb_month": 0.004,
    "s3_gir_transition_per_thousand": 0.02,
    "s3_gir_retrieval_gb": 0.03,
    "s3_gir_get_per_thousand": 0.01,
    "s3_put_per_thousand": 0.005,  # PUT, COPY, POST, LIST; "DELETE and CANCEL requests are free"
    "s3_get_per_thousand": 0.0004,
    "dynamodb_wru_per_million": 0.625,  # on-demand
    "dynamodb_rru_per_million": 0.125,
    "logs_gb": 0.50,
}
# REST API requests a month and their price per million, tier by tier.
APIGW_TIERS = ((333e6, 3.50), (667e6, 2.80), (19e9, 2.38), (math.inf, 1.51))
# The recorder flushes every 10 s while nobody watches (site/src/recorder.js), so an
# active page posts 6 batches a minute; while someone watches live it flushes every second,
# which this model leaves out (few recordings are watched as they happen).
FLUSH_SECONDS = 10
# A new recording's first batch leaves after 1 s (firstFlushMs), and the flushes after it
# follow 9 s earlier than they would have: on average that adds 1 - 1/10 of a request
# per recording.
FIRST_FLUSH_SECONDS = 1
EARLY_POSTS_PER_RECORDING = 1 - FIRST_FLUSH_SECONDS / FLUSH_SECONDS
# Assumption: the average recording (one visitor's visit) lasts 5 minutes. It sets how
# many recordings a month holds, so the per-recording costs: compaction, the screenshot,
# one replay each.
RECORDING_MINUTES = 5
HOURS_PER_MONTH = 730
SECONDS_PER_MONTH = HOURS_PER_MONTH * 3600
MINUTES = (1_000, 100_000, 10_000_000)
# Function time (assumptions, from the benchmarks' in-process timings and S3's usual
# first-byte times): the API's POST (inflate, validate, GetItem, PutRecords); the
# consumer's fixed part and each object's GetItem + PutObject, sixteen at a time; the
# reaper's GetItem; the compactor per recording, fixed plus per MB of events (fetch,
# decode, gzip -6, write, read back; bench/compaction.py: 22 MB in 3.4 s with 20 ms S3
# requests on a 2-core machine).
HANDLER_SECONDS = 0.05
# The ingest function's POST, by its parts: the waits on AWS (a consistent GetItem and a
# PutRecords in the Region, about 5 and 20 ms, and the function URL's own hop:
# assumption) and its CPU, as `python -m bench.ingest` measured a POST through the app
# in process (bench/results.json, ingest.in_process.cpu_per_post_s; moto's own CPU is
# in it, so it is an upper bound). Lambda gives a function CPU in proportion to its
# memory, one vCPU at 1,769 MB, so below that the CPU part stretches: at 512 MB a POST
# takes longer than at 1,024 MB, but bills fewer GB-seconds (docs/cost.md).
INGEST_AWS_WAIT_SECONDS = 0.03
ONE_VCPU_MB = 1769
CONSUMER_BASE_SECONDS = 0.02
CONSUMER_OBJECT_SECONDS = 0.03
CONSUMER_WORKERS = 16
REAPER_SECONDS = 0.03
COMPACT_BASE_SECONDS = 0.1
COMPACT_SECONDS_PER_MB = 0.15
COMPACTOR_MEMORY_MB = 2048  # api/.chalice/config.json
# The retention expiry runs hourly (app.expire_recordings).
EXPIRY_RUNS_PER_MONTH = SECONDS_PER_MONTH / 3600
# Page assets (chalicelib/assets.py): a page view every 2 recorded minutes (assumption);
# the share of page views that ask a question is what `python -m bench.assets` measured
# with the real recorder (a tab remembers the assets it asked about, so the next page of
# the same site asks nothing: `asset_questions_per_page_view`); a question names 20
# assets (images, fonts, stylesheets: assumption), a HeadObject each. It rides on the
# page's first batch: no request of its own. New assets are uploaded once per owner, so
# at any volume past the first visitors their PUTs and bytes are a rounding error and
# left out; the assets' storage is the site's own images and fonts once, not per recording.
PAGE_VIEWS_PER_MINUTE = 0.5
ASSETS_PER_QUESTION = 20
# Log bytes per invocation: the function's own JSON line (a request line is about 250
# bytes: tests/unit/test_observability.py), plus CloudWatch's 26 bytes per event. Lambda's
# START, END and REPORT lines are left out by the system log level WARN (infra/api.py).
LOG_BYTES = {"api": 300, "consumer": 400, "reaper": 300, "compactor": 400}
# Assumption: a 640-px JPEG thumbnail at quality 0.7 (the recorder's settings).
SCREENSHOT_BYTES = 40 * 1024
# A compacted recording: its item updated, its byPendingCompaction entry removed (a
# write each, the item under 1 KB: api/chalicelib/recordings.py), one read of the item.
COMPACTION_WRITE_UNITS = 2
# Kinesis on-demand starts with capacity of four shards (4 MB/s in).
ON_DEMAND_SHARDS = 4
# A provisioned shard takes 1 MB/s in and gives 2 MB/s out, shared by every reader (the
# consumer and Firehose each read everything). Assumption: the busiest hour carries twice
# the month's average, and a shard is kept under 80% of either limit. A stack configured
# with fewer shards than its traffic needs is priced with the shards it needs:
# docs/scaling.md says when to raise `kinesisShards`.
PEAK_FACTOR = 2.0
SHARD_HEADROOM = 0.8
# Three read everything: the two consumers' event source mappings (each reads the whole
# shard and filters what it hands over) and Firehose.
STREAM_READERS = 3
# Lambda invokes a consumer with at most 6 MB of event: a record's data in base64 plus
# its envelope (local/event_source.py models the same), so a long window at volume
# closes early; each of a shard's concurrent batches (parallelization) fills its own.
LAMBDA_PAYLOAD_BYTES = 6 * 1024 * 1024
RECORD_ENVELOPE_BYTES = 600
# The other shape keeps its shared objects until a lifecycle rule expires them: S3
# expires by whole days, and a recording must be compacted (30 minutes idle, plus
# retries) before its byte ranges may go.
SHARED_OBJECT_DAYS = 2
# Assumption: replays a month of recordings already in Glacier Instant Retrieval (older
# than `glacierAfterDays`). The workload replays each recording once, in its first days;
# `storage_table` prices other patterns, up to every archived recording once a month.
ARCHIVED_REPLAYS_PER_MONTH = 0.0


@dataclass(frozen=True)
class PerMinute:
    """What one recorded minute weighs: requests, records and bytes at each stage."""

    posts: float
    records: float
    raw_bytes: float
    record_bytes: float
    # What Firehose bills: each record rounded up to 5 KB.
    firehose_billed_bytes: float
    # The consumer's chunk objects (and the archive, which holds the same record lines).
    chunk_bytes: float
    # The compacted object: the events as JSON lines, gzip -6.
    compacted_bytes: float
    put_units: float


@functools.cache
def per_minute(flush_seconds: int = FLUSH_SECONDS) -> PerMinute:
    """Volumes per recorded minute, measured on the benchmark workload with the API's own code."""
    posted = workload.recording(pages=5, incremental=2000, batch_events=20)
    events = workload.all_events(posted)
    minutes = (events[-1]["timestamp"] - events[0]["timestamp"]) / 60_000
    # Batches regrouped at the recorder's flush, gzip as the browser sends them.
    by_flush: dict[int, list] = {}
    for event in events:
        by_flush.setdefault(int(event["timestamp"] // (flush_seconds * 1000)), []).append(event)
    records = 0
    record_bytes = billed = chunks = units = 0
    for seq, batch in enumerate(by_flush.values()):
        body = gzip.compress(json.dumps({"seq": seq, "events": batch}, separators=(",", ":")).encode(), 6)
        prepared = prepare_batch(owner="o" * 36, recording_id="r" * 22, body=body, content_encoding="gzip")
        records += len(prepared.records)
        record_bytes += sum(len(record) for record in prepared.records)
        billed += sum(math.ceil(len(record) / 5120) * 5120 for record in prepared.records)
        units += sum(math.ceil(len(record) / 25_600) for record in prepared.records)
        chunks += len(gzip.compress(b"".join(record + b"\n" for record in prepared.records), 6))
    compacted = len(gzip.compress(workload.plain_json_lines(events), 6))
    return PerMinute(
        posts=len(by_flush) / minutes,
        records=records / minutes,
        raw_bytes=len(workload.plain_json_lines(events)) / minutes,
        record_bytes=record_bytes / minutes,
        firehose_billed_bytes=billed / minutes,
        chunk_bytes=chunks / minutes,
        compacted_bytes=compacted / minutes,
        put_units=units / minutes,
    )


def stack_settings(stack: str) -> StackSettings:
    """Pulumi.<stack>.yaml over the program's defaults, read as the program reads it."""
    return StackSettings.from_stack_file(ROOT, stack)


@dataclass(frozen=True)
class Traffic:
    """A month of recorded minutes as requests, invocations and objects."""

    minutes: int
    posts: float
    recordings: float
    # Consumer invocations: each concurrent batch of each shard invokes at most once per
    # window (Lambda polls a shard once a second, so never more than once a second).
    invocations: float
    # Consumer objects: one per recording per invocation.
    chunk_puts: float


def traffic(minutes: int, settings: StackSettings, volume: PerMinute) -> Traffic:
    """Requests and invocations for ``minutes`` recorded minutes, traffic spread evenly over the month.

    Every batch is priced as unwatched (its consumer's window, ``unwatched_window``): few
    recordings are watched as they happen. Evenly spread traffic is the most invocations
    it can cause; daily peaks fill batches fuller, so fewer. The window is capped by
    Lambda's 6 MB event at the busiest hour's rate, so at volume it is priced shorter
    than configured where the stack's concurrent batches would fill before it ends.
    """
    recordings = minutes / RECORDING_MINUTES
    posts = minutes * volume.posts + recordings * EARLY_POSTS_PER_RECORDING
    shards = ON_DEMAND_SHARDS if settings.kinesis_mode == "on-demand" else shards_needed(minutes, settings, volume)
    slots = shards * settings.consumer_unwatched_parallelization
    window = unwatched_window(minutes, settings, volume)
    # Per slot and window, the chance that at least one record arrived (Poisson): a
    # quiet stack invokes once per batch, a busy one once per window per slot.
    rate = posts * (volume.records / volume.posts) / SECONDS_PER_MONTH / slots
    invocations = slots * SECONDS_PER_MONTH / window * -math.expm1(-rate * window)
    # A window shorter than the flush sees one batch of a recording at most; a longer
    # one gathers window / flush batches of it into one object.
    chunk_puts = posts / max(1.0, window / FLUSH_SECONDS)
    return Traffic(
        minutes=minutes,
        posts=posts,
        recordings=recordings,
        invocations=min(invocations, chunk_puts),
        chunk_puts=chunk_puts,
    )


def unwatched_window(minutes: int, settings: StackSettings, volume: PerMinute) -> float:
    """The unwatched consumer's window in seconds as it works at ``minutes`` a month: the stack's, or
    shorter where a concurrent batch reaches Lambda's 6 MB event first in the busiest hour."""
    shards = ON_DEMAND_SHARDS if settings.kinesis_mode == "on-demand" else shards_needed(minutes, settings, volume)
    slots = shards * settings.consumer_unwatched_parallelization
    event_bytes = volume.record_bytes * 4 / 3 + RECORD_ENVELOPE_BYTES * volume.records
    peak_per_slot = minutes * event_bytes / SECONDS_PER_MONTH * PEAK_FACTOR / slots
    window = max(settings.consumer_unwatched_window_seconds, 1)
    return min(window, LAMBDA_PAYLOAD_BYTES / peak_per_slot) if peak_per_slot else window


def shards_needed(minutes: int, settings: StackSettings, volume: PerMinute) -> int:
    """Provisioned shards for ``minutes`` a month: the stack's, or more where its busiest hour needs them."""
    peak_mb = minutes * volume.record_bytes / SECONDS_PER_MONTH / 1e6 * PEAK_FACTOR
    needed = max(peak_mb / 1.0, peak_mb * STREAM_READERS / 2.0) / SHARD_HEADROOM
    return max(settings.kinesis_shards, math.ceil(needed))


@dataclass(frozen=True)
class Units:
    """DynamoDB units per request, as ``bench.scale`` counted them through the real handlers.

    Write units include the index writes they cause; read units are what DynamoDB bills
    (1 per 4 KB read consistently, half that eventually). A route's figures include its
    share of what an instance does now and then (reading the ingest key, leasing a slice
    of a rate budget: ``api/chalicelib/limits.py``).
    """

    create_wru: float
    create_rru: float
    events_wru: float
    events_rru: float
    # The stream consumer, per chunk object (its recording's item read and updated)...
    chunk_wru: float
    chunk_rru: float
    # ...and once per recording: its first count puts it in the byPendingCompaction index.
    index_wru_per_recording: float
    # The reaper, per invocation (one per screenshot: its GetItem, and the UpdateItem noting it).
    reaper_rru: float
    reaper_wru: float

    @classmethod
    def of(cls, per_request: dict[str, dict[str, float]]) -> Units:
        """From ``bench.scale``'s ``per_request`` section."""
        create, events = per_request["create"], per_request["events"]
        chunk, reaper = per_request["consumer_chunk_object"], per_request["reaper_invocation"]
        return cls(
            create_wru=create["wcu"] + create["index_wcu"],
            create_rru=create["rcu"],
            events_wru=events["wcu"] + events["index_wcu"],
            events_rru=events["rcu"],
            chunk_wru=chunk["wcu"] + chunk["index_wcu"],
            chunk_rru=chunk["rcu"],
            index_wru_per_recording=chunk["index_wcu_once_per_recording"],
            reaper_rru=reaper["rcu"],
            reaper_wru=reaper["wcu"] + reaper["index_wcu"],
        )


def _measured(section: str, *path: str) -> float:
    """A figure a benchmark measured: bench/results.json's ``section`` and ``path`` within it."""
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    value: Any = results.get(section, {})
    for key in path:
        value = value.get(key, {}) if isinstance(value, dict) else {}
    if not isinstance(value, int | float):
        raise RuntimeError(f"{RESULTS} has no {'.'.join((section, *path))}: run `python -m bench.{section}`")
    return float(value)


@functools.cache
def asset_questions_per_page_view() -> float:
    """Questions per page view, as ``bench.assets`` measured them (bench/results.json, its ``assets`` section)."""
    return _measured("assets", "with_assets", "questions_per_page_view")


@functools.cache
def post_cpu_seconds() -> float:
    """CPU seconds of one POST, as ``bench.ingest`` measured them (bench/results.json, its ``ingest`` section)."""
    return _measured("ingest", "in_process", "cpu_per_post_s")


def ingest_memory_mb(settings: StackSettings) -> int:
    """The ingest function's memory, as the program gives it (infra/api.py)."""
    return settings.ingest_memory_mb or settings.lambda_memory_mb


def post_seconds(settings: StackSettings) -> float:
    """How long the ingest function takes for one POST at its memory: the AWS waits plus the CPU, stretched below one
    vCPU."""
    return INGEST_AWS_WAIT_SECONDS + post_cpu_seconds() * max(1.0, ONE_VCPU_MB / ingest_memory_mb(settings))


@functools.cache
def units() -> Units:
    """The measured units, from bench/results.json (``python -m bench.scale`` counted them)."""
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    per_request = results.get("scale", {}).get("per_request")
    if not per_request:
        raise RuntimeError(f"{RESULTS} has no scale.per_request section: run `python -m bench` (or bench.scale)")
    return Units.of(per_request)


def active_refresh_writes() -> float:
    """Index writes per recording from ``activeAt`` moving (every ACTIVE_REFRESH_SECONDS; a delete and a put)."""
    refreshes = (RECORDING_MINUTES * 60 - 1) // api_settings.ACTIVE_REFRESH_SECONDS
    return 2.0 * refreshes


def apigw_dollars(requests: float) -> float:
    """REST API requests a month, priced tier by tier."""
    dollars, below = 0.0, 0.0
    for size, price in APIGW_TIERS:
        taken = min(max(requests - below, 0.0), size)
        dollars += taken / 1e6 * price
        below += size
    return dollars


def _lambda(invocations: float, seconds: float, memory_mb: int, architecture: str) -> float:
    return invocations / 1e6 * PRICE["lambda_per_million"] + invocations * seconds * memory_mb / 1024 * _gb_second(
        architecture
    )


def _gb_second(architecture: str) -> float:
    return PRICE[f"lambda_gb_second_{architecture}"]


def _gb(value: float) -> float:
    return value / 1024**3


def monthly(minutes: int, settings: StackSettings, volume: PerMinute) -> dict[str, float]:
    """Dollars per month by line item for ``minutes`` recorded minutes."""
    t = traffic(minutes, settings, volume)
    memory, arch = settings.lambda_memory_mb, settings.lambda_architecture
    put, get = PRICE["s3_put_per_thousand"] / 1000, PRICE["s3_get_per_thousand"] / 1000
    json_mb_per_recording = volume.raw_bytes * RECORDING_MINUTES / 1e6
    # Each recording is replayed once, after compaction: GET /recordings/{id} and GET
    # /blocks (a GET of the index, by the key the item names: no LIST, and the answer says
    # `complete`, so no GET /events after it), then a ranged GET per 1 MiB block.
    replay_requests = 2 * t.recordings
    block_gets = t.recordings * (1 + math.ceil(json_mb_per_recording * 1e6 / api_settings.COMPACTED_BLOCK_BYTES))

    objects_per_invocation = t.chunk_puts / t.invocations if t.invocations else 0
    consumer_seconds = CONSUMER_BASE_SECONDS + CONSUMER_OBJECT_SECONDS * max(
        1.0, objects_per_invocation / CONSUMER_WORKERS
    )
    # S3 notifies the reaper of screenshots only (one per recording); the stack's own
    # writers delete what they wrote for a recording deleted meanwhile (chunks: a DELETE
    # only for such a recording, free on S3).
    reaper = t.recordings
    compactor_runs = SECONDS_PER_MONTH / (settings.compact_every_minutes * 60)
    compact_seconds = t.recordings * (COMPACT_BASE_SECONDS + COMPACT_SECONDS_PER_MB * json_mb_per_recording)
    chunks_per_recording = t.chunk_puts / t.recordings

    record_gb = _gb(minutes * volume.record_bytes)
    if settings.kinesis_mode == "on-demand":
        kinesis = HOURS_PER_MONTH * PRICE["kinesis_ondemand_stream_hour"] + record_gb * (
            PRICE["kinesis_ondemand_gb_in"] + 2 * PRICE["kinesis_ondemand_gb_out"]
        )
    else:
        kinesis = (
            shards_needed(minutes, settings, volume) * HOURS_PER_MONTH * PRICE["kinesis_shard_hour"]
            + minutes * volume.put_units / 1e6 * PRICE["kinesis_put_units_per_million"]
        )
    # Firehose writes an object per buffer interval, or per 128 MB, whichever comes first.
    archive_objects = max(
        SECONDS_PER_MONTH / max(settings.archive_buffer_seconds, 60),
        minutes * volume.chunk_bytes / (settings.archive_buffer_mb * 1e6),
    )
    # Steady state: S3 holds `retention_days` worth of a month's recordings (compacted:
    # chunks live only until their recording is idle) and `archive_retention_days` of
    # the archive.
    held_gb = _gb(t.recordings * SCREENSHOT_BYTES) * settings.retention_days / 30
    held_gb += _gb(minutes * volume.chunk_bytes) * settings.archive_retention_days / 30
    compacted = compacted_storage(minutes, settings, volume)

    # DynamoDB, as bench.scale counted it (Units): a recording's first POST creates it,
    # the others are events POSTs; the consumer per object, and once per recording for
    # its pending-compaction index entry (plus activeAt's refreshes); the reaper per
    # object. Compaction reads and writes each recording (COMPACTION_WRITE_UNITS) and each
    # run queries every shard of the pending index.
    u = units()
    events_posts = max(t.posts - t.recordings, 0.0)
    wru = (
        t.recordings * u.create_wru
        + events_posts * u.events_wru
        + t.chunk_puts * u.chunk_wru
        + t.recordings * (u.index_wru_per_recording + active_refresh_writes())
        + t.recordings * COMPACTION_WRITE_UNITS
        + reaper * u.reaper_wru
    )
    rru = (
        t.recordings * u.create_rru
        + events_posts * u.events_rru
        + t.chunk_puts * u.chunk_rru
        + reaper * u.reaper_rru
        + t.recordings
        + compactor_runs * api_settings.COMPACTION_SHARDS * 0.5
        # The retention expiry's hourly Query of workspaces with their own retention.
        + EXPIRY_RUNS_PER_MONTH * 0.5
    )
    # The ingest door logs a request only when it refuses, fails or is slow
    # (observability.successes_unlogged): its batches' 202s write nothing.
    logs = (
        replay_requests * LOG_BYTES["api"]
        + t.invocations * LOG_BYTES["consumer"]
        + reaper * LOG_BYTES["reaper"]
        + (compactor_runs + t.recordings) * LOG_BYTES["compactor"]
    )
    questions = minutes * PAGE_VIEWS_PER_MINUTE * asset_questions_per_page_view()
    return {
        # The recorder's POSTs go through the ingest function's URL, which bills no
        # request (chalicelib/function_url.py); only the site's requests reach the REST API.
        "API Gateway": apigw_dollars(replay_requests),
        "Lambda: ingest": _lambda(t.posts, post_seconds(settings), ingest_memory_mb(settings), arch),
        "Lambda: site API": _lambda(replay_requests, HANDLER_SECONDS, memory, arch),
        "Lambda: stream consumer": _lambda(t.invocations, consumer_seconds, memory, arch),
        "Lambda: orphan reaper": _lambda(reaper, REAPER_SECONDS, memory, arch),
        "Lambda: compactor": _lambda(compactor_runs, 0.2, COMPACTOR_MEMORY_MB, arch)
        + compact_seconds * COMPACTOR_MEMORY_MB / 1024 * _gb_second(arch),
        # Hourly; a workspace's shorter retention deletes what the stack would keep longer
        # (less storage): priced here as runs with nothing to delete.
        "Lambda: retention expiry": _lambda(EXPIRY_RUNS_PER_MONTH, 0.2, memory, arch),
        "Kinesis": kinesis,
        "Firehose (archive)": _gb(minutes * volume.firehose_billed_bytes) * PRICE["firehose_gb"],
        "S3 storage": held_gb * PRICE["s3_gb_month"] + compacted["storage"],
        "S3 Glacier IR: transitions and retrievals": compacted["transitions"] + compacted["retrievals"],
        "S3 PUTs: consumer chunks": t.chunk_puts * put,
        # LIST, PUT of the data and of the index, then the chunk GETs and the verify GET.
        # The folded chunks go with one DeleteObject each, which S3 does not bill
        # (DeleteObjects, a POST, would be billed like a PUT: recording_objects.py).
        "S3 requests: compaction": t.recordings * (3 * put + (chunks_per_recording + 1) * get),
        # Archive objects, screenshot uploads, replays (the index and the blocks).
        "S3 requests: archive, screenshots, replay": (archive_objects + t.recordings) * put + block_gets * get,
        # Which of a page's assets the owner holds: a HeadObject each (GET-class).
        "S3 requests: asset lookups": questions * ASSETS_PER_QUESTION * get,
        "DynamoDB": wru / 1e6 * PRICE["dynamodb_wru_per_million"] + rru / 1e6 * PRICE["dynamodb_rru_per_million"],
        "CloudWatch Logs": _gb(logs) * PRICE["logs_gb"],
    }


def compacted_storage(
    minutes: int, settings: StackSettings, volume: PerMinute, replays_per_month: float = ARCHIVED_REPLAYS_PER_MONTH
) -> dict[str, float]:
    """A month of compacted recordings held for their retention, per month in steady state.

    In S3 Standard for ``glacierAfterDays`` (all of the retention when 0), then in Glacier
    Instant Retrieval: its storage, one transition request per recording, and for each
    replay of an archived recording (``replays_per_month`` replays a month) the
    retrieval of its bytes and the GETs of its blocks.
    """
    written_gb = _gb(minutes * volume.compacted_bytes)
    recordings = minutes / RECORDING_MINUTES
    after = settings.glacier_after_days or settings.retention_days
    archived_gb = written_gb * (settings.retention_days - after) / 30
    archived = recordings * (settings.retention_days - after) / 30
    return {
        "storage": written_gb * after / 30 * PRICE["s3_gb_month"] + archived_gb * PRICE["s3_gir_gb_month"],
        "transitions": recordings * PRICE["s3_gir_transition_per_thousand"] / 1000 if archived else 0.0,
        "retrievals": min(replays_per_month, archived) * _replay_cost(volume) if archived else 0.0,
    }


def storage_table(stack: str = "prod") -> str:
    """Compacted recordings in Standard against Glacier IR, by how many archived ones are replayed (10M minutes)."""
    settings = stack_settings(stack)
    after = settings.glacier_after_days or 30
    glacier = dataclasses.replace(settings, glacier_after_days=after)
    standard = dataclasses.replace(settings, glacier_after_days=0)
    volume = per_minute()
    minutes = MINUTES[-1]
    kept = compacted_storage(minutes, standard, volume)["storage"]
    archived = minutes / RECORDING_MINUTES * (settings.retention_days - after) / 30
    saved = _gb(volume.compacted_bytes * RECORDING_MINUTES) * (PRICE["s3_gb_month"] - PRICE["s3_gir_gb_month"])
    moved = compacted_storage(minutes, glacier, volume)
    # The replays a month at which retrievals eat what Glacier IR saves.
    even = (kept - moved["storage"] - moved["transitions"]) / _replay_cost(volume)
    lines = [
        f"| archived recordings replayed a month | Standard | Glacier IR after {after} days | difference |",
        "|---|---:|---:|---:|",
    ]
    for replays, name in (
        (0.0, "none"),
        (1_000.0, "1,000"),
        (100_000.0, "100,000"),
        (even, f"{even / 1e6:.1f} million (break-even)"),
        (archived, f"each of the {archived / 1e6:.0f} million once"),
    ):
        total = sum(compacted_storage(minutes, glacier, volume, replays).values())
        lines.append(f"| {name} | ${kept:,.2f} | ${total:,.2f} | ${total - kept:+,.2f} |")
    return "\n".join(lines) + (
        f"\n\nCompacted recordings of {minutes:,} minutes a month, kept {settings.retention_days} days. A month in"
        f" Glacier IR saves ${saved * 1e6:,.2f} per million recordings over Standard; a replay of one there costs"
        f" ${_replay_cost(volume) * 1e6:,.2f} per million ($0.03/GB retrieved, $0.01 per 1,000 GETs of its"
        f" {_blocks(volume)} blocks); moving one costs $0.02 per 1,000. So one archived recording replayed once a"
        " month costs more there than in Standard, and the stack still saves until about"
        f" {even / 1e6:.1f} million archived replays a month."
    )


def _replay_cost(volume: PerMinute) -> float:
    """Retrieval and GETs of one replay of a recording in Glacier IR."""
    retrieved = _gb(volume.compacted_bytes * RECORDING_MINUTES) * PRICE["s3_gir_retrieval_gb"]
    return retrieved + _blocks(volume) * PRICE["s3_gir_get_per_thousand"] / 1000


def _blocks(volume: PerMinute) -> int:
    """GETs of one replay: the index, then a ranged GET per block of the recording's events."""
    return 1 + math.ceil(volume.raw_bytes * RECORDING_MINUTES / api_settings.COMPACTED_BLOCK_BYTES)


def shapes(minutes: int, settings: StackSettings, volume: PerMinute) -> dict[str, dict[str, float]]:
    """The lines that differ between the two layouts of the consumer's output, per month.

    - **per recording** (this stack): one object per recording per invocation, under
      the recording's prefix (the consumer deletes one written for a recording deleted
      meanwhile: no reaper per object).
    - **shared** (PostHog's shape): one object per invocation holding every recording
      in it, and an index item per recording per invocation (DynamoDB: key, object,
      byte range) that the reader queries; the objects expire by lifecycle, so no
      reaper, but they stay in S3 for ``SHARED_OBJECT_DAYS``.

    Everything else (ingest, compaction, the archive, replay of compacted recordings)
    is the same in both and left out.
    """
    t = traffic(minutes, settings, volume)
    put = PRICE["s3_put_per_thousand"] / 1000
    return {
        "per recording": {
            "S3 PUTs": t.chunk_puts * put,
        },
        "shared": {
            "S3 PUTs": t.invocations * put,
            "index writes (1 WRU each)": t.chunk_puts * PRICE["dynamodb_wru_per_million"] / 1e6,
            "shared objects kept": _gb(minutes * volume.chunk_bytes) * SHARED_OBJECT_DAYS / 30 * PRICE["s3_gb_month"],
        },
    }


def table(stack: str = "prod") -> str:
    """docs/cost.md's cost table for a stack."""
    settings = stack_settings(stack)
    volume = per_minute()
    costs = {minutes: monthly(minutes, settings, volume) for minutes in MINUTES}
    header = "| line | " + " | ".join(f"{m:,} min/month" for m in MINUTES) + " |"
    lines = [header, "|---|" + "---:|" * len(MINUTES)]
    for service in costs[MINUTES[0]]:
        lines.append(f"| {service} | " + " | ".join(f"${costs[m][service]:,.2f}" for m in MINUTES) + " |")
    lines.append("| **total** | " + " | ".join(f"**${sum(costs[m].values()):,.2f}**" for m in MINUTES) + " |")
    lines.append("| per recorded minute | " + " | ".join(f"${sum(costs[m].values()) / m:.5f}" for m in MINUTES) + " |")
    lines.append(
        f"| per 1,000 {RECORDING_MINUTES}-minute sessions | "
        + " | ".join(f"${sum(costs[m].values()) / (m / RECORDING_MINUTES) * 1000:,.3f}" for m in MINUTES)
        + " |"
    )
    busiest = traffic(MINUTES[-1], settings, volume)
    assumptions = (
        f"Stack `{stack}`: Kinesis {settings.kinesis_mode} ({settings.kinesis_shards} shards configured; priced with "
        + ", ".join(f"{shards_needed(m, settings, volume)} at {m:,}" for m in MINUTES)
        + " minutes, the busiest hour at twice the average within 80% of a shard's limits), consumer windows "
        f"{settings.consumer_batching_window_seconds} s x parallelization {settings.consumer_parallelization} "
        f"(watched) and {settings.consumer_unwatched_window_seconds} s x "
        f"{settings.consumer_unwatched_parallelization} (unwatched), archive buffer "
        f"{settings.archive_buffer_seconds} s, Lambda {settings.lambda_memory_mb} MB on "
        f"{settings.lambda_architecture} (the ingest function {ingest_memory_mb(settings)} MB: a POST"
        f" {post_seconds(settings) * 1000:.0f} ms, {INGEST_AWS_WAIT_SECONDS * 1000:.0f} ms of it waiting on AWS and"
        f" {post_cpu_seconds() * 1000:.1f} ms of CPU at one vCPU), retention "
        f"{settings.retention_days} days (archive {settings.archive_retention_days}). Per recorded minute: "
        f"{volume.posts:.0f} POSTs (a {FLUSH_SECONDS} s flush), {volume.raw_bytes / 1024:.0f} KiB of rrweb JSON, "
        f"{volume.chunk_bytes / 1024:.0f} KiB in chunks, {volume.compacted_bytes / 1024:.0f} KiB once compacted. "
        f"Recordings of {RECORDING_MINUTES} minutes, each compacted once and replayed once, each adding "
        f"{EARLY_POSTS_PER_RECORDING:.1f} POSTs for its first batch sent after {FIRST_FLUSH_SECONDS} s. At "
        f"{MINUTES[-1]:,} minutes the consumer runs {busiest.invocations / 1e6:.1f} million times for "
        f"{busiest.chunk_puts / 1e6:.0f} million objects. Prices: {PRICES_AS_OF}."
    )
    u = units()
    measured = (
        f"DynamoDB units per request, as `python -m bench.scale` counted them through the handlers: an events POST "
        f"{u.events_wru:.2f} write units (rate budgets, leased in 1% slices: a POST writes nothing else) and"
        f" {u.events_rru:.2f} read units (one consistent GetItem of the recording); a create"
        f" {u.create_wru:.2f} write units (the recording and its byOwner entry); per chunk object"
        f" {u.chunk_wru:.2f} write and {u.chunk_rru:.2f} read units, plus {u.index_wru_per_recording:.2f} index"
        f" write per recording; {u.reaper_rru:.2f} read and"
        f" {u.reaper_wru:.2f} write unit per reaper call (one per screenshot)."
    )
    cap = throttle_cap(settings)
    door = door_cap(settings)
    throttle = (
        f"What the throttles cap: at `throttleRateLimit` {settings.throttle_rate_limit:,.0f} requests/s"
        f" sustained for a month, the REST API (the site's routes) could take at most"
        f" {cap['requests'] / 1e6:,.0f} million requests, billing at most ${cap['api_gateway']:,.2f} of API Gateway"
        f" + ${cap['lambda_api']:,.2f} of Lambda: API (${cap['api_gateway'] + cap['lambda_api']:,.2f}). The"
        f" recorder's door (a function URL) has no request charge; `ingestConcurrency`"
        f" {settings.ingest_concurrency} requests at once of {post_seconds(settings) * 1000:.0f} ms is at most"
        f" {door['requests'] / 1e6:,.0f} million requests a month, ${door['lambda_api']:,.2f} of Lambda. The"
        " rest of the bill follows the batches accepted."
        if settings.ingest_concurrency
        else f"What the stage throttle caps: at `throttleRateLimit` {settings.throttle_rate_limit:,.0f} requests/s"
        f" sustained for a month, the REST API (the site's routes) could take at most"
        f" {cap['requests'] / 1e6:,.0f} million requests, billing at most ${cap['api_gateway']:,.2f} of API Gateway"
        f" + ${cap['lambda_api']:,.2f} of Lambda: API. The recorder's door reserves no concurrency"
        " (`ingestConcurrency: 0`): the account's Lambda concurrency is its only bound."
    )
    return "\n".join(lines) + "\n\n" + assumptions + "\n\n" + measured + "\n\n" + throttle


def throttle_cap(settings: StackSettings) -> dict[str, float]:
    """The most the stage throttle lets the API bill in a month: requests, API Gateway and Lambda: API dollars."""
    requests = settings.throttle_rate_limit * SECONDS_PER_MONTH
    return {
        "requests": requests,
        "api_gateway": apigw_dollars(requests),
        "lambda_api": _lambda(requests, HANDLER_SECONDS, settings.lambda_memory_mb, settings.lambda_architecture),
    }


# Hosted session replay, per recording, as published (2025; verify on each vendor's
# pricing page). PostHog's tiers: the first 5,000 recordings a month free, then a price
# per recording falling with volume. Sentry's and Highlight's are their rates per 1,000
# at high volume (Highlight's past a million a month); below that volume they only cost
# more per recording, so at a smaller volume they are a floor.
POSTHOG_TIERS = (
    (5_000, 0.0),
    (10_000, 0.005),
    (35_000, 0.0035),
    (100_000, 0.002),
    (350_000, 0.0017),
    (math.inf, 0.0015),
)
HIGH_VOLUME_PER_THOUSAND = {"Sentry": 1.96, "Highlight": 0.25}
COMPARED_MINUTES = (100_000, 10_000_000)


def posthog_dollars(recordings: float) -> float:
    """PostHog's session replay bill for ``recordings`` a month, tier by tier."""
    dollars, below = 0.0, 0.0
    for size, price in POSTHOG_TIERS:
        taken = min(max(recordings - below, 0.0), size)
        dollars += taken * price
        below += size
    return dollars


def comparison_table(stack: str = "prod") -> str:
    """README's comparison: this stack's bill per 1,000 five-minute sessions beside hosted replay's prices."""
    settings = stack_settings(stack)
    volume = per_minute()
    header = "| per 1,000 five-minute sessions | " + " | ".join(
        f"{m:,} min/month ({m // RECORDING_MINUTES:,} sessions)" for m in COMPARED_MINUTES
    )
    lines = [header + " |", "|---|" + "---:|" * len(COMPARED_MINUTES)]
    ours = [sum(monthly(m, settings, volume).values()) / (m / RECORDING_MINUTES) * 1000 for m in COMPARED_MINUTES]
    lines.append(
        f"| rrweb-s3-storage, `{stack}` stack (`python -m bench.cost`) | "
        + " | ".join(f"**${v:,.3f}**" for v in ours)
        + " |"
    )
    posthog = [posthog_dollars(m / RECORDING_MINUTES) / (m / RECORDING_MINUTES) * 1000 for m in COMPARED_MINUTES]
    lines.append(
        "| PostHog (tiered list price, first 5,000 free) | " + " | ".join(f"${v:,.2f}" for v in posthog) + " |"
    )
    for vendor, rate in HIGH_VOLUME_PER_THOUSAND.items():
        lines.append(
            f"| {vendor} (its high-volume rate; more below it) | "
            + " | ".join(f"at least ${rate:,.2f}" for _ in COMPARED_MINUTES)
            + " |"
        )
    return "\n".join(lines)


def door_cap(settings: StackSettings) -> dict[str, float]:
    """The most the ingest door's reserved concurrency lets it bill in a month: requests and Lambda dollars."""
    seconds = post_seconds(settings)
    requests = settings.ingest_concurrency / seconds * SECONDS_PER_MONTH
    return {
        "requests": requests,
        "lambda_api": _lambda(requests, seconds, ingest_memory_mb(settings), settings.lambda_architecture),
    }


def shape_table(stack: str = "prod") -> str:
    """The storage-shape comparison docs/cost.md and docs/architecture.md quote."""
    settings = stack_settings(stack)
    volume = per_minute()
    lines = [
        "| shape | " + " | ".join(f"{m:,} min/month" for m in MINUTES) + " |",
        "|---|" + "---:|" * len(MINUTES),
    ]
    rows: dict[str, list[float]] = {}
    for minutes in MINUTES:
        compared = shapes(minutes, settings, volume)
        total = sum(monthly(minutes, settings, volume).values())
        ours, theirs = sum(compared["per recording"].values()), sum(compared["shared"].values())
        rows.setdefault("one object per recording per invocation (this stack)", []).append(ours)
        rows.setdefault("one shared object per invocation + an index (PostHog's)", []).append(theirs)
        rows.setdefault("difference", []).append(ours - theirs)
        rows.setdefault("difference, share of the stack's total", []).append((ours - theirs) / total * 100)
    for name, values in rows.items():
        cells = [f"{v:.1f}%" if name.endswith("total") else f"${v:,.2f}" for v in values]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


# The unwatched consumer's windows and parallelizations the window table compares.
WINDOW_OPTIONS = ((1, 1), (30, 10), (60, 2), (60, 10), (90, 10), (120, 10), (300, 10))


def window_table(stack: str = "prod") -> str:
    """The lever that keeps the shape: what the unwatched consumer's window costs and saves.

    A window longer than the flush gathers several batches of a recording into one
    object; Lambda's 6 MB event closes it early at volume unless enough concurrent
    batches per shard share the stream (``unwatched_window``).
    """
    settings = stack_settings(stack)
    volume = per_minute()
    busiest = MINUTES[-1]
    lines = [
        f"| unwatched window x parallelization | window at {busiest:,} min | objects a month "
        f"| total at {busiest:,} min | per 1,000 sessions |",
        "|---|---:|---:|---:|---:|",
    ]
    for window, parallel in WINDOW_OPTIONS:
        option = dataclasses.replace(
            settings, consumer_unwatched_window_seconds=window, consumer_unwatched_parallelization=parallel
        )
        total = sum(monthly(busiest, option, volume).values())
        mark = (
            " (this stack)"
            if (window, parallel)
            == (settings.consumer_unwatched_window_seconds, settings.consumer_unwatched_parallelization)
            else ""
        )
        lines.append(
            f"| {window} s x {parallel}{mark} | {unwatched_window(busiest, option, volume):.0f} s "
            f"| {traffic(busiest, option, volume).chunk_puts / 1e6:.1f} million | ${total:,.2f} "
            f"| ${total / (busiest / RECORDING_MINUTES) * 1000:.3f} |"
        )
    return "\n".join(lines)


# The ingest function's memory options docs/cost.md prices (``memory_table``).
INGEST_MEMORY_OPTIONS = (1024, 512, 256)


def memory_table(stack: str = "prod") -> str:
    """What a POST takes and bills at each ingest memory option (docs/cost.md, "The ingest function's memory")."""
    settings = stack_settings(stack)
    wait, cpu = INGEST_AWS_WAIT_SECONDS * 1000, post_cpu_seconds() * 1000
    lines = ["| ingest function memory | a POST | GB-seconds per million POSTs |", "|---:|---:|---:|"]
    for memory in INGEST_MEMORY_OPTIONS:
        option = dataclasses.replace(settings, ingest_memory_mb=memory)
        seconds = post_seconds(option)
        name = f"{memory:,} MB" + (" (this stack's `ingestMemoryMb`)" if memory == ingest_memory_mb(settings) else "")
        lines.append(
            f"| {name} | {wait:.0f} + {cpu:.1f} x {max(1.0, ONE_VCPU_MB / memory):.2f} = {seconds * 1000:.0f} ms "
            f"| {seconds * memory / 1024 * 1e6:,.0f} |"
        )
    return "\n".join(lines)


# The command line's option for each control.
CONTROL_OPTIONS = {
    "--sample-rate": "sample_rate",
    "--url-share": "url_share",
    "--long-enough": "long_enough",
    "--on-error": "on_error",
}


@dataclass(frozen=True)
class Controls:
    """The recorder's controls (docs/recorder.md) as the shares of visited minutes each keeps.

    Every control is decided in the browser, so a minute it leaves out costs nothing at all:
    the minutes recorded are the visited minutes times each share.
    """

    # sampleRate: the share of sessions recorded.
    sample_rate: float = 1.0
    # urlAllow/urlDeny: the share of visited minutes on pages the rules record.
    url_share: float = 1.0
    # minimumDurationMs: the share of visited minutes in sessions at least that long.
    long_enough: float = 1.0
    # On-error mode: the share of visited minutes kept, the buffer before an error included.
    on_error: float = 1.0

    def __post_init__(self) -> None:
        for name, value in dataclasses.asdict(self).items():
            if not 0 < value <= 1:
                raise ValueError(f"{name}: a share of the recorded minutes is more than 0 and at most 1, not {value}")

    @property
    def share(self) -> float:
        """The share of visited minutes recorded."""
        return self.sample_rate * self.url_share * self.long_enough * self.on_error

    @classmethod
    def parse(cls, arguments: list[str]) -> tuple[Controls | None, list[str]]:
        """The controls named on the command line (``--sample-rate=0.5`` ...), and the other arguments."""
        given: dict[str, float] = {}
        rest = []
        for argument in arguments:
            flag, _, value = argument.partition("=")
            if flag in CONTROL_OPTIONS and value:
                given[CONTROL_OPTIONS[flag]] = float(value)
            else:
                rest.append(argument)
        return (cls(**given) if given else None), rest


def controls_line(stack: str, controls: Controls) -> str:
    """What the recording controls save: the bill per 1,000 visits when only part of their minutes is recorded."""
    settings = stack_settings(stack)
    volume = per_minute()
    cells = []
    for minutes in MINUTES:
        total = sum(monthly(max(1, round(minutes * controls.share)), settings, volume).values())
        cells.append(f"${total / (minutes / RECORDING_MINUTES) * 1000:,.2f}")
    named = ", ".join(
        f"{flag.removeprefix('--')} {getattr(controls, field):g}" for flag, field in CONTROL_OPTIONS.items()
    )
    return (
        f"With the recording controls at {named} ({controls.share:.0%} of the visits' minutes recorded), per "
        f"1,000 {RECORDING_MINUTES}-minute visits at {', '.join(f'{m:,}' for m in MINUTES)} visited minutes a month: "
        + ", ".join(cells)
        + "."
    )


if __name__ == "__main__":
    chosen, arguments = Controls.parse(sys.argv[1:])
    name = arguments[0] if arguments else "prod"
    print(table(name))
    print()
    print(shape_table(name))
    print()
    print(storage_table(name))
    print()
    print(comparison_table(name))
    if chosen is not None:
        print()
        print(controls_line(name, chosen))
