"""``python -m bench.scale``: N concurrent recordings through the real handlers, every AWS request counted.

The question: at N concurrent recordings (default 1,000), and scaled linearly to
10,000 and 100,000, how close does the stack come to the AWS limits it must respect
(``../shared/DESIGN.md``, "AWS limits the design must respect")?

How, all in process against moto:

- The stack's resources are provisioned as the local stack provisions them, with the
  stack's default shard count; the event source mapping has the stack's defaults
  (batch size 500, batching window 1 s, parallelization 1: ``infra/settings.py``).
- One owner signs up, signs in and creates ONE ingest key, through the API's routes.
- N visitors record. Each creates its recording with its first batch (POST
  /recordings) and then posts a batch every 5 s of simulated time (POST
  /recordings/{id}/events): gzip bodies sent as ``text/plain`` with the key in the query,
  as ``site/src/recorder.js`` sends them, each visitor from its own address. Visitors
  start spread evenly over the first 5 s, so every simulated second carries about N/5
  POSTs. A 408, 429 or 5xx is retried as the recorder retries it: the same batch, after
  Retry-After (or an exponential backoff), with the batches flushed meanwhile queued
  behind it; one request in flight per visitor. After its create, a visitor uploads its
  screenshot straight to S3 under the form's key, as the browser does.
- After every simulated second, the local event source mapping reads every shard and
  invokes the consumer function (``consume_events``) with at most 500 records per
  shard. Every object written under ``recordings/`` invokes the orphan reaper
  (``reap_orphans``), as the bucket's notification does on AWS.
- With ``--compact``, once every recording has been idle for the compaction idle time,
  the scheduled compaction (``compact_recordings``) runs and is counted too.
- Every recording is read back through GET /recordings/{id}/events as its owner: the
  batches acknowledged (2xx) must be exactly the batches readable. Each batch carries
  a custom rrweb event (type 5) naming its seq, which is how a read-back batch is told.

Simulated time. The app reads the wall clock for rate-limit windows, token buckets,
caches and timestamps; with moto a simulated second takes longer than a real one, so
the app's own modules (``app``, ``chalicelib.*``) see a virtual clock that the
simulation moves: a rate limit counts simulated requests per simulated minute, as it
would count real ones on AWS. Nothing else (botocore, moto, threads) is touched.

Counting. Two botocore event handlers, added to botocore's built-in handlers the way
moto adds its own, are on every client any session creates during the run (the API's,
the consumer's, the event source mapping's): ``provide-client-params`` keeps the
call's parameters, ``after-call`` classifies the call with its response. The phase (API
request and its route, event source mapping, consumer, reaper, compaction, read-back)
says who made it. What is derived per call is described where it is computed
(``Meter``). Rates are per second over the simulated ingest duration (from the first
POST to the last, at least ``--seconds``); the busiest simulated second is reported
beside each. Scaling is linear in N for what all recordings share (an owner's
partition, an index partition, a shard, the owner's S3 prefix, the account) and flat
for what belongs to one recording (its item, its S3 prefix): a recording's own
traffic does not grow with the number of other recordings.

Steady state. Recordings are 5-minute sessions (``bench.cost.RECORDING_MINUTES``): N
concurrent recordings start N / 300 a second, while a run starts all N in its first
5 s. What a start drives (the create's writes and first batch, an index entry's first
write, the screenshot and its reaper call) is scaled to N / 300 a second, and the
events POSTs to the other batches (``steady_weights``).

Judging. Per-shard Kinesis rows are judged at the shard count each scale needs (the
smallest keeping bytes and records in, and bytes out, under 50%), printed as the
config to set, with what the stack's default and prod shard counts would give; they
never fail the verdict. S3 is judged per recording prefix (every object of a recording
sits under it, and S3's limit is per partitioned prefix); the owner prefix is printed
as advisory. Account quotas (API Gateway, Lambda concurrency, Kinesis shards) fail the
verdict when crossed at 10,000 and are printed as a quota to raise at 100,000. Lambda
concurrency uses the cost model's handler times on AWS (moto's printed beside).

What it cannot see: one process stands for every Lambda instance, so what each warm
instance does once per interval (reading the ingest key into its cache, leasing a slice
of a rate budget) is counted once, where K concurrent instances would each do it; and
handler times are moto's in process, not AWS's latencies (printed, while the Lambda
concurrency judged uses the cost model's AWS times); and a 30 s run never sees
``activeAt`` refreshed (every 5 minutes per recording: its bound is printed).
"""

from __future__ import annotations

import argparse
import dataclasses
import gzip
import hashlib
import heapq
import json
import logging
import math
import os
import random
import re
import sys
import threading
import time
import types
import urllib.parse
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import boto3
import botocore.handlers
from moto import mock_aws

import local  # noqa: F401  (puts api/ on the import path)
from bench import cost
from chalicelib import settings as api_settings
from chalicelib.layout import SCREENSHOT_NAME
from infra.settings import StackSettings
from local.event_source import KinesisEventSource, MappingConfig
from local.resources import Names, provision
from tests.support.rrweb_stream import StreamBuilder

NAMES = Names.for_stack("scale")
REGION = "us-east-1"
# The stack a deployment gets without a Pulumi.<stack>.yaml entry.
STACK_DEFAULTS = StackSettings(stack="scale")

DEFAULT_RECORDINGS = 1000
DEFAULT_SECONDS = 30
# A recording is a visit of this long (the cost model's assumption): in steady state N
# concurrent recordings start N / START_SECONDS new ones a second, however long a run is.
START_SECONDS = cost.RECORDING_MINUTES * 60
# The recorder posts a batch every 5 s in this simulation (between its 10 s flush when
# nobody watches and its 2 s flush while someone does: the cost model's busy case).
BATCH_SECONDS = 5
SCALES = (10_000, 100_000)
# The stack's prod settings (Pulumi.prod.yaml), beside the defaults a new stack gets.
PROD = cost.stack_settings("prod")
# The verdict also says whether every limit stays under half its value at 10,000.
HEADROOM = 0.5
# site/src/recorder.js: retries are capped at 30 s; a Retry-After of 0 still waits 0.2 s.
RECORDER_MAX_BACKOFF_S = 30.0
RECORDER_MIN_RETRY_S = 0.2
# A visitor whose batches are still refused this long after its last flush stops
# (the page was closed): what it never got acknowledged is reported, not lost.
GIVE_UP_AFTER_S = 3600.0
# Compaction runs until a run compacts nothing, at most this many times.
COMPACTION_RUNS = 5
# Readers of every shard on the stack: the consumer's event source mapping and Firehose.
STREAM_READERS = 2
SECONDS_PER_MONTH = 30 * 24 * 3600
MARKER_TAG = "bench.scale"
MIB = 1024 * 1024
# The recorder's id alphabet (site/src/recorder.js newRecordingId): 22 characters.
_ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


@dataclass(frozen=True)
class Limit:
    """A documented AWS limit: what it bounds, its value, and where AWS says so."""

    label: str
    value: float
    unit: str
    source: str


# The provisioned-mode shard quota of us-east-1 (where this stack runs: Pulumi.prod.yaml).
KINESIS_ACCOUNT_SHARDS = 20_000
# ...and the smallest default elsewhere, printed beside it.
KINESIS_ACCOUNT_SHARDS_ELSEWHERE = 1_000
_DDB_PARTITIONS = (
    "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/bp-partition-key-design.html"
    " (a partition: at most 3,000 RCU and 1,000 WCU per second; an item lives in one partition)"
)
_S3_PERFORMANCE = "https://docs.aws.amazon.com/AmazonS3/latest/userguide/optimizing-performance.html"
_S3_WRITES = f"{_S3_PERFORMANCE} (3,500 PUT/COPY/POST/DELETE requests per second per partitioned prefix)"
_S3_READS = f"{_S3_PERFORMANCE} (5,500 GET/HEAD requests per second per partitioned prefix)"
LIMITS: dict[str, Limit] = {
    "dynamodb_partition_wcu": Limit("DynamoDB writes per partition key", 1000, "WCU/s", _DDB_PARTITIONS),
    "dynamodb_partition_rcu": Limit("DynamoDB reads per partition key", 3000, "RCU/s", _DDB_PARTITIONS),
    "dynamodb_item_wcu": Limit("DynamoDB writes per item", 1000, "WCU/s", _DDB_PARTITIONS),
    "dynamodb_item_rcu": Limit("DynamoDB reads per item", 3000, "RCU/s", _DDB_PARTITIONS),
    "dynamodb_gsi_partition_wcu": Limit(
        "DynamoDB GSI writes per index partition key",
        1000,
        "WCU/s",
        "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/GSI.html"
        " (an index's partitions have the table's per-partition throughput: 1,000 WCU/s)",
    ),
    "dynamodb_item_size": Limit(
        "DynamoDB item size (largest item)",
        400 * 1024,
        "bytes",
        "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html (item size 400 KB)",
    ),
    "dynamodb_item_collection": Limit(
        "DynamoDB item collection with an LSI (growth per month)",
        10 * 1024**3,
        "bytes",
        "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/LSI.html"
        " (a table with a local secondary index: 10 GB per partition key value)",
    ),
    "kinesis_shard_bytes_in": Limit(
        "Kinesis bytes in per shard",
        1 * MIB,
        "bytes/s",
        "https://docs.aws.amazon.com/streams/latest/dev/service-sizes-and-limits.html"
        " (a shard takes 1 MB/s or 1,000 records/s in, 2 MB/s out)",
    ),
    "kinesis_shard_records_in": Limit(
        "Kinesis records in per shard",
        1000,
        "records/s",
        "https://docs.aws.amazon.com/streams/latest/dev/service-sizes-and-limits.html"
        " (a shard takes 1 MB/s or 1,000 records/s in)",
    ),
    "kinesis_shard_bytes_out": Limit(
        "Kinesis bytes out per shard (consumer + Firehose)",
        2 * MIB,
        "bytes/s",
        "https://docs.aws.amazon.com/streams/latest/dev/service-sizes-and-limits.html"
        " (2 MB/s out per shard, shared by its readers without enhanced fan-out)",
    ),
    "firehose_active_partitions": Limit(
        "Firehose active dynamic partitions",
        500,
        "partitions",
        "https://docs.aws.amazon.com/firehose/latest/dev/limits.html"
        " (500 active partitions per delivery stream with dynamic partitioning)",
    ),
    "s3_recording_prefix_writes": Limit("S3 writes per recording prefix", 3500, "requests/s", _S3_WRITES),
    "s3_recording_prefix_reads": Limit("S3 reads per recording prefix", 5500, "requests/s", _S3_READS),
    "s3_owner_prefix_writes": Limit("S3 writes per owner prefix", 3500, "requests/s", _S3_WRITES),
    "s3_owner_prefix_reads": Limit("S3 reads per owner prefix", 5500, "requests/s", _S3_READS),
    "api_gateway_requests": Limit(
        "API Gateway requests (account, region)",
        10_000,
        "requests/s",
        "https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html"
        " (throttle: 10,000 requests per second per account and Region)",
    ),
    "lambda_concurrency": Limit(
        "Lambda concurrent executions (account, region)",
        1000,
        "executions",
        "https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html"
        " (concurrent executions: 1,000 per Region by default)",
    ),
    "kinesis_account_shards": Limit(
        "Kinesis shards (account, region)",
        KINESIS_ACCOUNT_SHARDS,
        "shards",
        "https://docs.aws.amazon.com/streams/latest/dev/service-sizes-and-limits.html"
        " (provisioned mode: 20,000 shards per account by default in us-east-1, us-west-2 and eu-west-1;"
        " 1,000 or 6,000 in other Regions)",
    ),
}
# Rows that hold whatever the stack's config: AWS's own per-key ceilings and the
# account's quotas. The rest are judged as follows:
# - per shard (Kinesis): at the shard count the scale needs, which is config to set
#   (``kinesisShards``), so they never fail the verdict; the stack's default and prod
#   shard counts are printed beside them.
CONFIGURED = frozenset({"kinesis_shard_bytes_in", "kinesis_shard_records_in", "kinesis_shard_bytes_out"})
# - advisory: the owner prefix. S3's limit is per partitioned prefix, and every object
#   of a recording sits under the recording's own prefix
#   (``recordings/owner=<o>/recording=<r>/``); S3 partitions a busy owner prefix by the
#   keys below it, answering 503 SlowDown while it does (the consumer's PUT fails and
#   Lambda retries the batch). Printed, never the verdict.
ADVISORY = frozenset({"s3_owner_prefix_writes", "s3_owner_prefix_reads"})
# - account quotas: fail the verdict at 10,000 if crossed; at 100,000 a quota to raise.
QUOTAS = frozenset({"api_gateway_requests", "lambda_concurrency", "kinesis_account_shards"})

