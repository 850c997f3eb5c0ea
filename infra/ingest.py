"""Ingest: the Kinesis stream the API writes, and the Firehose stream that archives it raw.

The replay path does not go through Firehose: the stream consumer (``consume_events``,
wired in ``infra/api.py``) writes each recording's objects within seconds. Firehose
keeps the raw stream under ``archive/`` by arrival hour, for re-drive, rebuild and
analytics, without dynamic partitioning (which buffers >= 60 s and caps active
partitions at 500 per stream).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from chalicelib import layout
from infra import policies
from infra.settings import StackSettings


@dataclass
class IngestArgs:
    """Inputs of the Ingest component."""

    settings: StackSettings
    bucket_arn: pulumi.Input[str]
    account_id: pulumi.Input[str]


class Ingest(pulumi.ComponentResource):
    """Encrypted Kinesis stream and the raw archive's delivery stream (time-prefixed, GZIP)."""

    stream: aws.kinesis.Stream
    delivery: aws.kinesis.FirehoseDeliveryStream

    def __init__(self, name: str, args: IngestArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("rrweb:index:Ingest", name, None, opts)
        settings = args.settings
        child = pulumi.ResourceOptions(parent=self)
        on_demand = settings.kinesis_mode == "on-demand"

        self.stream = aws.kinesis.Stream(
            f"{name}-events",
            name=f"{settings.prefix}-events",
            stream_mode_details={"stream_mode": "ON_DEMAND" if on_demand else "PROVISIONED"},
            shard_count=None if on_demand else settings.kinesis_shards,
            retention_period=settings.kinesis_retention_hours,
            encryption_type="KMS",
            kms_key_id="alias/aws/kinesis",
            tags={"rrweb:stack": settings.stack},
            opts=child,
        )

        logs = aws.cloudwatch.LogGroup(
            f"{name}-delivery-logs",
            name=f"/aws/kinesisfirehose/{settings.prefix}-delivery",
            retention_in_days=settings.log_retention_days,
            opts=child,
        )
        log_stream = aws.cloudwatch.LogStream(
            f"{name}-delivery-log-stream", log_group_name=logs.name, name="S3Delivery", opts=child
        )
        role = aws.iam.Role(
            f"{name}-delivery-role",
            assume_role_policy=policies.assume_role("firehose.amazonaws.com", source_account=args.account_id),
            opts=child,
        )
        role_policy = aws.iam.RolePolicy(
            f"{name}-delivery-policy",
            role=role.id,
            policy=pulumi.Output.all(self.stream.arn, args.bucket_arn, logs.arn, log_stream.name).apply(
                lambda a: delivery_policy(stream_arn=a[0], bucket_arn=a[1], log_group_arn=a[2], log_stream=a[3])
            ),
            opts=child,
        )
        self.delivery = aws.kinesis.FirehoseDeliveryStream(
            f"{name}-delivery",
            name=f"{settings.prefix}-delivery",
            destination="extended_s3",
            kinesis_source_configuration={"kinesis_stream_arn": self.stream.arn, "role_arn": role.arn},
            extended_s3_configuration={
                "role_arn": role.arn,
                "bucket_arn": args.bucket_arn,
                # Ingest records end with a newline, so objects are JSON lines as
                # delivered: no processing configuration, no delimiter to append.
                "prefix": layout.ARCHIVE_PREFIX_TEMPLATE,
                "error_output_prefix": layout.ERROR_PREFIX_TEMPLATE,
                # Records carry already-compressed payloads as base64, which GZIP
                # still shrinks by about a quarter.
                "compression_format": "GZIP",
                "buffering_interval": settings.archive_buffer_seconds,
                "buffering_size": settings.archive_buffer_mb,
                "cloudwatch_logging_options": {
                    "enabled": True,
                    "log_group_name": logs.name,
                    "log_stream_name": log_stream.name,
                },
            },
            tags={"rrweb:stack": settings.stack},
            # Firehose checks its role's access when the stream is created.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[role_policy]),
        )
        self.register_outputs({"stream": self.stream.name, "delivery": self.delivery.name})


def delivery_policy(*, stream_arn: str, bucket_arn: str, log_group_arn: str, log_stream: str) -> str:
    """What Firehose needs: read the stream, write the archive and error prefixes, log delivery errors.

    Nothing under ``recordings/``: the archive never touches a recording's objects.
    """
    group = log_group_arn.removesuffix(":*")
    return policies.document(
        [
            policies.statement(
                ["kinesis:DescribeStream", "kinesis:GetShardIterator", "kinesis:GetRecords", "kinesis:ListShards"],
                [stream_arn],
            ),
            policies.statement(
                ["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"], [bucket_arn]
            ),
            policies.statement(
                ["s3:AbortMultipartUpload", "s3:GetObject", "s3:PutObject"],
                [f"{bucket_arn}/{layout.ARCHIVE_PREFIX}*", f"{bucket_arn}/{layout.ERRORS_PREFIX}*"],
            ),
            policies.statement(["logs:PutLogEvents"], [f"{group}:log-stream:{log_stream}"]),
        ]
    )
