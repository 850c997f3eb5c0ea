"""Monthly AWS cost of a stack for 1k, 100k and 10M recorded minutes.

``python -m bench.cost [stack]`` prints the Markdown table README shows. Volumes per
recorded minute come from the benchmark workload (a realistic rrweb stream) and the
recorder's flush interval; the stack's own settings (Pulumi.<stack>.yaml over the
program's defaults) give memory, buffering, shard mode and retention.
"""

from __future__ import annotations

import gzip
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

from bench import workload
from infra.settings import StackSettings

ROOT = Path(__file__).resolve().parent.parent
PRICES_AS_OF = "2025-06 (us-east-1 list prices; not re-checked since, verify at aws.amazon.com/pricing)"
PRICE = {
    "apigw_per_million": 3.50,
    "lambda_per_million": 0.20,
    "lambda_gb_second": 0.0000166667,
    "kinesis_ondemand_stream_hour": 0.04,
    "kinesis_ondemand_gb_in": 0.08,
    "kinesis_ondemand_gb_out": 0.04,
    "kinesis_shard_hour": 0.015,
    "kinesis_put_units_per_million": 0.014,
    "firehose_gb": 0.029,
    "firehose_partitioning_gb": 0.020,
    "firehose_objects_per_thousand": 0.005,
    "firehose_jq_hour": 0.07,
    "s3_gb_month": 0.023,
    "s3_put_per_thousand": 0.005,
    "s3_get_per_thousand": 0.0004,
    "dynamodb_wru_per_million": 0.625,
    "dynamodb_rru_per_million": 0.125,
    "logs_gb": 0.50,
}
FLUSH_SECONDS = 5  # the recorder flushes every 5 s: 12 requests per recorded minute
HANDLER_SECONDS = 0.05  # Lambda time per POST (inflate + validate + PutRecords + UpdateItem)
LOG_BYTES_PER_REQUEST = 400  # access log line plus Lambda's START/END/REPORT lines
HOURS_PER_MONTH = 730
MINUTES = (1_000, 100_000, 10_000_000)


@dataclass(frozen=True)
class PerMinute:
    """What one recorded minute costs in requests and bytes."""

    posts: float
    raw_bytes: float
    stored_bytes: float
    record_bytes: float


