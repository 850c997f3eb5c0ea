"""The AWS limits the stack must respect, how each row is judged, and what to change when one is crossed."""

from __future__ import annotations

from dataclasses import dataclass

from bench.scale.settings import MIB


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
        "Kinesis bytes out per shard (2 consumers + Firehose)",
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
    # The recorder's batches reach the ingest function through its function URL (no API
    # Gateway): Lambda takes synchronous invocations up to ten times the account's
    # concurrency a second.
    "ingest_requests": Limit(
        "Lambda invocation requests (account, region)",
        10_000,
        "requests/s",
        "https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html"
        " (invocation requests per Region: 10 x the concurrent executions quota, 1,000 by default)",
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
QUOTAS = frozenset({"ingest_requests", "lambda_concurrency", "kinesis_account_shards"})

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
    "ingest_requests": "raise quota: Lambda concurrent executions (Service Quotas; requests per second follow at 10x),"
    " then ingestConcurrency",
    "lambda_concurrency": "raise quota: Lambda concurrent executions (Service Quotas)",
    "kinesis_account_shards": "raise quota: Kinesis shards per Region (Service Quotas)",
}