# What to change when a limit is crossed: the stack config key (Pulumi.<stack>.yaml),
# the AWS quota to raise, or the code. A partition's throughput is fixed by AWS: no
# quota raises it, only spreading the key does.
_SPREAD_PARTITION = "the table's keys: spread the hot partition key (api/chalicelib/schema.py); no quota raises it"
_S3_SPLITS = (
    "no setting: S3 splits a busy prefix by the keys under it (recording=...) over minutes, "
    "answering 503 SlowDown meanwhile; ramp up, or ask AWS to pre-partition"
)
REMEDIES: dict[str, str] = {
    "dynamodb_partition_wcu": _SPREAD_PARTITION,
    "dynamodb_partition_rcu": _SPREAD_PARTITION,
    "dynamodb_item_wcu": "the hot item: write it less often or spread it over items (api/chalicelib)",
    "dynamodb_item_rcu": "the hot item: read it less often or cache it (api/chalicelib)",
    "dynamodb_gsi_partition_wcu": "the hot index's partition key (named below the table): spread it (api/chalicelib)",
    "dynamodb_item_size": "what the item accumulates (api/chalicelib/recordings.py)",
    "dynamodb_item_collection": "drop the local secondary index (or key the table so a collection stays small)",
    "kinesis_shard_bytes_in": "kinesisShards (or kinesisMode: on-demand)",
    "kinesis_shard_records_in": "kinesisShards (or kinesisMode: on-demand)",
    "kinesis_shard_bytes_out": "kinesisShards (or enhanced fan-out for the consumer)",
    "firehose_active_partitions": "Firehose active partitions quota (5,000 on request), or no dynamic partitioning",
    "s3_recording_prefix_writes": "fewer objects per recording: consumerBatchingWindowSeconds",
    "s3_recording_prefix_reads": "fewer objects per recording: compactIdleMinutes, consumerBatchingWindowSeconds",
    "s3_owner_prefix_writes": _S3_SPLITS,
    "s3_owner_prefix_reads": _S3_SPLITS,
    "api_gateway_requests": "raise quota: API Gateway throttle rate per account and Region (Service Quotas),"
    " then throttleRateLimit/throttleBurstLimit",
    "lambda_concurrency": "raise quota: Lambda concurrent executions (Service Quotas)",
    "kinesis_account_shards": "raise quota: Kinesis shards per Region (Service Quotas)",
}


# ---------------------------------------------------------------------------
# Simulated time for the app's own modules