def per_minute() -> PerMinute:
    """Volumes per recorded minute, measured on the benchmark workload."""
    posted = workload.recording(pages=5, incremental=2000, batch_events=20)
    events = workload.all_events(posted)
    minutes = (events[-1]["timestamp"] - events[0]["timestamp"]) / 60_000
    raw = sum(len(batch.plain) for batch in posted)
    # Batches regrouped at the 5 s flush the recorder uses, gzip as the browser sends them.
    by_flush: dict[int, list] = {}
    for event in events:
        by_flush.setdefault(int(event["timestamp"] // (FLUSH_SECONDS * 1000)), []).append(event)
    stored = sum(len(gzip.compress(json.dumps({"seq": 0, "events": b}).encode(), 6)) for b in by_flush.values())
    return PerMinute(
        posts=60 / FLUSH_SECONDS,
        raw_bytes=raw / minutes,
        stored_bytes=stored / minutes,
        record_bytes=stored / minutes * 4 / 3 + 200 * 60 / FLUSH_SECONDS,  # base64 plus the JSON header
    )


def stack_settings(stack: str) -> StackSettings:
    """Pulumi.<stack>.yaml over the program's defaults."""
    path = ROOT / f"Pulumi.{stack}.yaml"
    config = yaml.safe_load(path.read_text())["config"] if path.exists() else {}
    values = {key.split(":", 1)[1]: value for key, value in config.items() if key.startswith("rrweb-s3-storage:")}
    defaults = StackSettings(stack=stack)
    return StackSettings(
        stack=stack,
        retention_days=int(values.get("retentionDays", defaults.retention_days)),
        firehose_buffer_seconds=int(values.get("firehoseBufferSeconds", defaults.firehose_buffer_seconds)),
        kinesis_mode=str(values.get("kinesisMode", defaults.kinesis_mode)),
        kinesis_shards=int(values.get("kinesisShards", defaults.kinesis_shards)),
        lambda_memory_mb=int(values.get("lambdaMemoryMb", defaults.lambda_memory_mb)),
    )


def jq_hours(records: float, record_bytes: float) -> float:
    """JQ processing time, assumed billed as time spent parsing: 50 MB/s plus 0.1 ms a record.

    An assumption, stated as such: if AWS billed every hour the stream is active
    instead, this line would be at most 730 h x $0.07 = $51 a month.
    """
    return (record_bytes / 50e6 + records * 0.0001) / 3600


def monthly(minutes: int, settings: StackSettings, volume: PerMinute) -> dict[str, float]:
    """Dollars per month by service for ``minutes`` recorded minutes."""
    gb = 1024**3
    posts = minutes * volume.posts
    record_gb = minutes * volume.record_bytes / gb
    stored_gb = minutes * volume.stored_bytes * 1.02 / gb  # Firehose GZIP over base64 returns about 3/4
    # Firehose bills each record rounded up to 5 KB.
    firehose_gb = posts * math.ceil(volume.record_bytes / volume.posts / 5120) * 5120 / gb
    objects = minutes * 60 / settings.firehose_buffer_seconds  # one object per recording per buffer
    if settings.kinesis_mode == "on-demand":
        kinesis = HOURS_PER_MONTH * PRICE["kinesis_ondemand_stream_hour"] + record_gb * (
            PRICE["kinesis_ondemand_gb_in"] + PRICE["kinesis_ondemand_gb_out"]
        )
    else:
        put_units = posts * math.ceil(volume.record_bytes / volume.posts / 25_600)
        kinesis = (
            settings.kinesis_shards * HOURS_PER_MONTH * PRICE["kinesis_shard_hour"]
            + put_units / 1e6 * PRICE["kinesis_put_units_per_million"]
        )
    # Steady state: S3 holds `retention_days` worth of a month's recordings.
    held_gb = stored_gb * settings.retention_days / 30
    replay_gets = minutes * 60 / settings.firehose_buffer_seconds + minutes / 10  # every minute replayed once
    return {
        "API Gateway": posts / 1e6 * PRICE["apigw_per_million"],
        "Lambda": posts / 1e6 * PRICE["lambda_per_million"]
        + posts * HANDLER_SECONDS * settings.lambda_memory_mb / 1024 * PRICE["lambda_gb_second"],
        "Kinesis": kinesis,
        "Firehose": firehose_gb * (PRICE["firehose_gb"] + PRICE["firehose_partitioning_gb"])
        + objects / 1000 * PRICE["firehose_objects_per_thousand"]
        + jq_hours(posts, record_gb * gb) * PRICE["firehose_jq_hour"],
        "S3": held_gb * PRICE["s3_gb_month"]
        + objects / 1000 * PRICE["s3_put_per_thousand"]
        + replay_gets / 1000 * PRICE["s3_get_per_thousand"],
        "DynamoDB": posts * 3 / 1e6 * PRICE["dynamodb_wru_per_million"]
        + posts / 1e6 * PRICE["dynamodb_rru_per_million"],
        "CloudWatch Logs": posts * LOG_BYTES_PER_REQUEST / gb * PRICE["logs_gb"],
    }


def table(stack: str = "prod") -> str:
    """The README's cost table for a stack."""
    settings = stack_settings(stack)
    volume = per_minute()
    costs = {minutes: monthly(minutes, settings, volume) for minutes in MINUTES}
    header = "| service | " + " | ".join(f"{m:,} min/month" for m in MINUTES) + " |"
    lines = [header, "|---|" + "---:|" * len(MINUTES)]
    for service in costs[MINUTES[0]]:
        lines.append(f"| {service} | " + " | ".join(f"${costs[m][service]:,.2f}" for m in MINUTES) + " |")
    lines.append("| **total** | " + " | ".join(f"**${sum(costs[m].values()):,.2f}**" for m in MINUTES) + " |")
    lines.append("| per recorded minute | " + " | ".join(f"${sum(costs[m].values()) / m:.5f}" for m in MINUTES) + " |")
    assumptions = (
        f"Stack `{stack}`: Kinesis {settings.kinesis_mode}, Firehose buffer {settings.firehose_buffer_seconds} s, "
        f"Lambda {settings.lambda_memory_mb} MB, retention {settings.retention_days} days. Per recorded minute: "
        f"{volume.posts:.0f} POSTs, {volume.raw_bytes / 1024:.0f} KiB of rrweb JSON, "
        f"{volume.stored_bytes / 1024:.0f} KiB stored. Firehose JQ time is modelled as parsing time "
        f"(50 MB/s + 0.1 ms a record). Prices: {PRICES_AS_OF}."
    )
    return "\n".join(lines) + "\n\n" + assumptions


if __name__ == "__main__":
    print(table(sys.argv[1] if len(sys.argv) > 1 else "prod"))
