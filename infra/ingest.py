"""Ingest: the Kinesis stream the API writes, and the Firehose stream that delivers it to S3."""

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
    """Encrypted Kinesis stream and a delivery stream partitioned by owner and recording."""

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
                "prefix": layout.EVENTS_PREFIX_TEMPLATE,
                "error_output_prefix": layout.ERROR_PREFIX_TEMPLATE,
                # Records carry already-compressed payloads as base64, which GZIP
                # still shrinks by about a quarter; the reader inflates objects.
                "compression_format": "GZIP",
                "buffering_interval": settings.firehose_buffer_seconds,
                "buffering_size": settings.firehose_buffer_mb,
                "dynamic_partitioning_configuration": {"enabled": True},
                "processing_configuration": {"enabled": True, "processors": firehose_processors()},
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


def firehose_processors() -> list[dict]:
    """``chalicelib.layout.FIREHOSE_PROCESSORS`` in pulumi-aws's argument shape."""
    return [
        {
            "type": processor["Type"],
            "parameters": [
                {"parameter_name": p["ParameterName"], "parameter_value": p["ParameterValue"]}
                for p in processor["Parameters"]
            ],
        }
        for processor in layout.FIREHOSE_PROCESSORS
    ]


def delivery_policy(*, stream_arn: str, bucket_arn: str, log_group_arn: str, log_stream: str) -> str:
    """What Firehose needs: read the stream, write the two prefixes, log delivery errors."""
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
                [f"{bucket_arn}/{layout.RECORDINGS_ROOT}*", f"{bucket_arn}/{layout.ERRORS_PREFIX}*"],
            ),
            policies.statement(["logs:PutLogEvents"], [f"{group}:log-stream:{log_stream}"]),
        ]
    )
