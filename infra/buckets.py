"""What every private bucket of the stack gets: no public access, encryption, TLS only.

Shared by the Storage and Site components (helpers, not a component: the resources
are children of whichever component owns the bucket).
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_aws as aws


def lock_down(name: str, bucket: aws.s3.Bucket, parent: pulumi.Resource) -> aws.s3.BucketPublicAccessBlock:
    """Block every form of public access and encrypt at rest; returns the block (bucket
    policies must wait for it)."""
    child = pulumi.ResourceOptions(parent=parent)
    block = aws.s3.BucketPublicAccessBlock(
        f"{name}-public-access",
        bucket=bucket.id,
        block_public_acls=True,
        block_public_policy=True,
        ignore_public_acls=True,
        restrict_public_buckets=True,
        opts=child,
    )
    aws.s3.BucketServerSideEncryptionConfiguration(
        f"{name}-encryption",
        bucket=bucket.id,
        rules=[{"apply_server_side_encryption_by_default": {"sse_algorithm": "AES256"}, "bucket_key_enabled": True}],
        opts=child,
    )
    return block


def deny_insecure_transport(bucket_arn: str) -> dict[str, Any]:
    """The bucket policy statement refusing every request that does not use TLS."""
    return {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [bucket_arn, f"{bucket_arn}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }
