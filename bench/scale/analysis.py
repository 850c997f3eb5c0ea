"""Rates, steady-state scaling and the limit table: the figures of a finished run."""

from __future__ import annotations

import dataclasses
import math
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import local  # noqa: F401  (puts api/ on the import path)
from bench import cost
from bench.scale.capacity import index_entry_size
from bench.scale.limits import ADVISORY, KINESIS_ACCOUNT_SHARDS_ELSEWHERE, LIMITS, QUOTAS, REMEDIES
from bench.scale.meter import INGEST_PHASES, RATES, S3_WRITES, Meter, Track
from bench.scale.settings import (
    BATCH_SECONDS,
    HEADROOM,
    NAMES,
    PROD,
    SCALES,
    SECONDS_PER_MONTH,
    STACK_DEFAULTS,
    START_SECONDS,
    STREAM_READERS,
)
from bench.scale.simulation import RouteStats, Simulation
from chalicelib import settings as api_settings
from local.resources import Names


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
        # Prod starts at the default's one shard and is raised with traffic: one row for both.
        fixed = tuple(
            dict.fromkeys(
                (
                    (f"stack default ({STACK_DEFAULTS.kinesis_shards} shard)", STACK_DEFAULTS.kinesis_shards),
                    (
                        f"prod ({PROD.kinesis_shards} shard{'s' if PROD.kinesis_shards > 1 else ''})"
                        if PROD.kinesis_shards != STACK_DEFAULTS.kinesis_shards
                        else f"stack default ({STACK_DEFAULTS.kinesis_shards} shard)",
                        PROD.kinesis_shards,
                    ),
                )
            )
        )
        return Measure(
            at_n=at_scales[0] / shards[str(n)],
            scaled=tuple(value / shards[str(count)] for value, count in zip(at_scales[1:], SCALES, strict=True)),
            peak_at_n=peak * readers / shards[str(n)],
            key="stream / kinesisShards",
            note=("readers: the two consumers + Firehose; " if readers > 1 else "") + "judged at " + configured,
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
    api_rate, api_peak = total("ingest_requests")
    measures["ingest_requests"] = Measure(
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
    # The ingest function's POST at prod's memory (its slowest, on the least CPU).
    aws_api_s, aws_reaper_s = cost.post_seconds(PROD), cost.REAPER_SECONDS

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
            f"{parallel} + reaper {aws_reaper_s * 1000:.0f} ms x screenshots/s; with moto's in-process times (API "
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
            # Under half of each: the ingest door's reserved concurrency (requests/s x the
            # AWS handler time) and the one key's budget per minute.
            "ingestConcurrency_at_least": math.ceil(api_rate * f * aws_api_s / HEADROOM),
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
            index_entry_size(info, index, shadow)
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
