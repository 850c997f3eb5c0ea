"""Counting every request: botocore handlers that classify each AWS call by phase, service and key."""

from __future__ import annotations

import hashlib
import re
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import botocore.handlers

from bench.scale.capacity import (
    Shadow,
    TableInfo,
    apply_update,
    assign,
    index_entry_size,
    item_size,
    plain,
    read_units,
    write_units,
)
from bench.scale.clock import VirtualClock


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
    "ingest_requests",  # ("account",): the recorder's requests to the ingest function's URL
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
        # Amounts are units and bytes as well as counts: floats in a Counter, which typeshed types as int.
        self.tally[self.phase][metric] += amount  # type: ignore[assignment]
        if self.request is not None:
            self.request[metric] += amount  # type: ignore[assignment]

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
                    assign(after, name, value, watched)
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
                assert before is not None  # was_in says so
                writes.append((before, before.values.get(index.hash_key, partition)))
            if is_in:
                assert after is not None  # is_in says so
                writes.append((after, after.values.get(index.hash_key, partition)))
            # An entry's first write happens once per recording (created, or first counted).
            klass = "start" if not was_in else None
            for shadow, hash_value in writes:
                entry = index_entry_size(info, index, shadow)
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