class VirtualClock:
    """A wall clock and a monotonic clock that move only when the simulation moves them.

    ``installed()`` makes the app's modules (``app``, ``chalicelib.*``) read it: their
    ``time`` module and any ``time.time``/``time.monotonic`` they hold (imported names,
    default arguments such as ``clock=time.time``) are swapped for this clock's, and put
    back on exit. Instances that already captured a clock are not reached, which is why
    the store is built after installing.
    """

    def __init__(self) -> None:
        # A whole minute, so simulated time 0 starts a rate-limit window.
        self._wall0 = float(int(time.time()) // 60 * 60)
        self._mono0 = time.monotonic()
        self.offset = 0.0

    def set(self, seconds: float) -> None:
        """Simulated seconds since the start (never backwards)."""
        self.offset = max(self.offset, seconds)

    def time(self) -> float:
        """``time.time()`` in simulated time."""
        return self._wall0 + self.offset

    def time_ns(self) -> int:
        """``time.time_ns()`` in simulated time."""
        return int(self.time() * 1e9)

    def monotonic(self) -> float:
        """``time.monotonic()`` in simulated time."""
        return self._mono0 + self.offset

    def monotonic_ns(self) -> int:
        """``time.monotonic_ns()`` in simulated time."""
        return int(self.monotonic() * 1e9)

    def wall_ms(self, seconds: float) -> int:
        """Epoch milliseconds at ``seconds`` of simulated time."""
        return int((self._wall0 + seconds) * 1000)

    @contextmanager
    def installed(self, prefixes: tuple[str, ...] = ("app", "chalicelib")) -> Iterator[None]:
        """The app's modules read this clock inside the block."""
        swaps = {
            id(time.time): self.time,
            id(time.time_ns): self.time_ns,
            id(time.monotonic): self.monotonic,
            id(time.monotonic_ns): self.monotonic_ns,
        }
        proxy = types.SimpleNamespace(**{name: getattr(time, name) for name in dir(time) if not name.startswith("__")})
        for name in ("time", "time_ns", "monotonic", "monotonic_ns"):
            setattr(proxy, name, getattr(self, name))
        undo: list[Callable[[], None]] = []
        for module_name, module in list(sys.modules.items()):
            if module is None or module_name.split(".")[0] not in prefixes:
                continue
            for attr, value in list(vars(module).items()):
                if value is time:
                    undo.append(_setter(module, attr, value))
                    setattr(module, attr, proxy)
                elif id(value) in swaps and value is not swaps[id(value)]:
                    undo.append(_setter(module, attr, value))
                    setattr(module, attr, swaps[id(value)])
                elif getattr(value, "__module__", None) == module_name:
                    for function in _functions(value):
                        undo.extend(_swap_defaults(function, swaps))
        try:
            yield
        finally:
            for restore in reversed(undo):
                restore()


def _setter(target: Any, attr: str, value: Any) -> Callable[[], None]:
    return lambda: setattr(target, attr, value)


def _functions(value: Any) -> Iterator[types.FunctionType]:
    """A module-level function, or the functions of a class (methods, static, class methods)."""
    if isinstance(value, types.FunctionType):
        yield value
    elif isinstance(value, type):
        for member in vars(value).values():
            member = getattr(member, "__func__", member)
            if isinstance(member, types.FunctionType):
                yield member


def _swap_defaults(function: types.FunctionType, swaps: dict[int, Any]) -> list[Callable[[], None]]:
    undo = []
    if function.__defaults__ and any(id(d) in swaps for d in function.__defaults__):
        undo.append(_setter(function, "__defaults__", function.__defaults__))
        function.__defaults__ = tuple(swaps.get(id(d), d) for d in function.__defaults__)
    if function.__kwdefaults__ and any(id(d) in swaps for d in function.__kwdefaults__.values()):
        undo.append(_setter(function, "__kwdefaults__", function.__kwdefaults__))
        function.__kwdefaults__ = {k: swaps.get(id(d), d) for k, d in function.__kwdefaults__.items()}
    return undo


# ---------------------------------------------------------------------------
# DynamoDB sizes, as DynamoDB bills them

_TYPE_TAGS = {"S", "N", "B", "SS", "NS", "BS", "M", "L", "NULL", "BOOL"}


def _typed(value: Any) -> tuple[str, Any] | None:
    """(tag, inner) for a low-level attribute value such as ``{"S": "x"}``, else None."""
    if isinstance(value, dict) and len(value) == 1:
        ((tag, inner),) = value.items()
        if tag in _TYPE_TAGS:
            return tag, inner
    return None


def _number_size(text: str) -> int:
    """A number's size: about one byte per two significant digits, plus one."""
    digits = re.sub(r"[^0-9]", "", text.lower().split("e")[0]).strip("0") or "0"
    return (len(digits) + 1) // 2 + 1


def value_size(value: Any) -> int:
    """The bytes DynamoDB counts for an attribute value (Python or low-level form).

    Strings and binaries by length, numbers by significant digits, sets by their
    elements, maps and lists 3 bytes plus a byte per element, null and booleans 1.
    """
    typed = _typed(value)
    if typed is not None:
        tag, inner = typed
        if tag == "S":
            return len(inner.encode())
        if tag == "N":
            return _number_size(str(inner))
        if tag == "B":
            return len(inner)
        if tag in ("SS", "NS", "BS"):
            return sum(value_size({tag[0]: element}) for element in inner)
        if tag == "M":
            return 3 + sum(len(k.encode()) + value_size(v) + 1 for k, v in inner.items())
        if tag == "L":
            return 3 + sum(value_size(v) + 1 for v in inner)
        return 1
    if isinstance(value, bool) or value is None:
        return 1
    if isinstance(value, str):
        return len(value.encode())
    if isinstance(value, int | float | Decimal):
        return _number_size(str(value))
    if isinstance(value, bytes | bytearray):
        return len(value)
    if hasattr(value, "value") and isinstance(value.value, bytes):  # boto3's Binary
        return len(value.value)
    if isinstance(value, set | frozenset):
        return sum(value_size(element) for element in value)
    if isinstance(value, dict):
        return 3 + sum(len(str(k).encode()) + value_size(v) + 1 for k, v in value.items())
    if isinstance(value, list | tuple):
        return 3 + sum(value_size(v) + 1 for v in value)
    return len(str(value).encode())


def item_size(item: dict[str, Any]) -> int:
    """An item's size: its attribute names and values."""
    return sum(len(name.encode()) + value_size(value) for name, value in item.items())


def plain(value: Any) -> Any:
    """A key value as a plain Python string (from either form), for grouping and reports."""
    typed = _typed(value)
    if typed is not None:
        value = typed[1]
    if isinstance(value, Decimal | int | float):
        return format(Decimal(str(value)).normalize(), "f")
    if isinstance(value, bytes | bytearray):
        return value.hex()
    return str(value)


def write_units(before: int, after: int, *, transactional: bool = False) -> int:
    """WCU of one item write: 1 per KB of the larger of the item before and after (twice in a transaction)."""
    return max(1, math.ceil(max(before, after) / 1024)) * (2 if transactional else 1)


def read_units(size: int, *, consistent: bool, transactional: bool = False) -> float:
    """RCU of reading ``size`` bytes: 1 per 4 KB consistent, half that eventually consistent."""
    units = max(1, math.ceil(size / 4096))
    return units * (2 if transactional else 1) * (1.0 if consistent else 0.5)


@dataclass(frozen=True)
class Index:
    """A secondary index as ``describe_table`` reports it."""

    name: str
    hash_key: str
    range_key: str | None
    projection: str
    non_key: tuple[str, ...]
    local: bool

    @property
    def keys(self) -> tuple[str, ...]:
        """The index's key attributes."""
        return (self.hash_key, self.range_key) if self.range_key else (self.hash_key,)


@dataclass(frozen=True)
class TableInfo:
    """A table's keys and indexes, from ``describe_table`` (never assumed)."""

    name: str
    hash_key: str
    range_key: str | None
    indexes: tuple[Index, ...]

    @classmethod
    def describe(cls, description: dict[str, Any]) -> TableInfo:
        """From a ``describe_table`` answer's ``Table``."""

        def keys(schema: list[dict[str, str]]) -> tuple[str, str | None]:
            hash_key = next(k["AttributeName"] for k in schema if k["KeyType"] == "HASH")
            range_key = next((k["AttributeName"] for k in schema if k["KeyType"] == "RANGE"), None)
            return hash_key, range_key

        indexes = []
        for is_local, entries in ((False, "GlobalSecondaryIndexes"), (True, "LocalSecondaryIndexes")):
            for entry in description.get(entries, []):
                hash_key, range_key = keys(entry["KeySchema"])
                projection = entry.get("Projection", {})
                indexes.append(
                    Index(
                        name=entry["IndexName"],
                        hash_key=hash_key,
                        range_key=range_key,
                        projection=projection.get("ProjectionType", "ALL"),
                        non_key=tuple(projection.get("NonKeyAttributes", ())),
                        local=is_local,
                    )
                )
        hash_key, range_key = keys(description["KeySchema"])
        return cls(name=description["TableName"], hash_key=hash_key, range_key=range_key, indexes=tuple(indexes))

    @property
    def has_lsi(self) -> bool:
        """Whether the table has a local secondary index (so a 10 GB item collection limit)."""
        return any(index.local for index in self.indexes)

    def item_key(self, attributes: dict[str, Any]) -> tuple[str, str | None]:
        """(partition key value, sort key value) of an item or a ``Key``."""
        sort = plain(attributes[self.range_key]) if self.range_key and self.range_key in attributes else None
        return plain(attributes[self.hash_key]), sort


@dataclass
class Shadow:
    """What the meter knows of an item: each attribute's size, and the values of index keys."""

    sizes: dict[str, int] = field(default_factory=dict)
    values: dict[str, str] = field(default_factory=dict)

    @property
    def size(self) -> int:
        """The item's size: attribute names plus values."""
        return sum(len(name.encode()) + size for name, size in self.sizes.items())

    def copy(self) -> Shadow:
        """An independent copy."""
        return Shadow(dict(self.sizes), dict(self.values))

    @classmethod
    def of(cls, item: dict[str, Any], watched: set[str]) -> Shadow:
        """An item's exact shadow (``watched``: attributes whose values are kept)."""
        return cls(
            sizes={name: value_size(value) for name, value in item.items()},
            values={name: plain(value) for name, value in item.items() if name in watched},
        )


_CLAUSE = re.compile(r"\b(SET|ADD|REMOVE|DELETE)\b", re.IGNORECASE)
_PLACEHOLDER = re.compile(r":[A-Za-z0-9_]+")
_IF_NOT_EXISTS = re.compile(r"if_not_exists\s*\(\s*([^,]+?)\s*,\s*(:[A-Za-z0-9_]+)\s*\)")


def _split_top(text: str) -> list[str]:
    """Split on commas outside parentheses."""
    parts, depth, start = [], 0, 0
    for at, char in enumerate(text):
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(text[start:at])
            start = at + 1
    parts.append(text[start:])
    return [part.strip() for part in parts if part.strip()]


def _attribute(path: str, names: dict[str, str]) -> str:
    """The top-level attribute a document path names (``#n.x[0]`` -> what ``#n`` stands for)."""
    top = re.split(r"[.\[]", path.strip(), maxsplit=1)[0]
    return names.get(top, top)


def apply_update(
    shadow: Shadow, expression: str, names: dict[str, str], values: dict[str, Any], watched: set[str]
) -> set[str]:
    """Apply an UpdateExpression to a shadow, approximately; returns the attributes it touches.

    SET takes the size of the value it assigns (``if_not_exists`` only when absent; an
    arithmetic SET keeps the larger size), ADD adds a set's elements or keeps a number's
    larger size, REMOVE drops the attribute, DELETE subtracts a set's elements. Exact
    enough for WCU (a KB granularity) and item growth; exact sizes replace it whenever
    a response carries the item (ReturnValues=ALL_NEW, a read).
    """
    touched: set[str] = set()
    marks = list(_CLAUSE.finditer(expression))
    for at, mark in enumerate(marks):
        end = marks[at + 1].start() if at + 1 < len(marks) else len(expression)
        action, body = mark.group(1).upper(), expression[mark.end() : end]
        for part in _split_top(body):
            if action == "SET":
                path, _, rhs = part.partition("=")
                name = _attribute(path, names)
                touched.add(name)
                conditional = _IF_NOT_EXISTS.search(rhs)
                placeholders = _PLACEHOLDER.findall(rhs)
                if conditional:
                    if name not in shadow.sizes:
                        _assign(shadow, name, values.get(conditional.group(2)), watched)
                elif not placeholders:
                    continue  # copied from another attribute: size unknown, left as it was
                elif "+" in rhs or re.search(r"\s-\s", rhs):
                    new = value_size(values.get(placeholders[-1]))
                    shadow.sizes[name] = max(shadow.sizes.get(name, 0), new)
                    shadow.values.pop(name, None)
                elif "list_append" in rhs:
                    shadow.sizes[name] = shadow.sizes.get(name, 3) + value_size(values.get(placeholders[-1])) - 3
                else:
                    _assign(shadow, name, values.get(placeholders[0]), watched)
            else:
                path, _, placeholder = part.strip().partition(" ")
                name = _attribute(path, names)
                touched.add(name)
                value = values.get(placeholder.strip())
                if action == "REMOVE":
                    shadow.sizes.pop(name, None)
                    shadow.values.pop(name, None)
                elif action == "ADD":
                    is_set = isinstance(value, set | frozenset) or (_typed(value) or ("",))[0] in ("SS", "NS", "BS")
                    current = shadow.sizes.get(name, 0)
                    shadow.sizes[name] = current + value_size(value) if is_set else max(current, value_size(value))
                    shadow.values.pop(name, None)
                elif action == "DELETE":
                    remaining = shadow.sizes.get(name, 0) - value_size(value)
                    if remaining > 0:
                        shadow.sizes[name] = remaining
                    else:
                        shadow.sizes.pop(name, None)
    return touched


def _assign(shadow: Shadow, name: str, value: Any, watched: set[str]) -> None:
    shadow.sizes[name] = value_size(value)
    if name in watched:
        shadow.values[name] = plain(value)
    else:
        shadow.values.pop(name, None)


# ---------------------------------------------------------------------------
# Counting every request


class Track:
    """An amount per simulated second (requests, units, bytes) of one key."""

    __slots__ = ("seconds", "total")

    def __init__(self) -> None:
        self.total = 0.0
        self.seconds: dict[int, float] = defaultdict(float)

    def add(self, second: int, amount: float) -> None:
        """Add ``amount`` in simulated second ``second``."""
        self.total += amount
        self.seconds[second] += amount

    def peak(self) -> float:
        """The busiest second's amount."""
        return max(self.seconds.values(), default=0.0)

    def add_weighted(self, other: Track, weight: float) -> None:
        """Add another track's amounts, times ``weight``."""
        self.total += other.total * weight
        for second, amount in other.seconds.items():
            self.seconds[second] += amount * weight


# Kinds of rate tracked per key while the simulation's ingest runs.
RATES = (
    "dynamodb_partition_wcu",  # (table, partition key value)
    "dynamodb_partition_rcu",
    "dynamodb_item_wcu",  # (table, partition key value, sort key value)
    "dynamodb_item_rcu",
    "dynamodb_gsi_partition_wcu",  # (table, index, index partition key value)
    "dynamodb_gsi_partition_rcu",
    "s3_recording_prefix_writes",  # (prefix,)
    "s3_recording_prefix_reads",
    "s3_owner_prefix_writes",
    "s3_owner_prefix_reads",
    "kinesis_shard_records_in",  # (shard id,)
    "kinesis_shard_bytes_in",
    "api_gateway_requests",  # ("account",)
    "reaper_invocations",
)
# What drives an amount, so how it scales to steady state (``steady_weights``):
# - "start": once per recording (the create's writes and its first batch, an index
#   entry's first write, the screenshot): N / START_SECONDS a second in steady state;
# - "events": a POST /events and what it writes;
# - "batch": everything else (the stream consumer, the reaper, the API requests).
RATE_CLASSES = ("batch", "start", "events")
# The phases of the running stack (not setup, compaction or the read-back).
INGEST_PHASES = ("api", "event_source_mapping", "consumer", "reaper")
S3_WRITES = frozenset(
    {
        "PutObject",
        "CopyObject",
        "DeleteObject",
        "DeleteObjects",
        "CreateMultipartUpload",
        "UploadPart",
        "UploadPartCopy",
        "CompleteMultipartUpload",
        "PutObjectTagging",
        "RestoreObject",
    }
)
S3_READS = frozenset(
    {"GetObject", "HeadObject", "ListObjectsV2", "ListObjects", "GetObjectTagging", "GetObjectAttributes"}
)
S3_CREATES = frozenset({"PutObject", "CopyObject", "CompleteMultipartUpload"})
_S3_PREFIX = re.compile(r"\A(recordings/owner=[^/]+/)(recording=[^/]+/)?")
# The bucket notification that invokes the reaper (infra/api.py): objects created here.
REAPER_PREFIX = "recordings/"


class Meter:
    """Counts and classifies every AWS request made during a run (see ``installed``).

    Per call: its service and operation under the current phase (and, during an API
    request, in that request's tally). DynamoDB: the table, partition key and item
    (keys named by ``describe_table``), reads (consistent or not, RCU from the returned
    item's size) and writes (WCU from the larger of the item's size before and after:
    before is the meter's shadow of the item, after is the request's item, or the
    shadow with the update's values applied, or the item returned with ALL_NEW; a
    conditional write that fails is charged the item's size before), and the writes it
    causes in a secondary index (when it sets an index key, or a projected attribute of
    an item in the index; two writes when a key value changes). S3: reads and writes by
    recording prefix and owner prefix. Kinesis: records and bytes (data plus partition
    key) by shard, mapping each partition key to a shard by its MD5 and the shards'
    hash key ranges.
    """

    def __init__(self, clock: VirtualClock) -> None:
        self._clock = clock
        self._lock = threading.RLock()
        self.phase = "setup"
        # Rates are tracked only while this is set: the simulated ingest.
        self.rating = False
        self.calls: Counter[tuple[str, str, str]] = Counter()
        self.tally: dict[str, Counter[str]] = defaultdict(Counter)
        self.request: Counter[str] | None = None
        # class -> kind -> key -> amounts per second (RATE_CLASSES)
        self.classed: dict[str, dict[str, dict[tuple[str, ...], Track]]] = {
            klass: {kind: defaultdict(Track) for kind in RATES} for klass in RATE_CLASSES
        }
        self.klass = "batch"
        self.tables: dict[str, TableInfo] = {}
        self.shards: list[tuple[str, int, int]] = []
        self.items: dict[tuple[str, str, str | None], Shadow] = {}
        self.created_objects: list[str] = []
        self.largest_item: tuple[int, str, str] = (0, "", "")

    # -- installation

    @contextmanager
    def installed(self) -> Iterator[Meter]:
        """Every botocore session created inside the block carries the meter's handlers."""
        specs = [("provide-client-params", self._on_params), ("after-call", self._on_response)]
        botocore.handlers.BUILTIN_HANDLERS.extend(specs)
        try:
            yield self
        finally:
            for spec in specs:
                botocore.handlers.BUILTIN_HANDLERS.remove(spec)

    def describe(self, session: Any, *, stream: str) -> dict[str, Any]:
        """Read the tables' keys and the stream's shards (not counted); returns what was read."""
        with self.quiet():
            dynamodb = session.client("dynamodb")
            for name in dynamodb.list_tables()["TableNames"]:
                self.tables[name] = TableInfo.describe(dynamodb.describe_table(TableName=name)["Table"])
            kinesis = session.client("kinesis")
            shards = kinesis.list_shards(StreamName=stream)["Shards"]
            self.shards = [
                (
                    shard["ShardId"],
                    int(shard["HashKeyRange"]["StartingHashKey"]),
                    int(shard["HashKeyRange"]["EndingHashKey"]),
                )
                for shard in shards
            ]
        return {"tables": list(self.tables), "shards": [shard[0] for shard in self.shards]}

    @contextmanager
    def quiet(self) -> Iterator[None]:
        """The meter's own requests inside the block are not counted."""
        saved, self.phase = self.phase, "meter"
        try:
            yield
        finally:
            self.phase = saved

    @contextmanager
    def acting(self, phase: str) -> Iterator[None]:
        """Requests inside the block belong to ``phase``."""
        saved, self.phase = self.phase, phase
        try:
            yield
        finally:
            self.phase = saved

    def begin_request(self) -> None:
        """An API request starts: its calls are tallied on their own too."""
        self.request = Counter()

    def end_request(self) -> Counter[str]:
        """The finished API request's tally."""
        tally, self.request = self.request or Counter(), None
        return tally

    @property
    def second(self) -> int:
        """The current simulated second."""
        return int(self._clock.offset)

    @contextmanager
    def driven_by(self, klass: str) -> Iterator[None]:
        """Amounts tracked inside the block belong to ``klass`` (RATE_CLASSES)."""
        saved, self.klass = self.klass, klass
        try:
            yield
        finally:
            self.klass = saved

    def track(self, kind: str, key: tuple[str, ...], amount: float, klass: str | None = None) -> None:
        """Add to a rate, while the ingest runs."""
        if self.rating:
            self.classed[klass or self.klass][kind][key].add(self.second, amount)

    def weighted(self, weights: dict[str, float]) -> dict[str, dict[tuple[str, ...], Track]]:
        """Every rate with each class's amounts times its weight: the steady state's amounts."""
        rates: dict[str, dict[tuple[str, ...], Track]] = {kind: defaultdict(Track) for kind in RATES}
        for klass, kinds in self.classed.items():
            for kind, tracks in kinds.items():
                for key, track in tracks.items():
                    rates[kind][key].add_weighted(track, weights[klass])
        return rates

    def _add(self, metric: str, amount: float = 1) -> None:
        self.tally[self.phase][metric] += amount
        if self.request is not None:
            self.request[metric] += amount

    # -- botocore handlers

    def _on_params(self, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["bench.scale.params"] = params
        context["bench.scale.started"] = time.perf_counter()

    def _on_response(
        self, http_response: Any, parsed: dict[str, Any], model: Any, context: dict[str, Any], **_: Any
    ) -> None:
        if self.phase == "meter":
            return
        service = model.service_model.service_name
        operation = model.name
        params = context.get("bench.scale.params") or {}
        failed = getattr(http_response, "status_code", 200) >= 300
        with self._lock:
            self.calls[(self.phase, service, operation)] += 1
            self._add("aws_calls")
            # Time in the call as moto answers it in process (not AWS's latency).
            self._add("aws_call_seconds", time.perf_counter() - context.get("bench.scale.started", time.perf_counter()))
            self._add(f"calls.{service}")
            self._add(f"calls.{service}.{operation}")
            handler = {"dynamodb": self._dynamodb, "s3": self._s3, "kinesis": self._kinesis}.get(service)
            if handler is not None:
                handler(operation, params, parsed or {}, failed)

    # -- DynamoDB

    def _table(self, name: str) -> TableInfo | None:
        return self.tables.get(name.rsplit("/", 1)[-1] if name.startswith("arn:") else name)

    def _dynamodb(self, operation: str, params: dict[str, Any], parsed: dict[str, Any], failed: bool) -> None:
        if operation == "GetItem":
            self._read_items(params["TableName"], [params["Key"]], [parsed.get("Item")], params, parsed)
        elif operation == "BatchGetItem":
            for table, request in params.get("RequestItems", {}).items():
                returned = parsed.get("Responses", {}).get(table, [])
                self._read_items(table, request.get("Keys", []), returned, request, parsed, match=True)
        elif operation == "TransactGetItems":
            for entry in params.get("TransactItems", []):
                get = entry.get("Get", {})
                self._read_items(
                    get.get("TableName", ""), [get.get("Key", {})], [None], get, parsed, transactional=True
                )
        elif operation in ("Query", "Scan"):
            self._query(operation, params, parsed)
        elif operation in ("PutItem", "UpdateItem", "DeleteItem"):
            self._write(operation, params, parsed, failed=failed)
        elif operation == "BatchWriteItem":
            for table, requests in params.get("RequestItems", {}).items():
                for request in requests:
                    if "PutRequest" in request:
                        self._write("PutItem", {"TableName": table, **request["PutRequest"]}, {}, failed=failed)
                    elif "DeleteRequest" in request:
                        self._write("DeleteItem", {"TableName": table, **request["DeleteRequest"]}, {}, failed=failed)
        elif operation == "TransactWriteItems":
            kinds = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem", "ConditionCheck": "Check"}
            for entry in params.get("TransactItems", []):
                for kind, spec in entry.items():
                    self._write(kinds[kind], spec, {}, failed=failed, transactional=True)

    def _read_items(
        self,
        table_name: str,
        keys: list[dict[str, Any]],
        returned: list[dict[str, Any] | None],
        request: dict[str, Any],
        parsed: dict[str, Any],
        *,
        match: bool = False,
        transactional: bool = False,
    ) -> None:
        del parsed
        info = self._table(table_name)
        if info is None:
            return
        consistent = bool(request.get("ConsistentRead")) or transactional
        projected = "ProjectionExpression" in request
        found: dict[tuple[str, str | None], dict[str, Any]] = {}
        if match:
            found = {info.item_key(item): item for item in returned if item}
        for at, key in enumerate(keys):
            item_key = info.item_key(key)
            item = found.get(item_key) if match else (returned[at] if at < len(returned) else None)
            shadow_key = (info.name, *item_key)
            if item and not projected:
                self._remember(info, shadow_key, Shadow.of(item, self._watched(info)))
            size = self.items[shadow_key].size if shadow_key in self.items else item_size(item or {})
            units = read_units(size if item else 0, consistent=consistent, transactional=transactional)
            self._add("dynamodb.reads.consistent" if consistent else "dynamodb.reads.eventual")
            self._add("dynamodb.rcu", units)
            self._add("dynamodb.rcu.consistent" if consistent else "dynamodb.rcu.eventual", units)
            self.track("dynamodb_partition_rcu", (info.name, item_key[0]), units)
            self.track("dynamodb_item_rcu", (info.name, item_key[0], item_key[1] or ""), units)

    def _query(self, operation: str, params: dict[str, Any], parsed: dict[str, Any]) -> None:
        info = self._table(params.get("TableName", ""))
        if info is None:
            return
        index = next((i for i in info.indexes if i.name == params.get("IndexName")), None)
        consistent = bool(params.get("ConsistentRead")) and (index is None or index.local)
        items = parsed.get("Items", [])
        units = read_units(sum(item_size(item) for item in items), consistent=consistent)
        self._add("dynamodb.reads.consistent" if consistent else "dynamodb.reads.eventual")
        self._add("dynamodb.rcu", units)
        self._add("dynamodb.rcu.consistent" if consistent else "dynamodb.rcu.eventual", units)
        if operation == "Scan":
            return
        hash_key = index.hash_key if index else info.hash_key
        partition = _key_condition_value(params, hash_key)
        if index is not None and not index.local:
            self.track("dynamodb_gsi_partition_rcu", (info.name, index.name, partition), units)
        else:
            self.track("dynamodb_partition_rcu", (info.name, partition), units)

    def _watched(self, info: TableInfo) -> set[str]:
        return {key for index in info.indexes for key in index.keys} | {info.hash_key}

    def _remember(self, info: TableInfo, shadow_key: tuple[str, str, str | None], shadow: Shadow | None) -> None:
        if shadow is None:
            self.items.pop(shadow_key, None)
            return
        self.items[shadow_key] = shadow
        if shadow.size > self.largest_item[0]:
            self.largest_item = (shadow.size, info.name, f"{shadow_key[1]}|{shadow_key[2] or ''}")

    def _write(
        self,
        operation: str,
        params: dict[str, Any],
        parsed: dict[str, Any],
        *,
        failed: bool,
        transactional: bool = False,
    ) -> None:
        info = self._table(params.get("TableName", ""))
        if info is None:
            return
        watched = self._watched(info)
        key_attributes = params["Item"] if operation == "PutItem" else params.get("Key", {})
        item_key = info.item_key(key_attributes)
        shadow_key = (info.name, *item_key)
        before = self.items.get(shadow_key)
        after: Shadow | None
        touched: set[str] = set()
        if operation == "PutItem":
            after = Shadow.of(params["Item"], watched)
            touched = set(after.sizes) | set(before.sizes if before else ())
        elif operation == "UpdateItem":
            after = before.copy() if before else Shadow.of(params.get("Key", {}), watched)
            touched = apply_update(
                after,
                params.get("UpdateExpression", ""),
                params.get("ExpressionAttributeNames", {}),
                params.get("ExpressionAttributeValues", {}),
                watched,
            )
            returned = parsed.get("Attributes")
            if returned and params.get("ReturnValues") == "ALL_NEW":
                after = Shadow.of(returned, watched)
            elif returned and params.get("ReturnValues") == "UPDATED_NEW":
                for name, value in returned.items():
                    _assign(after, name, value, watched)
        elif operation == "DeleteItem":
            after = None
        else:  # a transaction's ConditionCheck: charged like a write that changes nothing
            after = before
        size_before = before.size if before else 0
        size_after = size_before if failed or after is None else after.size
        units = write_units(size_before, size_after, transactional=transactional)
        self._add("dynamodb.writes")
        self._add(f"dynamodb.writes@{info.name}")
        self._add("dynamodb.wcu", units)
        self.track("dynamodb_partition_wcu", (info.name, item_key[0]), units)
        self.track("dynamodb_item_wcu", (info.name, item_key[0], item_key[1] or ""), units)
        if failed or operation == "Check":
            return
        self._index_writes(info, item_key[0], before, after, touched)
        self._remember(info, shadow_key, after)

    def _index_writes(
        self, info: TableInfo, partition: str, before: Shadow | None, after: Shadow | None, touched: set[str]
    ) -> None:
        """Writes a change causes in the table's secondary indexes (see the class docstring)."""
        for index in info.indexes:
            was_in = before is not None and all(k in before.sizes for k in index.keys)
            is_in = after is not None and all(k in after.sizes for k in index.keys)
            if not (was_in or is_in):
                continue
            keys_changed = not (was_in and is_in) or any(
                before.values.get(k) != after.values.get(k)  # type: ignore[union-attr]
                for k in index.keys
            )
            projected = set(index.non_key) if index.projection == "INCLUDE" else set()
            changed = keys_changed or (index.projection == "ALL" and bool(touched)) or bool(touched & projected)
            if not changed:
                continue
            writes: list[tuple[Shadow, str]] = []
            if was_in and (keys_changed or not is_in):
                writes.append((before, before.values.get(index.hash_key, partition)))  # type: ignore[union-attr]
            if is_in:
                writes.append((after, after.values.get(index.hash_key, partition)))  # type: ignore[union-attr]
            # An entry's first write happens once per recording (created, or first counted).
            klass = "start" if not was_in else None
            for shadow, hash_value in writes:
                entry = _index_entry_size(info, index, shadow)
                units = write_units(0, entry)
                self._add("dynamodb.index_wcu", units)
                if not was_in:
                    self._add("dynamodb.index_wcu_inserted", units)
                if index.local:
                    # An LSI's entries live in the table's partition: they share its throughput.
                    self.track("dynamodb_partition_wcu", (info.name, partition), units, klass)
                else:
                    self.track("dynamodb_gsi_partition_wcu", (info.name, index.name, hash_value), units, klass)

    # -- S3

    def _s3(self, operation: str, params: dict[str, Any], parsed: dict[str, Any], failed: bool) -> None:
        del parsed
        keys = [params[name] for name in ("Key", "Prefix") if isinstance(params.get(name), str)]
        keys += [entry["Key"] for entry in params.get("Delete", {}).get("Objects", [])]
        kind = "writes" if operation in S3_WRITES else "reads" if operation in S3_READS else None
        if kind is None:
            return
        self._add(f"s3.{kind}")
        owners, recordings = set(), set()
        for key in keys:
            match = _S3_PREFIX.match(key)
            if match:
                owners.add(match.group(1))
                if match.group(2):
                    recordings.add(match.group(1) + match.group(2))
        for prefix in owners:
            self.track(f"s3_owner_prefix_{kind}", (prefix,), 1)
        for prefix in recordings:
            self.track(f"s3_recording_prefix_{kind}", (prefix,), 1)
        if operation in S3_CREATES and not failed and str(params.get("Key", "")).startswith(REAPER_PREFIX):
            self.created_objects.append(params["Key"])

    # -- Kinesis

    def shard_of(self, partition_key: str, explicit_hash_key: str | None = None) -> str:
        """The shard a record goes to: its MD5 (or explicit hash key) within a shard's range."""
        # Kinesis's own mapping: the MD5 of the partition key as a 128-bit integer.
        digest = hashlib.md5(partition_key.encode(), usedforsecurity=False).hexdigest()
        point = int(explicit_hash_key) if explicit_hash_key else int(digest, 16)
        for shard, start, end in self.shards:
            if start <= point <= end:
                return shard
        return "unknown"

    def _kinesis(self, operation: str, params: dict[str, Any], parsed: dict[str, Any], failed: bool) -> None:
        del parsed, failed
        if operation == "PutRecords":
            records = params.get("Records", [])
        elif operation == "PutRecord":
            records = [params]
        else:
            return
        for record in records:
            partition_key = record["PartitionKey"]
            data = record["Data"]
            size = (len(data) if isinstance(data, bytes | bytearray) else len(str(data).encode())) + len(
                partition_key.encode()
            )
            shard = self.shard_of(partition_key, record.get("ExplicitHashKey"))
            self._add("kinesis.records")
            self._add("kinesis.bytes", size)
            self.track("kinesis_shard_records_in", (shard,), 1)
            self.track("kinesis_shard_bytes_in", (shard,), size)


def _index_entry_size(info: TableInfo, index: Index, shadow: Shadow) -> int:
    """An index entry: the table's and index's keys, the projected attributes, and 100 bytes."""
    if index.projection == "ALL":
        return shadow.size + 100
    names = {info.hash_key, *(k for k in (info.range_key,) if k), *index.keys}
    if index.projection == "INCLUDE":
        names |= set(index.non_key)
    return sum(len(n.encode()) + shadow.sizes.get(n, 0) for n in names) + 100


def _key_condition_value(params: dict[str, Any], hash_key: str) -> str:
    """The partition key value a Query's KeyConditionExpression asks for."""
    names = params.get("ExpressionAttributeNames", {})
    values = params.get("ExpressionAttributeValues", {})
    for left, placeholder in re.findall(
        r"([#A-Za-z0-9_]+)\s*=\s*(:[A-Za-z0-9_]+)", params.get("KeyConditionExpression", "")
    ):
        if names.get(left, left) == hash_key:
            return plain(values.get(placeholder))
    return "(unknown)"


# ---------------------------------------------------------------------------
# The workload: recorder batches


class Workload:
    """Recorder batches: a first batch with the page's snapshot, then 5 s of incremental events each.

    Event templates (rrweb's proportions: mouse moves, scrolls, mutations, clicks,
    input; ``tests/support/rrweb_stream.py``) are built once with times relative to their
    window; a batch is a template moved to its window, behind a custom event naming
    its seq. Templates rotate so visitors do not all send the same bytes.
    """

    def __init__(self, seed: int = 11, *, templates: int = 32) -> None:
        builder = StreamBuilder(seed, start=0)
        self.first = builder.full_snapshot(sections=4)
        window_ms = BATCH_SECONDS * 1000
        builder.now = 0
        self.templates: list[list[dict[str, Any]]] = [[] for _ in range(templates)]
        while True:
            event = builder.incremental()
            slot = event["timestamp"] // window_ms
            if slot >= templates:
                break
            self.templates[slot].append({**event, "timestamp": event["timestamp"] - slot * window_ms})

    def count(self, visitor: int, batch: int) -> int:
        """How many events ``events`` gives for this batch."""
        return 1 + (len(self.first) if batch == 0 else 0) + len(self._template(visitor, batch))

    def _template(self, visitor: int, batch: int) -> list[dict[str, Any]]:
        return self.templates[(visitor * 7 + batch) % len(self.templates)]

    def events(self, visitor: int, batch: int, seq: int, start_ms: int) -> list[dict[str, Any]]:
        """The events of one batch, at its window's time."""
        marker = {"type": 5, "timestamp": start_ms, "data": {"tag": MARKER_TAG, "payload": {"seq": seq}}}
        template = self._template(visitor, batch)
        head = [{**e, "timestamp": start_ms + 1 + i} for i, e in enumerate(self.first)] if batch == 0 else []
        return [marker, *head, *({**e, "timestamp": start_ms + e["timestamp"]} for e in template)]


@dataclass(eq=False)
class Visitor:
    """One recorded page: its recording, its queue of batches, what was acknowledged."""

    index: int
    recording_id: str
    address: str
    start: float
    start_ms: int
    queue: deque[int] = field(default_factory=deque)
    created: bool = False
    retry_pending: bool = False
    attempts: int = 0
    # seq -> events, of batches answered 2xx
    acknowledged: dict[int, int] = field(default_factory=dict)
    refused: list[int] = field(default_factory=list)
    bodies: dict[tuple[int, bool], bytes] = field(default_factory=dict)

    def seq(self, batch: int) -> int:
        """The recorder's seq of a batch: page start in ms x 1000, plus the batch's number."""
        return self.start_ms * 1000 + batch


@dataclass
class RouteStats:
    """Requests of one API route: statuses, handler time, and the AWS calls they made."""

    statuses: Counter[int] = field(default_factory=Counter)
    seconds: float = 0.0
    # (outcome) -> summed tally, and how many requests it sums
    tallies: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    counts: Counter[str] = field(default_factory=Counter)

    @property
    def requests(self) -> int:
        """Requests sent."""
        return sum(self.statuses.values())

    def add(self, status: int, seconds: float, tally: Counter[str]) -> None:
        """Record one request."""
        outcome = outcome_of(status)
        self.statuses[status] += 1
        self.seconds += seconds
        self.tallies[outcome].update(tally)
        self.counts[outcome] += 1


def outcome_of(status: int) -> str:
    """2xx, 429 or other."""
    return "2xx" if 200 <= status < 300 else "429" if status == 429 else "other"


def _recording_id(rng: random.Random) -> str:
    return "".join(rng.choice(_ID_ALPHABET) for _ in range(22))


def _address(index: int) -> str:
    """A distinct client address per visitor (from 10.0.0.1 on)."""
    number = index + 1
    return f"10.{number >> 16 & 255}.{number >> 8 & 255}.{number & 255}"


def _set_source_address(http: Any, address: str) -> bool:
    """Make the test client's next requests come from ``address``; False if it cannot.

    Chalice's test client sends every request from 127.0.0.1 (its event converter's
    ``LOCAL_SOURCE_IP``); visitors of a site come from their own addresses, which the
    API's per-client limits count.
    """
    converter = getattr(getattr(http, "_local_gateway", None), "event_converter", None)
    if converter is None or not hasattr(converter, "LOCAL_SOURCE_IP"):
        return False
    converter.LOCAL_SOURCE_IP = address
    return True


# ---------------------------------------------------------------------------
# The simulation


@dataclass(frozen=True, kw_only=True)
class Config:
    """What a run simulates."""

    recordings: int = DEFAULT_RECORDINGS
    seconds: int = DEFAULT_SECONDS
    compact: bool = False
    seed: int = 1

    @property
    def batches(self) -> int:
        """Batches per recording."""
        return max(1, self.seconds // BATCH_SECONDS)


class Simulation:
    """Visitors, the API, the consumer and the reaper, in simulated time."""

    def __init__(self, config: Config, *, clock: VirtualClock, meter: Meter, client: Any, names: Names) -> None:
        self.config = config
        self.clock = clock
        self.meter = meter
        self.client = client
        self.http = client.http
        self.names = names
        self.rng = random.Random(config.seed)
        self.workload = Workload(seed=config.seed + 10)
        ids = random.Random(config.seed + 20)
        self.visitors = [
            Visitor(
                index=i,
                recording_id=_recording_id(ids),
                address=_address(i),
                start=i * BATCH_SECONDS / config.recordings,
                start_ms=clock.wall_ms(i * BATCH_SECONDS / config.recordings),
            )
            for i in range(config.recordings)
        ]
        self.routes: dict[str, RouteStats] = defaultdict(RouteStats)
        self.key = ""
        self.token = ""
        self.distinct_addresses = True
        self.last_post = 0.0
        self.invocations: dict[str, list[float]] = defaultdict(list)
        self.consumed_records = 0
        self.consumer_failures: list[dict[str, Any]] = []
        self.compaction_outcomes: Counter[str] = Counter()
        self.esm: KinesisEventSource | None = None
        self.s3: Any = None
        self.screenshots = 0

    # -- setup: an owner and one ingest key, through the routes

    def sign_in(self) -> None:
        """Sign up, confirm, sign in and create one ingest key, as a site owner would."""
        email, password = "owner@scale.example.com", "Scale-Bench-Pass-42"
        json_headers = {"content-type": "application/json"}

        def post(path: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> Any:
            response = self.http.post(path, headers={**json_headers, **(headers or {})}, body=json.dumps(body))
            if response.status_code >= 300:
                raise RuntimeError(f"POST {path}: {response.status_code} {response.body[:300]!r}")
            return response

        with self.meter.acting("setup"):
            post("/auth/signup", {"email": email, "password": password})
            post("/auth/confirm", {"email": email, "code": "000000"})
            self.token = post("/auth/signin", {"email": email, "password": password}).json_body["accessToken"]
            created = post("/keys", {"name": "scale"}, {"authorization": f"Bearer {self.token}"})
            self.key = created.json_body["key"]

    # -- ingest

    def ingest(self) -> None:
        """Every visitor's batches, retried until acknowledged; the consumer after each second."""
        FLUSH, RETRY = 0, 1  # noqa: N806 (local constants)
        batches = self.config.batches
        heap: list[tuple[float, int, int, int, int]] = []
        order = 0
        for visitor in self.visitors:
            heap.append((visitor.start, order, FLUSH, visitor.index, 0))
            order += 1
        heapq.heapify(heap)
        deadline = batches * BATCH_SECONDS + GIVE_UP_AFTER_S
        tick = 1
        self.meter.rating = True
        while heap:
            at, _, kind, index, batch = heapq.heappop(heap)
            if at > deadline:
                break
            while tick <= at:
                self.tick(tick)
                tick += 1
            self.clock.set(at)
            visitor = self.visitors[index]
            if kind == FLUSH:
                visitor.queue.append(batch)
                if batch + 1 < batches:
                    heapq.heappush(heap, (at + BATCH_SECONDS, order, FLUSH, index, batch + 1))
                    order += 1
            else:
                visitor.retry_pending = False
            if visitor.retry_pending:
                continue
            wait = self._pump(visitor)
            if wait is not None:
                visitor.retry_pending = True
                heapq.heappush(heap, (at + wait, order, RETRY, index, 0))
                order += 1
        # Drain: what the stream still holds goes to the consumer.
        while self.tick(tick):
            tick += 1
        self.meter.rating = False

    def _pump(self, visitor: Visitor) -> float | None:
        """Send the visitor's queue in order; the seconds until a retry, or None when it is empty."""
        while visitor.queue:
            batch = visitor.queue[0]
            status, retry_after = self._post(visitor, batch)
            if 200 <= status < 300:
                visitor.queue.popleft()
                visitor.created = True
                visitor.attempts = 0
                continue
            if status in (408, 429) or status >= 500:
                visitor.attempts += 1
                return self._backoff(visitor.attempts, retry_after)
            # Refused for good (a 4xx other than 408/429): the recorder drops the batch.
            visitor.refused.append(batch)
            visitor.queue.popleft()
            visitor.attempts = 0
        return None

    def _backoff(self, attempts: int, retry_after: float | None) -> float:
        """site/src/recorder.js ``backoffMs``: Retry-After with up to 25% jitter, else exponential."""
        if retry_after is None:
            wait = 0.5 * 2 ** (attempts - 1) * (0.5 + self.rng.random() / 2)
        else:
            wait = max(RECORDER_MIN_RETRY_S, retry_after) * (1 + self.rng.random() / 4)
        return min(RECORDER_MAX_BACKOFF_S, wait)

    def _body(self, visitor: Visitor, batch: int, *, create: bool) -> bytes:
        """The batch as the recorder sends it: gzip JSON, with the recording's fields when it creates."""
        body = visitor.bodies.get((batch, create))
        if body is None:
            seq = visitor.seq(batch)
            start_ms = self.clock.wall_ms(visitor.start + batch * BATCH_SECONDS)
            events = self.workload.events(visitor.index, batch, seq, start_ms)
            payload: dict[str, Any] = {"seq": seq, "events": events}
            if create:
                payload = {
                    "id": visitor.recording_id,
                    "url": f"https://shop.example.com/products/{visitor.index}",
                    "title": f"Product {visitor.index}",
                    **payload,
                }
            # Browsers' CompressionStream("gzip") is zlib's default level.
            body = gzip.compress(json.dumps(payload, separators=(",", ":")).encode(), compresslevel=6)
            visitor.bodies[(batch, create)] = body
        return body

    def _post(self, visitor: Visitor, batch: int) -> tuple[int, float | None]:
        create = not visitor.created
        route = "create" if create else "events"
        path = "/recordings" if create else f"/recordings/{visitor.recording_id}/events"
        body = self._body(visitor, batch, create=create)
        self.distinct_addresses &= _set_source_address(self.http, visitor.address)
        with self.meter.acting("api"), self.meter.driven_by("start" if create else "events"):
            self.meter.begin_request()
            started = time.perf_counter()
            response = self.http.post(
                f"{path}?ingestKey={urllib.parse.quote(self.key)}", headers={"content-type": "text/plain"}, body=body
            )
            elapsed = time.perf_counter() - started
            tally = self.meter.end_request()
        self.routes[route].add(response.status_code, elapsed, tally)
        if create and 200 <= response.status_code < 300:
            self._screenshot(response)
        self.meter.track("api_gateway_requests", ("account",), 1)
        self.last_post = max(self.last_post, self.clock.offset)
        if 200 <= response.status_code < 300:
            visitor.acknowledged[visitor.seq(batch)] = self.workload.count(visitor.index, batch)
            visitor.bodies.pop((batch, create), None)
        retry_after = _header(response.headers, "retry-after")
        return response.status_code, float(retry_after) if retry_after not in (None, "") else None

    def _screenshot(self, response: Any) -> None:
        """The recorder's thumbnail, uploaded by the browser straight to S3 with the create's form.

        Stored with PutObject under the form's key (what S3 does with the form's POST):
        one S3 write under the recording's prefix, and one reaper invocation, per start.
        """
        upload = (response.json_body or {}).get("screenshotUpload") or {}
        key = (upload.get("fields") or {}).get("key")
        if not key or self.s3 is None:
            return
        with self.meter.acting("browser"), self.meter.driven_by("start"):
            self.s3.put_object(
                Bucket=self.names.bucket, Key=key, Body=b"\xff" * cost.SCREENSHOT_BYTES, ContentType="image/jpeg"
            )
        self.screenshots += 1

    # -- the stream consumer, as Lambda's event source mapping runs it

    def start_consumer(self, session: Any, variables: dict[str, str]) -> None:
        """The event source mapping with the stack's default settings, invoking ``consume_events``."""
        kinesis = session.client("kinesis")
        sqs = session.client("sqs")
        self.s3 = session.client("s3")
        with self.meter.quiet():
            stream_arn = kinesis.describe_stream_summary(StreamName=self.names.stream)["StreamDescriptionSummary"][
                "StreamARN"
            ]

        def on_failure(message: dict[str, Any]) -> None:
            self.consumer_failures.append(message)
            sqs.send_message(QueueUrl=variables["RRWEB_FAILURE_QUEUE_URL"], MessageBody=json.dumps(message))

        self.esm = KinesisEventSource(
            kinesis=kinesis,
            stream_arn=stream_arn,
            handler=self._consume,
            on_failure=on_failure,
            config=MappingConfig.of(STACK_DEFAULTS),
        )

    def tick(self, second: int) -> int:
        """One second of Lambda's polling: every shard read, its records handed over; records handled."""
        assert self.esm is not None
        self.clock.set(second)
        with self.meter.acting("event_source_mapping"):
            return self.esm.poll(flush=True)

    def _consume(self, event: dict[str, Any]) -> dict[str, Any] | None:
        self.consumed_records += len(event["Records"])
        response = self._invoke("consumer", "consume_events", event)
        self.reap()
        return response

    def _invoke(self, phase: str, function: str, event: dict[str, Any]) -> Any:
        with self.meter.acting(phase):
            started = time.perf_counter()
            try:
                return self.client.lambda_.invoke(function, event).payload
            finally:
                self.invocations[phase].append(time.perf_counter() - started)

    def reap(self) -> None:
        """The bucket's notifications: one reaper invocation per object created under recordings/."""
        while self.meter.created_objects:
            key = self.meter.created_objects.pop(0)
            event = self.client.events.generate_s3_event(
                bucket=self.names.bucket, key=urllib.parse.quote_plus(key, safe="/")
            )
            screenshot = key.endswith("/" + SCREENSHOT_NAME)
            self.meter.track("reaper_invocations", ("account",), 1, "start" if screenshot else None)
            self._invoke("reaper", "reap_orphans", event)

    # -- compaction, once every recording is idle

    def compact(self, idle_seconds: int) -> None:
        """Move past the idle time, then run the scheduled compaction until it finds nothing."""
        self.clock.set(self.clock.offset + idle_seconds + 60)
        event = self.client.events.generate_cw_event(
            source="aws.events", detail_type="Scheduled Event", detail={}, resources=[]
        )
        for _ in range(COMPACTION_RUNS):
            outcomes = self._invoke("compaction", "compact_recordings", event) or {}
            self.reap()
            self.compaction_outcomes.update(outcomes)
            if not outcomes.get("compacted"):
                break
            self.clock.set(self.clock.offset + STACK_DEFAULTS.compact_every_minutes * 60)

    # -- reading back

    def read_back(self) -> dict[str, Any]:
        """Every recording's events through GET /recordings/{id}/events as the owner: seqs and events."""
        readable_batches = readable_events = 0
        mismatched: list[str] = []
        statuses: Counter[int] = Counter()
        self.distinct_addresses &= _set_source_address(self.http, "192.0.2.1")
        with self.meter.acting("read_back"):
            for visitor in self.visitors:
                seqs, events = self._read(visitor, statuses)
                readable_batches += len(seqs)
                readable_events += events
                if seqs != set(visitor.acknowledged):
                    mismatched.append(visitor.recording_id)
        return {
            "batches": readable_batches,
            "events": readable_events,
            "statuses": {str(status): count for status, count in sorted(statuses.items())},
            "recordings_differing": len(mismatched),
            "differing_examples": mismatched[:5],
        }

    def _read(self, visitor: Visitor, statuses: Counter[int]) -> tuple[set[int], int]:
        seqs: set[int] = set()
        events = 0
        cursor: str | None = None
        headers = {"authorization": f"Bearer {self.token}", "accept": "*/*", "accept-encoding": "gzip"}
        while True:
            path = f"/recordings/{visitor.recording_id}/events" + (
                f"?after={urllib.parse.quote(cursor)}" if cursor else ""
            )
            self.meter.begin_request()
            started = time.perf_counter()
            response = self.http.get(path, headers=headers)
            self.routes["read"].add(response.status_code, time.perf_counter() - started, self.meter.end_request())
            statuses[response.status_code] += 1
            if response.status_code == 429:
                self.clock.set(self.clock.offset + float(_header(response.headers, "retry-after") or 1))
                continue
            if response.status_code != 200:
                return seqs, events
            body = response.body
            if _header(response.headers, "content-encoding") == "gzip":
                body = gzip.decompress(body)
            for line in body.splitlines():
                if not line.strip():
                    continue
                event = json.loads(line)
                events += 1
                data = event.get("data") if event.get("type") == 5 else None
                if isinstance(data, dict) and data.get("tag") == MARKER_TAG:
                    seqs.add(int(data["payload"]["seq"]))
            cursor = _header(response.headers, "x-next-cursor")
            if not cursor:
                return seqs, events


def _header(headers: dict[str, str], name: str) -> str | None:
    for key, value in (headers or {}).items():
        if key.lower() == name:
            return value
    return None


# ---------------------------------------------------------------------------
# Rates, scaling and the limits


def recording_token_matcher(recording_ids: Iterable[str]) -> Callable[[tuple[str, ...]], bool]:
    """Whether a key (partition key value, S3 prefix, ...) belongs to one recording.

    A key names a recording when one of its tokens (split on anything a recording id
    cannot hold) is a simulated recording id: ``rec#<owner>#<id>``,
    ``recordings/owner=<o>/recording=<id>/``. Such a key's traffic is that recording's
    alone, and does not grow with the number of recordings.
    """
    ids = set(recording_ids)
    split = re.compile(r"[^A-Za-z0-9_-]+")

    def belongs(key: tuple[str, ...]) -> bool:
        return any(token in ids for part in key for token in split.split(part))

    return belongs


@dataclass(frozen=True)
class Measure:
    """A figure at N and at each scale, the busiest second at N, and the key it was measured on."""

    at_n: float
    scaled: tuple[float, ...]
    # None where a busiest second means nothing (a size, a concurrency estimate)
    peak_at_n: float | None = None
    key: str = ""
    note: str = ""
    # The stack config the figures assume (then the row does not fail the verdict), and
    # the percent of the limit at N and each scale under other configs: (label, percents).
    config: str = ""
    alternatives: tuple[tuple[str, tuple[float, ...]], ...] = ()


def scale_keys(
    tracks: dict[tuple[str, ...], Track],
    *,
    duration: float,
    factors: tuple[float, ...],
    per_recording: Callable[[tuple[str, ...]], bool],
) -> Measure:
    """The highest per-second rate over ``tracks``' keys, at N and scaled.

    Shared keys scale by the factor; a recording's own keys do not (see
    ``recording_token_matcher``). The highest at each scale is the larger of the two.
    """
    shared = [(track.total / duration, track.peak(), key) for key, track in tracks.items() if not per_recording(key)]
    own = [(track.total / duration, track.peak(), key) for key, track in tracks.items() if per_recording(key)]
    top_shared = max(shared, default=(0.0, 0.0, ()))
    top_own = max(own, default=(0.0, 0.0, ()))
    at_n = max(top_shared[0], top_own[0])
    scaled = tuple(max(top_shared[0] * factor, top_own[0]) for factor in factors)
    # The key named is the one the figure at 10,000 comes from; the one at N may differ.
    at_scale = top_shared if top_shared[0] * (factors[0] if factors else 1) >= top_own[0] else top_own
    at_n_top = top_shared if top_shared[0] >= top_own[0] else top_own
    note = f"at N: {'|'.join(at_n_top[2])}" if at_n_top[2] != at_scale[2] else ""
    peak = max(top_shared[1], top_own[1])
    return Measure(at_n=at_n, scaled=scaled, peak_at_n=peak, key="|".join(at_scale[2]), note=note)


def limit_rows(measures: dict[str, Measure], *, scales: tuple[int, ...] = SCALES) -> list[dict[str, Any]]:
    """The limit table: each limit's value, the figure at N and at each scale, percent of the limit.

    A row counts for the verdict unless it is advisory (``ADVISORY``) or its figures
    assume a config the row names (``Measure.config``: the shard count to set).
    """
    rows = []
    for name, measure in measures.items():
        limit = LIMITS[name]
        row: dict[str, Any] = {
            "limit": name,
            "label": limit.label,
            "documented": limit.value,
            "unit": limit.unit,
            "source": limit.source,
            "at_n": measure.at_n,
            "peak_second_at_n": measure.peak_at_n,
            "percent_at_n": 100 * measure.at_n / limit.value,
            "key": measure.key,
            "note": measure.note,
            "kind": "advisory"
            if name in ADVISORY
            else "config"
            if measure.config
            else "quota"
            if name in QUOTAS
            else "fixed",
            "counts": name not in ADVISORY and not measure.config,
            "config": measure.config,
            "alternatives": {label: list(percents) for label, percents in measure.alternatives},
        }
        for scale, value in zip(scales, measure.scaled, strict=True):
            row[f"at_{scale}"] = value
            row[f"percent_at_{scale}"] = 100 * value / limit.value
            row[f"crossed_at_{scale}"] = value > limit.value
            if value > limit.value:
                row[f"remedy_at_{scale}"] = REMEDIES[name]
        rows.append(row)
    return rows


def verdict(rows: list[dict[str, Any]], *, acknowledged: int, readable: int, exact: bool) -> dict[str, Any]:
    """FAIL when a counted limit is crossed at 10,000, or the batches acknowledged are not exactly those readable.

    Only rows that count (``limit_rows``) are judged, and the highest percent at 10,000
    is over them.
    """
    counted = [row for row in rows if row.get("counts", True)]
    crossed = [row["limit"] for row in counted if row.get("crossed_at_10000")]
    highest = max(counted, key=lambda row: row["percent_at_10000"], default=None)
    failures = [f"{name} crossed at 10,000" for name in crossed]
    if acknowledged != readable or not exact:
        failures.append(
            f"acknowledged {acknowledged} != readable {readable}"
            if acknowledged != readable
            else "a recording's readable seqs differ from its acknowledged ones"
        )
    highest_percent = highest["percent_at_10000"] if highest else 0.0
    return {
        "pass": not failures,
        "failures": failures,
        "highest_percent_at_10k": highest_percent,
        "highest_limit_at_10k": highest["limit"] if highest else None,
        "under_50_percent_at_10k": highest_percent < 100 * HEADROOM,
        "crossed_at_100k": [
            {"limit": row["limit"], "percent": row["percent_at_100000"], "change": row["remedy_at_100000"]}
            for row in counted
            if row.get("crossed_at_100000")
        ],
        "advisory_crossed_at_10k": [
            row["limit"] for row in rows if row.get("kind") == "advisory" and row.get("crossed_at_10000")
        ],
    }


def shards_needed(bytes_per_s: float, records_per_s: float, *, headroom: float = HEADROOM) -> int:
    """Shards that keep the stream's busiest figure under ``headroom`` of a shard's limits (in and out)."""
    per_shard_out = LIMITS["kinesis_shard_bytes_out"].value / STREAM_READERS
    return max(
        1,
        math.ceil(bytes_per_s / (headroom * LIMITS["kinesis_shard_bytes_in"].value)),
        math.ceil(records_per_s / (headroom * LIMITS["kinesis_shard_records_in"].value)),
        math.ceil(bytes_per_s / (headroom * per_shard_out)),
    )


def _top(tracks: dict[tuple[str, ...], Track], duration: float, count: int = 5) -> list[dict[str, Any]]:
    """The busiest keys of a rate: total, per second over the run, busiest second."""
    ranked = sorted(tracks.items(), key=lambda entry: entry[1].total, reverse=True)[:count]
    return [
        {"key": "|".join(key), "total": track.total, "per_s": track.total / duration, "peak_second": track.peak()}
        for key, track in ranked
    ]


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def _per(tally: Counter[str], count: float) -> dict[str, float]:
    """A tally per unit (per POST, per object), rounded for reading."""
    if not count:
        return {}
    keep = ("aws_call", "dynamodb.", "kinesis.", "s3.", "calls.")
    return {name: round(value / count, 3) for name, value in sorted(tally.items()) if name.startswith(keep)}


def steady_weights(*, recordings: int, duration: float, events_requests: int, seconds: int) -> dict[str, float]:
    """Weights that turn each class's amounts over the run into steady state's (``RATE_CLASSES``).

    In steady state N concurrent recordings post N / BATCH_SECONDS batches a second and
    start N / START_SECONDS recordings a second (a recording lasts START_SECONDS, or the
    run's length if longer). A run starts every recording at once, so it holds far more
    starts a second than that: what a start drives is scaled down to steady state's
    starts, and what a POST /events drives up to the batches that are not a start.
    """
    start_seconds = max(START_SECONDS, seconds)
    steady_events = recordings / BATCH_SECONDS - recordings / start_seconds
    measured_events = events_requests / duration if duration else 0.0
    return {
        "batch": 1.0,
        "start": duration / start_seconds,
        "events": steady_events / measured_events if measured_events else 1.0,
    }


def _counts(tally: Counter[str], count: float) -> dict[str, float]:
    """The stable request counts of one unit (a POST, a chunk object, a reaper call)."""
    if not count:
        return {}

    def per(*names: str) -> float:
        return round(sum(tally.get(name, 0) for name in names) / count, 4)

    return {
        "dynamodb_writes": per("dynamodb.writes"),
        "wcu": per("dynamodb.wcu"),
        "index_wcu": per("dynamodb.index_wcu"),
        "rcu": per("dynamodb.rcu"),
        "rcu_consistent": per("dynamodb.rcu.consistent"),
        "rcu_eventual": per("dynamodb.rcu.eventual"),
        "kinesis_put_records_calls": per("calls.kinesis.PutRecords", "calls.kinesis.PutRecord"),
        "kinesis_records": per("kinesis.records"),
        "kinesis_bytes": per("kinesis.bytes"),
        "s3_put": per(*(f"calls.s3.{operation}" for operation in sorted(S3_WRITES))),
        "s3_get": per("calls.s3.GetObject", "calls.s3.HeadObject"),
        "s3_list": per("calls.s3.ListObjectsV2", "calls.s3.ListObjects"),
        "aws_calls": per("aws_calls"),
        "units": count,
    }


def per_request(sim: Simulation, meter: Meter) -> dict[str, Any]:
    """What one create, one events POST, one chunk object and one reaper call ask of AWS (the cost model's input).

    Route figures are over the route's 2xx answers; they include each route's share of
    what an instance does now and then (reading the ingest key, leasing a rate slice).
    The consumer's index writes are split: an entry's first write happens once per
    recording (``index_wcu_once_per_recording``), the rest per chunk (``index_wcu``).
    """
    create = sim.routes["create"]
    events = sim.routes["events"]
    consumer = meter.tally["consumer"]
    chunks = consumer.get("calls.s3.PutObject", 0)
    inserted = consumer.get("dynamodb.index_wcu_inserted", 0)
    counted = len(sim.visitors)
    chunk = _counts(consumer, chunks)
    if chunk:
        chunk["index_wcu"] = round((consumer.get("dynamodb.index_wcu", 0) - inserted) / chunks, 4)
        chunk["index_wcu_once_per_recording"] = round(inserted / counted, 4) if counted else 0.0
    return {
        "create": _counts(create.tallies["2xx"], create.counts["2xx"]),
        "events": _counts(events.tallies["2xx"], events.counts["2xx"]),
        "consumer_chunk_object": chunk,
        "reaper_invocation": _counts(meter.tally["reaper"], len(sim.invocations["reaper"])),
    }


def writes_per_post(sim: Simulation, names: Names = NAMES) -> dict[str, float]:
    """The API's DynamoDB write requests per POST: over creates and events, and per events POST alone."""
    create, events = sim.routes["create"], sim.routes["events"]

    def writes(route: RouteStats, suffix: str = "") -> float:
        return sum(tally.get("dynamodb.writes" + suffix, 0) for tally in route.tallies.values())

    posts = create.requests + events.requests
    per_events = events.requests or 1
    return {
        "all_posts": round((writes(create) + writes(events)) / posts, 4) if posts else 0.0,
        "events_post": round(writes(events) / per_events, 4),
        "events_post_recordings_table": round(writes(events, f"@{names.table}") / per_events, 4),
        "events_post_rate_leases": round(writes(events, f"@{names.access_table}") / per_events, 4),
    }


def _percents(values: Iterable[float], limit: str) -> tuple[float, ...]:
    return tuple(100 * value / LIMITS[limit].value for value in values)


def analyse(sim: Simulation, meter: Meter, *, delivery: dict[str, Any], read: dict[str, Any]) -> dict[str, Any]:
    """Figures, per-operation counts, the limit table and the verdict of a finished run."""
    config = sim.config
    n = config.recordings
    factors = tuple(scale / n for scale in SCALES)
    duration = max(float(config.seconds), sim.last_post)
    belongs = recording_token_matcher(v.recording_id for v in sim.visitors)
    weights = steady_weights(
        recordings=n, duration=duration, events_requests=sim.routes["events"].requests, seconds=config.seconds
    )
    rates = meter.weighted(weights)

    def keys(kind: str) -> Measure:
        return scale_keys(rates[kind], duration=duration, factors=factors, per_recording=belongs)

    def total(kind: str) -> tuple[float, float]:
        tracks = rates[kind].values()
        peak_seconds: Counter[int] = Counter()
        for track in tracks:
            peak_seconds.update(track.seconds)
        return sum(track.total for track in tracks) / duration, max(peak_seconds.values(), default=0.0)

    measures: dict[str, Measure] = {}
    for kind in (
        "dynamodb_partition_wcu",
        "dynamodb_partition_rcu",
        "dynamodb_item_wcu",
        "dynamodb_item_rcu",
        "dynamodb_gsi_partition_wcu",
    ):
        measures[kind] = keys(kind)
    gsi = measures["dynamodb_gsi_partition_wcu"]
    # activeAt moves at most every ACTIVE_REFRESH_SECONDS per recording (two index writes):
    # a run shorter than that sees none; their bound, spread over the compaction shards.
    refresh = 2 / api_settings.ACTIVE_REFRESH_SECONDS / api_settings.COMPACTION_SHARDS
    measures["dynamodb_gsi_partition_wcu"] = dataclasses.replace(
        gsi,
        note="; ".join(
            part
            for part in (
                gsi.note,
                f"byPendingCompaction's activeAt refreshes (not seen in {config.seconds} s) add at most "
                f"{refresh * SCALES[0]:.2f} WCU/s per index partition at 10,000",
            )
            if part
        ),
    )
    size, table, item = meter.largest_item
    measures["dynamodb_item_size"] = Measure(
        at_n=size, scaled=(size,) * len(SCALES), key=f"{table}|{item}", note="does not grow with N"
    )
    measures["dynamodb_item_collection"] = _collections(meter, duration, factors, belongs)

    # Kinesis: what the whole stream carries, spread evenly over the shards each scale
    # needs (recording ids hash evenly over the shards' ranges); judged at that count.
    stream_bytes, peak_bytes = total("kinesis_shard_bytes_in")
    stream_records, peak_records = total("kinesis_shard_records_in")
    sizes = (n, *SCALES)
    all_factors = (1.0, *factors)
    shards = {
        str(count): shards_needed(stream_bytes * factor, stream_records * factor)
        for count, factor in zip(sizes, all_factors, strict=True)
    }
    parallel = STACK_DEFAULTS.consumer_parallelization
    configured = ", ".join(
        f"{count:,}: kinesisShards {shards[str(count)]} (consumer concurrency {shards[str(count)]} x "
        f"consumerParallelization)"
        for count in sizes
    )

    def per_shard(rate: float, peak: float, limit: str, readers: int = 1) -> Measure:
        at_scales = [rate * factor * readers for factor in all_factors]
        fixed = (
            (f"stack default ({STACK_DEFAULTS.kinesis_shards} shard)", STACK_DEFAULTS.kinesis_shards),
            (f"prod ({PROD.kinesis_shards} shards)", PROD.kinesis_shards),
        )
        return Measure(
            at_n=at_scales[0] / shards[str(n)],
            scaled=tuple(value / shards[str(count)] for value, count in zip(at_scales[1:], SCALES, strict=True)),
            peak_at_n=peak * readers / shards[str(n)],
            key="stream / kinesisShards",
            note=("readers: consumer + Firehose; " if readers > 1 else "") + "judged at " + configured,
            config="kinesisShards: " + " / ".join(str(shards[str(count)]) for count in sizes),
            alternatives=tuple(
                (label, _percents((value / count for value in at_scales), limit)) for label, count in fixed
            ),
        )

    measures["kinesis_shard_bytes_in"] = per_shard(stream_bytes, peak_bytes, "kinesis_shard_bytes_in")
    measures["kinesis_shard_records_in"] = per_shard(stream_records, peak_records, "kinesis_shard_records_in")
    measures["kinesis_shard_bytes_out"] = per_shard(
        stream_bytes, peak_bytes, "kinesis_shard_bytes_out", readers=STREAM_READERS
    )
    measures["firehose_active_partitions"] = Measure(
        at_n=delivery["active_partitions"],
        scaled=tuple(
            delivery["active_partitions"] * (factor if delivery["dynamic_partitioning"] else 1) for factor in factors
        ),
        note="no dynamic partitioning"
        if not delivery["dynamic_partitioning"]
        else "one partition per active recording",
    )
    for kind in (
        "s3_recording_prefix_writes",
        "s3_recording_prefix_reads",
        "s3_owner_prefix_writes",
        "s3_owner_prefix_reads",
    ):
        measures[kind] = keys(kind)
    for kind in ("s3_owner_prefix_writes", "s3_owner_prefix_reads"):
        measures[kind] = dataclasses.replace(
            measures[kind],
            note="advisory: every object sits under its recording's own prefix, S3's limit is per partitioned"
            " prefix, and S3 splits a busy owner prefix by the keys below it (503 SlowDown meanwhile;"
            " the consumer's PUT is retried by Lambda)",
        )
    api_rate, api_peak = total("api_gateway_requests")
    measures["api_gateway_requests"] = Measure(
        at_n=api_rate, scaled=tuple(api_rate * f for f in factors), peak_at_n=api_peak, key="account"
    )

    # Lambda: API requests x their handler time, plus the consumer (one execution per
    # shard per parallelization, at the shards each scale needs), plus the reaper
    # (invocations x its time). Judged with the cost model's handler times on AWS
    # (bench/cost.py), where every call waits for the network; moto in process answers
    # in a fraction of that (printed beside).
    ingest_routes = [sim.routes[r] for r in ("create", "events")]
    api_requests = sum(route.requests for route in ingest_routes)
    moto_api_s = sum(route.seconds for route in ingest_routes) / api_requests if api_requests else 0.0
    reaper_rate, _ = total("reaper_invocations")
    moto_reaper_s = _mean(sim.invocations["reaper"])
    aws_api_s, aws_reaper_s = cost.HANDLER_SECONDS, cost.REAPER_SECONDS

    def concurrency(factor: float, shard_count: int, api_s: float, reaper_s: float) -> float:
        return api_rate * factor * api_s + shard_count * parallel + reaper_rate * factor * reaper_s

    with_moto = [
        concurrency(f, shards[str(count)], moto_api_s, moto_reaper_s)
        for count, f in zip(sizes, all_factors, strict=True)
    ]
    with_aws = [
        concurrency(f, shards[str(count)], aws_api_s, aws_reaper_s) for count, f in zip(sizes, all_factors, strict=True)
    ]
    measures["lambda_concurrency"] = Measure(
        at_n=with_aws[0],
        scaled=tuple(with_aws[1:]),
        note=(
            f"AWS handler times (bench/cost.py): API {aws_api_s * 1000:.0f} ms x requests/s + kinesisShards x "
            f"{parallel} + reaper {aws_reaper_s * 1000:.0f} ms x objects/s; with moto's in-process times (API "
            f"{moto_api_s * 1000:.1f} ms, reaper {moto_reaper_s * 1000:.1f} ms): "
            + ", ".join(f"{value:,.0f} at {count:,}" for count, value in zip(sizes, with_moto, strict=True))
        ),
    )
    measures["kinesis_account_shards"] = Measure(
        at_n=shards[str(n)],
        scaled=tuple(shards[str(count)] for count in SCALES),
        key="account",
        note=f"the shards each scale needs; against {KINESIS_ACCOUNT_SHARDS_ELSEWHERE:,} (other Regions' smallest"
        " default): "
        + ", ".join(
            f"{100 * shards[str(count)] / KINESIS_ACCOUNT_SHARDS_ELSEWHERE:.1f}% at {count:,}" for count in sizes
        ),
    )
    rows = limit_rows(measures)
    api_per_minute = [api_rate * f * 60 for f in all_factors]
    config_to_set = {
        str(count): {
            "kinesisShards": shards[str(count)],
            "consumer_concurrency": f"{shards[str(count)]} x consumerParallelization",
            "api_requests_per_s": round(api_rate * f, 1),
            # Under half of each: the stage throttle and the one key's budget per minute.
            "throttleRateLimit_at_least": math.ceil(api_rate * f / HEADROOM),
            "keyRequestsPerMinute_at_least": math.ceil(per_minute / HEADROOM),
        }
        for count, f, per_minute in zip(sizes, all_factors, api_per_minute, strict=True)
    }

    acknowledged_batches = sum(len(v.acknowledged) for v in sim.visitors)
    acknowledged_events = sum(sum(v.acknowledged.values()) for v in sim.visitors)
    exact = read["recordings_differing"] == 0 and read["events"] == acknowledged_events
    outcome = verdict(rows, acknowledged=acknowledged_batches, readable=read["batches"], exact=exact)

    chunk_objects = meter.tally["consumer"].get("calls.s3.PutObject", 0)
    compacted = sim.compaction_outcomes.get("compacted", 0)
    per_post = {
        route: {
            outcome_name: {
                "requests": stats.counts[outcome_name],
                **_per(stats.tallies[outcome_name], stats.counts[outcome_name]),
            }
            for outcome_name in stats.counts
        }
        for route, stats in sim.routes.items()
    }
    running: Counter[str] = Counter()
    for (phase, service, operation), count in meter.calls.items():
        if phase in INGEST_PHASES:
            running[f"{service}.{operation}"] += count
    requests: dict[str, dict[str, dict[str, int]]] = defaultdict(lambda: defaultdict(dict))
    for (phase, service, operation), count in sorted(meter.calls.items()):
        requests[phase][service][operation] = count
    table_info = {
        name: {
            "hash_key": info.hash_key,
            "range_key": info.range_key,
            "indexes": [
                {"name": i.name, "local": i.local, "keys": list(i.keys), "projection": i.projection}
                for i in info.indexes
            ],
        }
        for name, info in meter.tables.items()
    }
    return {
        "config": {
            "recordings": n,
            "seconds": config.seconds,
            "batch_seconds": BATCH_SECONDS,
            "batches_per_recording": config.batches,
            "compact": config.compact,
            "seed": config.seed,
            "shards": len(meter.shards),
            "consumer_batch_size": STACK_DEFAULTS.consumer_batch_size,
            "consumer_batching_window_seconds": STACK_DEFAULTS.consumer_batching_window_seconds,
            "consumer_parallelization": parallel,
            "distinct_client_addresses": sim.distinct_addresses,
        },
        "simulated_ingest_seconds": duration,
        # How the run's amounts were turned into steady state's (steady_weights).
        "steady_state": {
            "recording_seconds": max(START_SECONDS, config.seconds),
            "starts_per_s": n / max(START_SECONDS, config.seconds),
            "posts_per_s": n / BATCH_SECONDS,
            "weights": {klass: round(weight, 4) for klass, weight in weights.items()},
        },
        "screenshots": sim.screenshots,
        "per_request": per_request(sim, meter),
        "writes_per_post": writes_per_post(sim),
        "routes": {
            route: {
                "requests": stats.requests,
                "statuses": {str(status): count for status, count in sorted(stats.statuses.items())},
                "429": stats.statuses.get(429, 0),
                "non_2xx": sum(c for s, c in stats.statuses.items() if not 200 <= s < 300),
                "mean_handler_ms": round(1000 * stats.seconds / stats.requests, 2) if stats.requests else 0.0,
            }
            for route, stats in sim.routes.items()
        },
        "acknowledged": {"batches": acknowledged_batches, "events": acknowledged_events},
        "readable": read,
        "acknowledged_equals_readable": acknowledged_batches == read["batches"] and exact,
        "never_acknowledged": {
            "refused_batches": sum(len(v.refused) for v in sim.visitors),
            "still_queued_at_the_end": sum(len(v.queue) for v in sim.visitors),
        },
        "per_post": per_post,
        "consumer": {
            "invocations": len(sim.invocations["consumer"]),
            "records": sim.consumed_records,
            "chunk_objects": chunk_objects,
            "mean_invocation_ms": round(1000 * _mean(sim.invocations["consumer"]), 2),
            "failed_batches_sent_to_queue": len(sim.consumer_failures),
            "per_chunk_object": _per(meter.tally["consumer"], chunk_objects),
        },
        "reaper": {
            "invocations": len(sim.invocations["reaper"]),
            "mean_invocation_ms": round(1000 * moto_reaper_s, 2),
            "per_invocation": _per(meter.tally["reaper"], len(sim.invocations["reaper"])),
        },
        "compaction": {
            "runs": len(sim.invocations["compaction"]),
            "outcomes": dict(sim.compaction_outcomes),
            "per_recording_compacted": _per(meter.tally["compaction"], compacted),
        },
        "event_source_mapping": _per(meter.tally["event_source_mapping"], 1),
        "kinesis": {
            "shards": [shard[0] for shard in meter.shards],
            "per_shard": {
                key[0]: {
                    "records": rates["kinesis_shard_records_in"][key].total,
                    "bytes": track.total,
                    "records_per_s": rates["kinesis_shard_records_in"][key].total / duration,
                    "bytes_per_s": track.total / duration,
                }
                for key, track in rates["kinesis_shard_bytes_in"].items()
            },
            "stream_bytes_per_s": stream_bytes,
            "stream_records_per_s": stream_records,
            "shards_needed_under_50_percent": shards,
            "stream_peak_bytes_per_s": peak_bytes,
            "stream_peak_records_per_s": peak_records,
        },
        "config_to_set": config_to_set,
        "dynamodb": {
            "tables": table_info,
            "largest_item": {"bytes": size, "key": f"{table}|{item}"},
            "top": {kind: _top(rates[kind], duration) for kind in RATES if kind.startswith("dynamodb_")},
        },
        "s3": {
            "recording_prefixes": len(
                {k for kind in ("s3_recording_prefix_writes", "s3_recording_prefix_reads") for k in rates[kind]}
            ),
            "owner_prefixes": len(
                {k for kind in ("s3_owner_prefix_writes", "s3_owner_prefix_reads") for k in rates[kind]}
            ),
            "top": {kind: _top(rates[kind], duration, 3) for kind in RATES if kind.startswith("s3_")},
        },
        "firehose": delivery,
        "limits": rows,
        "verdict": outcome,
        "requests": {phase: {s: dict(ops) for s, ops in services.items()} for phase, services in requests.items()},
        # What the running stack asks of AWS per acknowledged batch (API, event source
        # mapping, consumer, reaper), by service and operation: what a cost model reads.
        "per_acknowledged_batch": {
            operation: round(count / acknowledged_batches, 4) for operation, count in sorted(running.items())
        }
        if acknowledged_batches
        else {},
        "requests_total": sum(meter.calls.values()),
    }


def _collections(
    meter: Meter, duration: float, factors: tuple[float, ...], belongs: Callable[[tuple[str, ...]], bool]
) -> Measure:
    """The largest item collection of a table with an LSI, and its growth per month at each scale.

    A collection is every item under one partition key value plus their LSI entries.
    A shared one (an owner's) grows with the recordings created: its bytes per simulated
    second, times a month, times the scale; a recording's own does not grow after it ends.
    """
    sizes: Counter[tuple[str, str]] = Counter()
    for (table, partition, _), shadow in meter.items.items():
        info = meter.tables.get(table)
        if info is None or not info.has_lsi:
            continue
        sizes[(table, partition)] += shadow.size + sum(
            _index_entry_size(info, index, shadow)
            for index in info.indexes
            if index.local and all(k in shadow.sizes for k in index.keys)
        )
    if not sizes:
        return Measure(at_n=0.0, scaled=(0.0,) * len(factors), note="no table has a local secondary index")
    (table, partition), size = sizes.most_common(1)[0]
    shared = not belongs((partition,))
    per_month = size / duration * SECONDS_PER_MONTH if shared else float(size)
    return Measure(
        at_n=per_month,
        scaled=tuple(per_month * (factor if shared else 1) for factor in factors),
        key=f"{table}|{partition}",
        note=f"{size} bytes after {duration:.0f} s, growth per 30 days" if shared else "one recording's collection",
    )


# ---------------------------------------------------------------------------
# Running it


@contextmanager
def _stack(meter: Meter, clock: VirtualClock) -> Iterator[tuple[Any, dict[str, str]]]:
    """moto in process with the stack's resources (the default shard count), counted and in simulated time."""
    from chalicelib.aws import get_cors, get_store
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
        get_store.cache_clear()
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


# ---------------------------------------------------------------------------
# Printing


def _number(value: float, unit: str = "") -> str:
    if unit == "bytes" or unit == "bytes/s":
        for scale, suffix in ((1024**3, " GiB"), (MIB, " MiB"), (1024, " KiB")):
            if abs(value) >= scale:
                return f"{value / scale:,.1f}{suffix}"
        return f"{value:,.0f} B"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.2f}"


def _peak(value: float | None, unit: str) -> str:
    return "-" if value is None else _number(value, unit)


def _summary(per: dict[str, float]) -> str:
    """One line of per-request figures: calls by operation, DynamoDB writes, reads, units."""
    operations = ", ".join(
        f"{name[6:]} {value:.3g}" for name, value in per.items() if name.startswith("calls.") and name.count(".") == 2
    )
    return (
        f"AWS calls {per.get('aws_calls', 0):.2f} ({operations}); DynamoDB writes {per.get('dynamodb.writes', 0):.2f}"
        f" ({per.get('dynamodb.wcu', 0):.2f} WCU + {per.get('dynamodb.index_wcu', 0):.2f} index),"
        f" reads consistent {per.get('dynamodb.reads.consistent', 0):.2f} / eventual"
        f" {per.get('dynamodb.reads.eventual', 0):.2f} ({per.get('dynamodb.rcu', 0):.2f} RCU)"
    )


def report(figures: dict[str, Any]) -> str:
    """The figures as text: routes, integrity, per-POST counts, the limit table and the verdict."""
    config = figures["config"]
    steady = figures["steady_state"]
    lines = [
        f"{config['recordings']:,} recordings x {config['batches_per_recording']} batches "
        f"({config['seconds']} s simulated, a batch every {config['batch_seconds']} s), "
        f"{config['shards']} shard(s) simulated; simulated ingest {figures['simulated_ingest_seconds']:.0f} s; "
        f"wall {figures['wall_seconds']['total']:.0f} s ("
        + ", ".join(f"{name} {value:.0f} s" for name, value in figures["wall_seconds"].items() if name != "total")
        + ")",
        "",
        f"steady state: a recording is a {steady['recording_seconds'] // 60:.0f}-minute session"
        f" (bench.cost.RECORDING_MINUTES), so N / {steady['recording_seconds']} = {steady['starts_per_s']:,.2f}"
        f" recordings start each second at N, while N / {config['batch_seconds']} = {steady['posts_per_s']:,.0f}"
        " batches are posted. What a start drives (the create's writes and first batch, an index entry's first"
        f" write, the screenshot and its reaper call) is scaled to N / {steady['recording_seconds']} starts a"
        f" second, not to the run's N / {config['seconds']}; events POSTs fill the other batches"
        f" (weights {steady['weights']}).",
        "rates are per second in that steady state; scaled linearly in N for what recordings share, flat for a"
        " recording's own; 'peak 1 s' is the run's busiest second, weighted the same way.",
        "",
        "routes:",
    ]
    for route, stats in figures["routes"].items():
        lines.append(
            f"  {route:7} {stats['requests']:>7,} requests  statuses {stats['statuses']}  "
            f"429: {stats['429']:,}  non-2xx: {stats['non_2xx']:,}  mean handler {stats['mean_handler_ms']:.1f} ms"
        )
    ack, read = figures["acknowledged"], figures["readable"]
    writes = figures["writes_per_post"]
    lines += [
        f"  screenshots uploaded (browser to S3): {figures['screenshots']:,}",
        "",
        f"acknowledged {ack['batches']:,} batches ({ack['events']:,} events); readable {read['batches']:,} "
        f"({read['events']:,} events); recordings differing: {read['recordings_differing']}; "
        f"never acknowledged: {figures['never_acknowledged']}",
        "",
        "per request (route, outcome, requests): AWS calls by operation, DynamoDB writes and reads:",
    ]
    for route, outcomes in figures["per_post"].items():
        for outcome_name, per in outcomes.items():
            lines.append(f"  {route} {outcome_name} x{per['requests']:,}: {_summary(per)}")
    consumer, reaper, compaction = figures["consumer"], figures["reaper"], figures["compaction"]
    chunk = figures["per_request"]["consumer_chunk_object"]
    lines += [
        f"  consumer: {consumer['invocations']:,} invocations, {consumer['records']:,} records, "
        f"{consumer['chunk_objects']:,} chunk objects; per object: {_summary(consumer['per_chunk_object'])}"
        + (
            f"; of the index WCU, {chunk.get('index_wcu_once_per_recording', 0):.2f} per recording is its entry's"
            f" first write, {chunk.get('index_wcu', 0):.3f} per object the rest"
            if chunk
            else ""
        ),
        f"  reaper: {reaper['invocations']:,} invocations; per invocation: {_summary(reaper['per_invocation'])}",
        f"  API DynamoDB write requests per POST: {writes['all_posts']:.3f} over creates and events;"
        f" {writes['events_post']:.3f} per events POST ({writes['events_post_recordings_table']:.3f} the seq's item,"
        f" {writes['events_post_rate_leases']:.3f} rate-budget leases)",
    ]
    if compaction["runs"]:
        lines.append(
            f"  compaction: {compaction['outcomes']}; per recording: {_summary(compaction['per_recording_compacted'])}"
        )
    lines.append("")
    header = (
        f"{'limit':46} {'documented':>12} {'at N':>12} {'peak 1 s':>12} {'at 10k':>12} {'at 100k':>12}"
        f" {'% at N':>8} {'% at 10k':>9} {'% at 100k':>10}  judged"
    )
    lines += [header, "-" * len(header)]
    for row in figures["limits"]:
        unit = row["unit"]
        line = (
            f"{row['label'][:46]:46} {_number(row['documented'], unit):>12} {_number(row['at_n'], unit):>12} "
            f"{_peak(row['peak_second_at_n'], unit):>12} {_number(row['at_10000'], unit):>12} "
            f"{_number(row['at_100000'], unit):>12} {row['percent_at_n']:>7.1f}% {row['percent_at_10000']:>8.1f}%"
            f" {row['percent_at_100000']:>9.1f}%  {row['kind']}"
        )
        if row.get("crossed_at_100000"):
            line += f"  <- at 100k: {row['remedy_at_100000']}"
        lines.append(line)
        if row["config"]:
            lines.append(f"{'':6}at the config to set: {row['config']} (at N, 10k, 100k)")
        for label, percents in row["alternatives"].items():
            lines.append(f"{'':6}with {label}: " + " / ".join(f"{p:,.1f}%" for p in percents) + " (at N, 10k, 100k)")
    lines += [
        "",
        "judged: fixed = AWS's own ceiling, counts for the verdict; quota = an account quota, counts at 10k"
        " (at 100k: the quota to raise); config = at the stack config printed beside it, which the deployment"
        " sets, so it never fails the verdict; advisory = printed only.",
        "S3: the verdict uses the per-recording prefix. Every object of a recording sits under its own prefix"
        " (recordings/owner=<o>/recording=<r>/) and S3's limit is per partitioned prefix. The owner prefix is"
        " the sum over all its recordings: advisory, because S3 partitions a busy prefix by the keys below it,"
        " answering 503 SlowDown while it does, and the consumer's PUT is retried by Lambda.",
        "",
        "config to set (each under 50% of its limit):",
    ]
    for count, entry in figures["config_to_set"].items():
        lines.append(
            f"  {int(count):>7,} recordings: kinesisShards: {entry['kinesisShards']} (consumer concurrency"
            f" {entry['consumer_concurrency']}); {entry['api_requests_per_s']:,} API requests/s, so"
            f" throttleRateLimit >= {entry['throttleRateLimit_at_least']:,} (stack default"
            f" {STACK_DEFAULTS.throttle_rate_limit:,.0f}, prod {PROD.throttle_rate_limit:,.0f}) and, with one"
            f" ingest key, keyRequestsPerMinute >= {entry['keyRequestsPerMinute_at_least']:,}"
            f" (default {STACK_DEFAULTS.key_requests_per_minute:,})"
        )
    lines += ["", "where (the key each figure was measured on):"]
    for row in figures["limits"]:
        if row["key"] or row["note"]:
            where = "; ".join(part for part in (row["key"], row["note"]) if part)
            lines.append(f"  {row['label']}: {where}")
    outcome = figures["verdict"]
    lines += [
        "",
        f"verdict: {'PASS' if outcome['pass'] else 'FAIL'}"
        + (f" ({'; '.join(outcome['failures'])})" if outcome["failures"] else "")
        + f"; acknowledged == readable: {figures['acknowledged_equals_readable']}; highest percent at 10k over the"
        f" rows that count: {outcome['highest_percent_at_10k']:.1f}% ({outcome['highest_limit_at_10k']}), under 50%:"
        f" {outcome['under_50_percent_at_10k']}"
        + (
            f"; advisory rows crossed at 10k: {', '.join(outcome['advisory_crossed_at_10k'])}"
            if outcome["advisory_crossed_at_10k"]
            else ""
        ),
    ]
    if outcome["crossed_at_100k"]:
        lines.append(
            "at 100k: "
            + "; ".join(
                f"{entry['limit']} {entry['percent']:.0f}%: {entry['change']}" for entry in outcome["crossed_at_100k"]
            )
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the simulation, print the figures; exit status 1 on FAIL."""
    parser = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__.split("\n\n")[0])
    parser.add_argument("--recordings", type=int, default=DEFAULT_RECORDINGS, help="concurrent recordings (N)")
    parser.add_argument("--seconds", type=int, default=DEFAULT_SECONDS, help="simulated seconds of recording")
    parser.add_argument(
        "--compact",
        action="store_true",
        help="run compaction once every recording is idle (about 100 s more at N=1,000)",
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON as well")
    args = parser.parse_args(argv)
    figures = run(args.recordings, args.seconds, compact=args.compact, seed=args.seed)
    print(report(figures))
    if args.json:
        print(json.dumps(figures, indent=2, default=str))
    return 0 if figures["verdict"]["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
