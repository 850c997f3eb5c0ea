"""Storage: the stack's recordings bucket (private, encrypted, TLS-only, lifecycle)."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from chalicelib import layout
from infra.buckets import deny_insecure_transport, lock_down
from infra.settings import StackSettings

# Live chunks are tagged by their writer so one lifecycle rule can expire them,
# whatever owner and recording prefix they sit under.
LIVE_TAG = {"key": "rrweb-kind", "value": "live"}


@dataclass
class StorageArgs:
    """Inputs of the Storage component."""

    settings: StackSettings


class Storage(pulumi.ComponentResource):
    """The bucket holding events, screenshots and Firehose error output."""

    bucket: aws.s3.Bucket

    def __init__(self, name: str, args: StorageArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("rrweb:index:Storage", name, None, opts)
        settings = args.settings
        child = pulumi.ResourceOptions(parent=self)

        self.bucket = aws.s3.Bucket(
            f"{name}-bucket",
            # Dev and PR stacks tear down completely, objects included; prod keeps its data.
            force_destroy=not settings.protect_data,
            tags={"rrweb:stack": settings.stack},
            opts=settings.data_options(self),
        )
        aws.s3.BucketOwnershipControls(
            f"{name}-ownership", bucket=self.bucket.id, rule={"object_ownership": "BucketOwnerEnforced"}, opts=child
        )
        public_access = lock_down(name, self.bucket, self)
        if settings.versioning:
            aws.s3.BucketVersioning(
                f"{name}-versioning", bucket=self.bucket.id, versioning_configuration={"status": "Enabled"}, opts=child
            )
        rules: list[dict] = [
            {
                "id": "expire-live-chunks",
                "status": "Enabled",
                "filter": {"tag": LIVE_TAG},
                "expiration": {"days": settings.live_chunk_expiry_days},
            },
            {
                "id": "expire-recordings",
                "status": "Enabled",
                "filter": {"prefix": layout.RECORDINGS_ROOT},
                "expiration": {"days": settings.retention_days},
            },
            {
                "id": "expire-delivery-errors",
                "status": "Enabled",
                "filter": {"prefix": layout.ERRORS_PREFIX},
                "expiration": {"days": settings.retention_days},
            },
            {
                "id": "abort-incomplete-uploads",
                "status": "Enabled",
                "filter": {"prefix": ""},
                "abort_incomplete_multipart_upload": {"days_after_initiation": 1},
            },
        ]
        if settings.versioning:
            rules.append(
                {
                    "id": "expire-old-versions",
                    "status": "Enabled",
                    "filter": {"prefix": ""},
                    "noncurrent_version_expiration": {"noncurrent_days": 30},
                }
            )
        aws.s3.BucketLifecycleConfiguration(f"{name}-lifecycle", bucket=self.bucket.id, rules=rules, opts=child)
        # Screenshots are uploaded by the recording page itself (any origin) with a
        # presigned POST, so the browser needs CORS for POST only.
        aws.s3.BucketCorsConfiguration(
            f"{name}-cors",
            bucket=self.bucket.id,
            cors_rules=[
                {
                    "allowed_methods": ["POST"],
                    "allowed_origins": ["*"],
                    "allowed_headers": ["*"],
                    "max_age_seconds": 3600,
                }
            ],
            opts=child,
        )
        aws.s3.BucketPolicy(
            f"{name}-policy",
            bucket=self.bucket.id,
            policy=self.bucket.arn.apply(tls_only_policy),
            # The account's public-access block must exist before any bucket policy.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[public_access]),
        )
        self.register_outputs({"bucket": self.bucket.id, "bucket_arn": self.bucket.arn})


def tls_only_policy(bucket_arn: str) -> str:
    """Deny every request to the bucket or its objects that does not use TLS."""
    return json.dumps({"Version": "2012-10-17", "Statement": [deny_insecure_transport(bucket_arn)]})
